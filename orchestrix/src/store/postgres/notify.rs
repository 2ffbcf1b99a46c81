//! Waking followers of the global stream: LISTEN/NOTIFY.
//!
//! Appends announce themselves with `pg_notify(channel, last position)`;
//! one listener connection per store hears them and keeps the highest
//! position heard in a [`watch`] channel that every waiter of
//! [`wait_for_append`](super::PostgreSQLEventStore::wait_for_append) shares.
//!
//! The notification is sent after the append commits, by a background task
//! of the appending store, in its own transaction, and not by the append's
//! statement: a transaction that notifies holds a database-wide lock from
//! its commit until its commit record is flushed (PostgreSQL serializes
//! notifying commits so that notifications arrive in commit order), so
//! notifying inside appends serializes every append's commit flush
//! (measured with pgbench, 8 clients: ~1,700 appends/s without, ~300 with).
//! The task sends at most one notification at a time, carrying the highest
//! position appended since its last one, with `synchronous_commit` off for
//! that transaction only, so it never waits for a flush. After a
//! notification it lets [`NOTIFY_INTERVAL`] pass before the next one: the
//! first append after a quiet spell is announced at once, and under a
//! steady stream of appends one notification covers every append of its
//! interval (each notification is a transaction of the server's: one per
//! append added about a third to the server's CPU time per single append,
//! measured from its backends' CPU times).
//!
//! A lost notification (the appending process stops between commit and
//! notification, the listener's connection drops) costs a follower at most
//! its `max_wait`: it then reads again. When the listener connects (again),
//! every waiter wakes, since notifications may have been missed meanwhile.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, SqlStr};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::postgres::SqlIdentifier;

/// The least time between two notifications of one store: a follower
/// hears of an append at most this much (plus the timer's resolution,
/// about a millisecond) later than it would with one notification per
/// append.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(1);

/// What the listener has heard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Heard {
    /// The highest position notified since the store was created.
    position: u64,
    /// How many times the listener has (re)connected and is listening.
    connections: u64,
}

/// The notifier and the listener of one store (shared by its clones).
#[derive(Debug)]
pub(super) struct Notifications {
    pool: PgPool,
    channel: Arc<str>,
    notify: SqlStr,
    /// The highest position this store appended, for the notifier task.
    appended: watch::Sender<u64>,
    notifier: Mutex<Option<JoinHandle<()>>>,
    heard: Arc<watch::Sender<Heard>>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Notifications {
    pub(super) fn new(pool: PgPool, schema: &SqlIdentifier, notify: SqlStr) -> Self {
        Self {
            pool,
            channel: channel_name(schema).into(),
            notify,
            appended: watch::Sender::new(0),
            notifier: Mutex::new(None),
            heard: Arc::new(watch::Sender::new(Heard::default())),
            listener: Mutex::new(None),
        }
    }

    /// The channel appends are announced on.
    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    /// Records that an append committed up to `position`; the notifier task
    /// announces it (started here if it is not running).
    pub(super) fn appended(&self, position: u64) {
        ensure_running(&self.notifier, || {
            // A fresh task announces the last position even if it was
            // recorded before the task started.
            let mut appended = self.appended.subscribe();
            appended.mark_changed();
            notifier(
                self.pool.clone(),
                Arc::clone(&self.channel),
                self.notify.clone(),
                appended,
            )
        });
        self.appended.send_if_modified(|last| {
            let newer = position > *last;
            if newer {
                *last = position;
            }
            newer
        });
    }

    /// Returns when a position after `after` may have been appended, or
    /// after `max_wait`.
    pub(super) async fn wait(&self, after: u64, max_wait: Duration) {
        ensure_running(&self.listener, || {
            listener(
                self.pool.clone(),
                Arc::clone(&self.channel),
                Arc::clone(&self.heard),
            )
        });
        let mut heard = self.heard.subscribe();
        let start = *heard.borrow_and_update();
        let deadline = tokio::time::Instant::now() + max_wait;
        // A waiter that arrives before the listener listens may have missed
        // notifications: it returns as soon as the listener listens.
        let woken = move |now: &Heard| {
            now.position > after || now.connections != start.connections || start.connections == 0
        };
        if start.connections > 0 && start.position > after {
            return;
        }
        let _ = tokio::time::timeout_at(
            deadline,
            heard.wait_for(|now| now.connections > 0 && woken(now)),
        )
        .await;
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        for task in [&self.notifier, &self.listener] {
            if let Some(task) = task.lock().unwrap_or_else(PoisonError::into_inner).take() {
                task.abort();
            }
        }
    }
}

/// Starts `task` on the current Tokio runtime unless it is running (a task
/// ends with the runtime that ran it; a store may outlive one).
fn ensure_running<F>(slot: &Mutex<Option<JoinHandle<()>>>, task: impl FnOnce() -> F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.as_ref().is_some_and(|running| !running.is_finished()) {
        return;
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        *slot = Some(runtime.spawn(task()));
    }
}

/// `orchestrix.<schema>` (hashed when longer than a PostgreSQL name).
fn channel_name(schema: &SqlIdentifier) -> String {
    let name = format!("orchestrix.{schema}");
    if name.len() <= 63 {
        return name;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in schema.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("orchestrix.{hash:016x}")
}

/// Announces the highest appended position, one notification at a time, on
/// a connection of its own (opened when first needed, again after a
/// failure): borrowing one of the pool's would make appends wait for it.
async fn notifier(
    pool: PgPool,
    channel: Arc<str>,
    notify: SqlStr,
    mut appended: watch::Receiver<u64>,
) {
    let mut connection: Option<PgConnection> = None;
    while appended.changed().await.is_ok() {
        let position = *appended.borrow_and_update();
        let sent_at = tokio::time::Instant::now();
        let sent = async {
            let open = match &mut connection {
                Some(open) => open,
                None => {
                    connection.insert(PgConnection::connect_with(&pool.connect_options()).await?)
                }
            };
            sqlx::query(notify.clone())
                .bind(&*channel)
                .bind(position.to_string())
                .execute(open)
                .await
        }
        .await;
        if let Err(error) = sent {
            connection = None;
            tracing::debug!(%error, position, "could not notify followers; they poll");
        }
        // Appends meanwhile are announced together, by the next one.
        tokio::time::sleep_until(sent_at + NOTIFY_INTERVAL).await;
    }
}

/// Listens on `channel`, reconnecting whenever the connection drops.
async fn listener(pool: PgPool, channel: Arc<str>, heard: Arc<watch::Sender<Heard>>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match listen(&pool, &channel, &heard).await {
            Ok(()) => backoff = Duration::from_millis(50),
            Err(error) => {
                tracing::debug!(%error, channel = %channel, "listener connection lost; reconnecting");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// One listening connection, until it fails.
async fn listen(
    pool: &PgPool,
    channel: &str,
    heard: &watch::Sender<Heard>,
) -> Result<(), sqlx::Error> {
    // Its own connection, outside the store's pool (it is held for as long
    // as the store lives).
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_with((*pool.connect_options()).clone())
        .await?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener.listen(channel).await?;
    heard.send_modify(|heard| heard.connections += 1);
    loop {
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        if let Ok(position) = notification.payload().parse::<u64>() {
            heard.send_if_modified(|heard| {
                let newer = position > heard.position;
                if newer {
                    heard.position = position;
                }
                newer
            });
        }
    }
}
