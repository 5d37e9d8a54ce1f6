//! Waybill's store on PostgreSQL: the same event log and projections as the embedded
//! store, written by any number of processes at once (API nodes and workers).
//!
//! Each submission is one transaction: [`rows`] reads and locks every row its events
//! can reach, the engine (`waybill_core::engine`) runs over them in memory
//! ([`world`]), and [`rows`] writes what it changed — all async. A transaction that lost a race (a deadlock, or a row another writer inserted
//! first) is run again from the start and then sees the winner's rows. Commits wait
//! for the WAL flush (`synchronous_commit = on`): an acknowledged event survives the
//! database's crash as well as ours.
//!
//! - [`schema`]: versioned migrations.
//! - `rows`: a batch's rows, loaded with locks and saved.
//! - `world`: the engine's world over those rows.
//! - `write`: one submission's transaction; `entries`: the log entries it remembers;
//!   `group`: concurrent submissions merged into one transaction.
//! - `read`, `outbox`, `hooks`, `quarantine`: queries and the smaller writes.

mod dashboard;
mod entries;
mod group;
mod hooks;
mod outbox;
mod quarantine;
mod read;
mod rows;
pub mod schema;
mod sign_outs;
mod world;
mod write;

use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::watch;
use waybill_core::Timestamp;

use crate::StoreError;
use crate::model::hooks::{Delivery, Subscription};
use crate::model::outbox::OutboxRecord;
use crate::model::quarantine::Quarantined;
use crate::model::records::{EventRecord, ListFilter, OrderPage, OrderRecord};
use crate::model::submission::{ItemOutcome, Submission};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// A libpq URL: `postgres://user@host:5432/db`.
    pub url: String,
    /// Keep the tables in this schema (created if missing) instead of the default one.
    pub schema: Option<String>,
    /// Connections this process may hold.
    pub pool_size: usize,
    /// Write domain events to the outbox (off only for a bulk load of history).
    pub announce: bool,
    /// How often to look for outbox positions other processes reached (when no fan-out
    /// tells, or it missed one).
    pub poll_interval: Duration,
    /// Log entries to remember between batches (see `pg::entries`): a batch then
    /// reads only the events it has not seen.
    pub log_cache: usize,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            pool_size: 16,
            announce: true,
            poll_interval: Duration::from_millis(500),
            log_cache: entries::DEFAULT_CAPACITY,
        }
    }
}

/// The store on PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    announce: bool,
    /// The highest outbox position this process knows to be readable.
    announced: watch::Sender<i64>,
    listener: std::sync::OnceLock<Arc<dyn Listener>>,
    entries: entries::Entries,
    group: group::Group,
    /// Transactions this process committed.
    committed: std::sync::atomic::AtomicU64,
}

/// A future a [`Listener`] returns.
pub type Told<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Hears what this process's writes did, for what lives outside the database: a cache
/// to invalidate, other processes to wake.
pub trait Listener: Send + Sync + 'static {
    /// These orders changed: called after the commit and before the writer is answered,
    /// so that a read after the answer never finds an older copy.
    fn changed<'a>(&'a self, orders: &'a [String]) -> Told<'a>;
    /// This process committed outbox rows up to `position`.
    fn sequenced(&self, position: i64) -> Told<'_>;
}

/// Transient failures (a lost race) are retried this many times before the caller hears.
const ATTEMPTS: u32 = 20;

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl PgStore {
    /// Connects, migrates, and starts the outbox poller.
    pub async fn connect(options: &PgOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = options.url.parse()?;
        // Acknowledged means on the database's disk, whatever the server's default.
        let mut settings = config.get_options().unwrap_or_default().to_owned();
        settings.push_str(" -c synchronous_commit=on -c client_min_messages=warning");
        if let Some(schema) = &options.schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(unavailable(format!(
                    "schema name {schema:?}: letters, digits, _"
                )));
            }
            settings.push_str(&format!(" -c search_path={schema}"));
        }
        config.options(&settings);
        // A database gone quiet (a partition) is noticed in about a minute, not hours:
        // a lease's connection must not outlive its holder's reach.
        config.keepalives_idle(Duration::from_secs(30));
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .build()
            .map_err(unavailable)?;
        let mut client = pool.get().await.map_err(unavailable)?;
        if let Some(schema) = &options.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await?;
        }
        schema::migrate(&mut client).await?;
        let last = outbox::last_position(&client).await?;
        drop(client);
        let inner = Arc::new(Inner {
            pool,
            announce: options.announce,
            announced: watch::Sender::new(last),
            listener: std::sync::OnceLock::new(),
            entries: entries::Entries::new(options.log_cache),
            group: group::Group::default(),
            committed: std::sync::atomic::AtomicU64::new(0),
        });
        tokio::spawn(poll(Arc::downgrade(&inner), options.poll_interval));
        Ok(Self { inner })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.inner.pool.get().await.map_err(unavailable)
    }

    /// Applies a submission in one transaction and answers once it is committed. Runs as
    /// a task of its own: a caller that stops waiting (a client gone) cannot cut off what
    /// follows a commit (invalidating caches, telling followers of the outbox).
    /// Events submitted while another transaction of this process runs are merged
    /// into the next one (see `pg::group`).
    pub async fn submit(&self, s: Submission) -> Result<Vec<ItemOutcome>, StoreError> {
        let s = match s {
            Submission::Events(events) if events.len() < group::MERGE_LIMIT => {
                let (answer, rx) = tokio::sync::oneshot::channel();
                if self.inner.group.join(group::Waiter { events, answer }) {
                    let this = self.clone();
                    tokio::spawn(async move { this.lead().await });
                }
                return rx.await.map_err(|_| {
                    StoreError::TaskFailed("the group commit ended without an answer".into())
                })?;
            }
            other => other,
        };
        let this = self.clone();
        tokio::spawn(async move { this.submit_here(&s).await })
            .await
            .map_err(|e| StoreError::TaskFailed(format!("the submission task failed: {e}")))?
    }

    /// Transactions this process has committed (a merged one counts once).
    pub fn transactions(&self) -> u64 {
        self.inner
            .committed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Commits what waits in the group, one merged transaction after another, until
    /// nothing does. A merged transaction that fails for good is run again one
    /// submission at a time, so that each caller hears only of its own failure.
    async fn lead(&self) {
        struct Leading<'a>(&'a group::Group, bool);
        impl Drop for Leading<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.abandon();
                }
            }
        }
        let mut leading = Leading(&self.inner.group, false);
        while let Some(waiters) = self.inner.group.next() {
            let (events, shares) = group::merge(waiters);
            let merged = Submission::Events(events);
            match self.submit_here(&merged).await {
                Ok(mut outcomes) => {
                    for (n, answer) in shares {
                        let rest = outcomes.split_off(n);
                        let _ = answer.send(Ok(std::mem::replace(&mut outcomes, rest)));
                    }
                }
                Err(e) if shares.len() == 1 => {
                    let _ = shares.into_iter().next().map(|(_, a)| a.send(Err(e)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a merged batch failed; committing its parts alone");
                    let Submission::Events(mut events) = merged else {
                        unreachable!("merged from events")
                    };
                    for (n, answer) in shares {
                        let rest = events.split_off(n);
                        let alone = Submission::Events(std::mem::replace(&mut events, rest));
                        let _ = answer.send(self.submit_here(&alone).await);
                    }
                }
            }
        }
        leading.1 = true;
    }

    async fn submit_here(&self, s: &Submission) -> Result<Vec<ItemOutcome>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = self.client().await?;
            let result =
                write::commit(&mut client, s, self.inner.announce, &self.inner.entries).await;
            match result {
                Ok(written) => {
                    self.inner
                        .committed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(l) = self.inner.listener.get()
                        && !written.touched.is_empty()
                    {
                        l.changed(&written.touched).await;
                    }
                    if let Some(position) = written.position {
                        self.note_position(position);
                        if let Some(l) = self.inner.listener.get() {
                            l.sequenced(position).await;
                        }
                    }
                    return Ok(written.outcomes);
                }
                Err(e) if e.is_conflict() && attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "lost a race; running the batch again");
                    // Spread the retries of writers that collided.
                    let jitter = u64::from(attempt) * 2 + u64::from(rand_u8() % 8);
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                Err(e) => {
                    // Lost on the way (a connection cut at COMMIT) it may have
                    // committed all the same, and the caller's retry will find only
                    // duplicates and touch nothing: invalidate what it names now.
                    if e.is_transient()
                        && let Some(l) = self.inner.listener.get()
                    {
                        l.changed(&named_orders(s)).await;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Rebuilds every projection from the event log (`waybill replay`); writers wait.
    /// Taking the tables can deadlock with a writer that holds one of them: then the
    /// writer goes on and the replay starts again.
    pub async fn replay(&self) -> Result<u64, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = self.client().await?;
            let done = write::replay(&mut client).await;
            match done {
                Err(e) if e.is_conflict() && attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// Sets who hears about this process's writes (once; later calls are ignored).
    pub fn listen(&self, listener: Arc<dyn Listener>) {
        let _ = self.inner.listener.set(listener);
    }

    /// Takes the lease named `name` if nobody holds it: one process at a time does the
    /// work it guards (the relay). The lease lives while its connection does: a process
    /// that dies, or loses the database, frees it.
    pub async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let client = self.client().await?;
        let held: bool = client
            .query_one(
                &format!("SELECT pg_try_advisory_lock({})", lock_key("$1")),
                &[&name],
            )
            .await?
            .get(0);
        // A connection holding the lock never goes back to the pool: it leaves it, and
        // closing it is what frees the lease.
        Ok(held.then(|| Lease {
            client: deadpool_postgres::Object::take(client),
        }))
    }

    /// How far the relay `name` has published (0 at first).
    pub async fn relay_cursor(&self, name: &str) -> Result<i64, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT position FROM relay_cursors WHERE name = $1",
                &[&name],
            )
            .await?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    /// Records that the relay `name` has published through `position`.
    pub async fn set_relay_cursor(&self, name: &str, position: i64) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO relay_cursors (name, position) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET position = greatest(relay_cursors.position, $2)",
                &[&name, &position],
            )
            .await?;
        Ok(())
    }

    /// Another process reached `position` (told by the fan-out): readers may go there.
    pub fn note_position(&self, position: i64) {
        self.inner.announced.send_if_modified(|cur| {
            let moved = position > *cur;
            *cur = (*cur).max(position);
            moved
        });
    }

    /// Follows the highest readable outbox position.
    pub fn announced(&self) -> watch::Receiver<i64> {
        self.inner.announced.subscribe()
    }

    pub async fn order(&self, order_id: &str) -> Result<Option<OrderRecord>, StoreError> {
        read::order(&mut self.client().await?, order_id).await
    }

    pub async fn timeline(&self, order_id: &str) -> Result<Option<Vec<EventRecord>>, StoreError> {
        read::timeline(&mut self.client().await?, order_id).await
    }

    pub async fn list_orders(&self, filter: &ListFilter) -> Result<OrderPage, StoreError> {
        read::list_orders(&mut self.client().await?, filter).await
    }

    pub async fn outbox_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        outbox::after(&self.client().await?, after, limit).await
    }

    pub async fn outbox_for_order(
        &self,
        order_id: &str,
        after: i64,
        through: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        outbox::for_order(&self.client().await?, order_id, after, through, limit).await
    }

    pub async fn outbox_record(&self, id: i64) -> Result<Option<OutboxRecord>, StoreError> {
        outbox::get(&self.client().await?, id).await
    }

    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        hooks::subscriptions(&self.client().await?).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        hooks::subscription(&self.client().await?, id).await
    }

    pub async fn is_signed_out(&self, nonce: &str) -> Result<bool, StoreError> {
        sign_outs::is_signed_out(&self.client().await?, nonce).await
    }

    pub async fn due_deliveries(
        &self,
        now: Timestamp,
        per_subscription: usize,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        hooks::due(&self.client().await?, now, per_subscription, limit).await
    }

    pub async fn deliveries(
        &self,
        subscription: &str,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        hooks::of_subscription(&self.client().await?, subscription, before, limit).await
    }

    pub async fn quarantined(&self, id: i64) -> Result<Option<Quarantined>, StoreError> {
        quarantine::get(&self.client().await?, id).await
    }

    pub async fn quarantine(
        &self,
        after: i64,
        limit: usize,
        waiting_only: bool,
    ) -> Result<Vec<Quarantined>, StoreError> {
        quarantine::list(&self.client().await?, after, limit, waiting_only).await
    }

    pub async fn overview(
        &self,
        now: Timestamp,
        rules: &crate::model::overview::StallRules,
        limit: usize,
    ) -> Result<crate::model::overview::Overview, StoreError> {
        dashboard::overview(&self.client().await?, now, rules, limit).await
    }

    pub async fn received_since(&self, since: Timestamp, window: i64) -> Result<i64, StoreError> {
        dashboard::received_since(&self.client().await?, since, window).await
    }

    /// A handle that reads without keeping the store open.
    pub fn downgrade(&self) -> PgReader {
        PgReader(Arc::downgrade(&self.inner))
    }

    /// Does the database answer?
    pub async fn ready(&self) -> bool {
        match self.client().await {
            Ok(c) => c.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }
}

/// One process's right to do what a lease guards; see [`PgStore::lease`].
pub struct Lease {
    client: deadpool_postgres::ClientWrapper,
}

impl Lease {
    /// Is it still held? (Its connection is alive and answers within two seconds.)
    pub async fn held(&self) -> bool {
        !self.client.is_closed()
            && tokio::time::timeout(Duration::from_secs(2), self.client.simple_query("SELECT 1"))
                .await
                .is_ok_and(|r| r.is_ok())
    }
}

/// The SQL of an advisory-lock key for the name `param` (a text expression), within
/// the current schema: deployments sharing a database in different schemas do not
/// share locks.
pub(crate) fn lock_key(param: &str) -> String {
    format!(
        "('x' || substr(md5(coalesce(current_schema(), '') || ':' || {param}), 1, 16))::bit(64)::bigint"
    )
}

/// Read access that does not keep the store (its pool and poller) alive.
#[derive(Clone)]
pub struct PgReader(Weak<Inner>);

impl PgReader {
    /// Is the store still open?
    pub fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }

    /// As [`PgStore::note_position`]; `false` once the store is gone.
    pub fn note_position(&self, position: i64) -> bool {
        match self.store() {
            Ok(s) => {
                s.note_position(position);
                true
            }
            Err(_) => false,
        }
    }

    fn store(&self) -> Result<PgStore, StoreError> {
        self.0
            .upgrade()
            .map(|inner| PgStore { inner })
            .ok_or(StoreError::WriterGone)
    }

    pub async fn outbox_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        self.store()?.outbox_after(after, limit).await
    }

    pub async fn outbox_for_order(
        &self,
        order_id: &str,
        after: i64,
        through: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        self.store()?
            .outbox_for_order(order_id, after, through, limit)
            .await
    }
}

/// The orders a submission's events name.
fn named_orders(s: &Submission) -> Vec<String> {
    let mut ids: Vec<String> = match s {
        Submission::Events(evs) | Submission::Push { events: evs, .. } => evs
            .iter()
            .filter_map(|e| e.order_id.as_ref().map(|o| o.to_string()))
            .collect(),
        Submission::NewOrder(e) => e.order_id.iter().map(|o| o.to_string()).collect(),
        Submission::Quarantine(_) | Submission::Hook(_) | Submission::SignOut(_) => Vec::new(),
    };
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A little noise for retry delays, without a random-number dependency in the store.
fn rand_u8() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u8
}

/// Learns the positions other processes reached, until the store is dropped.
async fn poll(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let store = PgStore { inner };
        let step = async { outbox::last_position(&store.client().await?).await };
        match step.await {
            Ok(last) => store.note_position(last),
            Err(e) => tracing::debug!(error = %e, "outbox poll failed; trying again"),
        }
    }
}
