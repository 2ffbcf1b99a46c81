//! Getting rid of connections the server has closed.

use sqlx::PgPool;

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
