//! Is the server there: a ping, and getting rid of connections the server
//! has closed.

use sqlx::PgPool;

use super::{ConnectGate, PostgresError, describe_target, is_connection_error};

/// Pings every idle connection of `pool` and closes those that no longer
/// answer, so that the calls after a lost connection (a server restart, an
/// administrator terminating backends) get fresh connections instead of
/// failing one by one on each stale one.
///
/// The stores call this after a call failed with a connection error; it
/// costs nothing on the normal path.
pub async fn evict_broken_connections(pool: &PgPool) {
    let mut healthy = Vec::new();
    for _ in 0..pool.num_idle() {
        let Some(mut connection) = pool.try_acquire() else {
            break;
        };
        if sqlx::Connection::ping(&mut *connection).await.is_err() {
            connection.close_on_drop();
        } else {
            healthy.push(connection);
        }
    }
    drop(healthy);
}

/// Checks that `pool`'s server answers: `Ok`, or
/// [`PostgresError::Unavailable`] within `gate`'s connect timeout when it
/// refuses connections (see [`ConnectGate`]). What the stores' `ping` does.
pub async fn ping(pool: &PgPool, gate: &ConnectGate) -> Result<(), PostgresError> {
    gate.check(pool).await?;
    let target = describe_target(&pool.connect_options());
    match sqlx::query("SELECT 1").execute(pool).await {
        Ok(_) => Ok(()),
        Err(error) => {
            if is_connection_error(&error) {
                gate.connection_lost();
                evict_broken_connections(pool).await;
            }
            Err(PostgresError::from_sqlx(error, &target, "answer a ping"))
        }
    }
}
