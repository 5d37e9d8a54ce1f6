//! The embedded store: SQLite in a data directory, one writer thread, pooled readers.
//! Its methods block (SQLite does): the [`crate::Store`] façade runs them off the async
//! threads.
//!
//! - [`writer`]: the single writer thread, its group commit and syncer; [`apply`]: the
//!   engine's world over the writer's [`crate::cache`] of rows ([`rows`]), flushed behind;
//!   [`overlay`]: the state of orders whose rows lag, for readers.
//! - [`read`], [`dashboard`]: queries on pooled readers; [`log`], [`outbox`],
//!   [`hooks`], [`quarantine`], [`sign_outs`]: their tables' writes and reads.
//! - [`at_rest`]: another process's reads (the CLI's), folding the log past the rows.
//! - [`schema`]: migrations by `PRAGMA user_version`.

pub mod apply;
pub mod at_rest;
pub mod dashboard;
pub mod hooks;
pub mod log;
pub mod outbox;
pub mod overlay;
pub mod quarantine;
pub mod read;
pub mod rows;
pub mod schema;
pub mod sign_outs;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use waybill_core::Timestamp;

use crate::{Delivery, EventRecord, ItemOutcome, ListFilter, OrderPage, OrderRecord};
use crate::{
    OutboxRecord, Pending, Quarantined, StoreError, Submission, Subscription, Synchronous,
    WriterOptions,
};

/// The embedded store: one writer thread plus a pool of read connections.
#[derive(Clone)]
pub struct Embedded {
    writer: Arc<writer::WriterHandle>,
    readers: Arc<read::ReadPool>,
    overlay: Arc<overlay::Overlay>,
    /// How far the outbox is durable.
    announced: Arc<tokio::sync::watch::Sender<i64>>,
}

impl Embedded {
    /// Opens (creating if needed) the store in `dir`, migrates it, starts the writer.
    pub fn open(dir: &Path, options: WriterOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let path = dir.join("waybill.sqlite3");
        // The writer's commits do not fsync; with `Synchronous::Full` its syncer thread
        // does, before anyone is answered (see `writer`).
        let mut conn = schema::open(&path, Synchronous::Normal, options.page_cache_mib)?;
        schema::migrate(&conn)?;
        // After a crash the rows may lag the log: catch up before anyone reads.
        let caught_up =
            writer::catch_up(&mut conn, &mut apply::Applier::new(options.cache_capacity))?;
        if caught_up > 0 {
            tracing::info!(events = caught_up, "projections caught up with the log");
        }
        let overlay = Arc::new(overlay::Overlay::default());
        let announced = Arc::new(tokio::sync::watch::Sender::new(outbox::last_id(&conn)?));
        let checkpointer =
            schema::open(&path, Synchronous::Normal, schema::CHECKPOINTER_CACHE_MIB)?;
        let wal = dir.join("waybill.sqlite3-wal");
        let writer = Arc::new(writer::spawn(
            conn,
            checkpointer,
            wal,
            lock,
            overlay.clone(),
            announced.clone(),
            options,
        )?);
        Ok(Self {
            writer,
            announced,
            readers: Arc::new(read::ReadPool::new(path)),
            overlay,
        })
    }

    /// Submits events and waits until they are durable (or refused).
    pub async fn submit(&self, s: Submission) -> Result<Vec<ItemOutcome>, StoreError> {
        self.writer
            .submit(s)?
            .await
            .map_err(|_| StoreError::WriterGone)?
    }

    /// Queues a submission without waiting: the receiver answers once it is durable.
    /// Lets a bulk loader parse the next batch while the writer commits this one.
    pub fn enqueue(&self, s: Submission) -> Result<Pending, StoreError> {
        self.writer.submit(s)
    }

    /// As [`Embedded::submit`], for callers outside an async runtime.
    pub fn submit_blocking(&self, s: Submission) -> Result<Vec<ItemOutcome>, StoreError> {
        self.writer
            .submit(s)?
            .blocking_recv()
            .map_err(|_| StoreError::WriterGone)?
    }

    /// Runs a read on a pooled connection (blocking: call from `spawn_blocking`).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.with(f)
    }

    /// An order as of the last acknowledged write (blocking: call from `spawn_blocking`).
    pub fn order(&self, order_id: &str) -> Result<Option<OrderRecord>, StoreError> {
        self.read(|c| read::order(c, &self.overlay, order_id))
    }

    /// An order's timeline, flags included; `None` if the order does not exist.
    pub fn timeline(&self, order_id: &str) -> Result<Option<Vec<EventRecord>>, StoreError> {
        self.read(|c| read::timeline(c, &self.overlay, order_id))
    }

    /// One page of the order search.
    pub fn list_orders(&self, filter: &ListFilter) -> Result<OrderPage, StoreError> {
        self.read(|c| read::list_orders(c, &self.overlay, filter))
    }

    /// Read access alone: it does not keep the store (and its writer) open.
    pub fn reader(&self) -> Reader {
        Reader {
            readers: self.readers.clone(),
        }
    }

    /// Follows the last durable outbox id: wakes whoever announces domain events.
    pub fn announced(&self) -> tokio::sync::watch::Receiver<i64> {
        self.announced.subscribe()
    }

    /// Domain events with an id above `after`, oldest first (blocking).
    pub fn outbox_after(&self, after: i64, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        self.read(|c| outbox::after(c, after, limit))
    }

    /// What the operations dashboard shows (blocking).
    pub fn overview(
        &self,
        now: Timestamp,
        rules: &crate::StallRules,
        limit: usize,
    ) -> Result<crate::Overview, StoreError> {
        self.read(|c| dashboard::overview(c, now, rules, limit))
    }

    /// Events received since `since` (at most the newest `window`) (blocking).
    pub fn received_since(&self, since: Timestamp, window: i64) -> Result<i64, StoreError> {
        self.read(|c| dashboard::received_since(c, since, window))
    }

    /// Every subscription (blocking).
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.read(hooks::subscriptions)
    }

    pub fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.read(|c| hooks::subscription(c, id))
    }

    /// Whether the dashboard session with this nonce was signed out (blocking).
    pub fn is_signed_out(&self, nonce: &str) -> Result<bool, StoreError> {
        self.read(|c| crate::sqlite::sign_outs::is_signed_out(c, nonce))
    }

    /// Pending deliveries due by `now`, at most `per_subscription` of each (blocking).
    pub fn due_deliveries(
        &self,
        now: Timestamp,
        per_subscription: usize,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(|c| hooks::due(c, now, per_subscription, limit))
    }

    /// A subscription's deliveries, newest first, ids below `before` (blocking).
    pub fn deliveries(
        &self,
        subscription: &str,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(|c| hooks::of_subscription(c, subscription, before, limit))
    }

    /// One outbox record (blocking).
    pub fn outbox_record(&self, id: i64) -> Result<Option<OutboxRecord>, StoreError> {
        Ok(self
            .read(|c| outbox::after(c, id - 1, 1))?
            .into_iter()
            .find(|r| r.id == id))
    }

    /// One kept push (blocking).
    pub fn quarantined(&self, id: i64) -> Result<Option<Quarantined>, StoreError> {
        self.read(|c| quarantine::get(c, id))
    }

    /// Kept pushes after `after`, oldest first (blocking).
    pub fn quarantine(
        &self,
        after: i64,
        limit: usize,
        waiting_only: bool,
    ) -> Result<Vec<Quarantined>, StoreError> {
        self.read(|c| quarantine::list(c, after, limit, waiting_only))
    }

    /// Events waiting for the writer (the queue's depth, for metrics).
    pub fn queued_events(&self) -> usize {
        self.writer.queued_events()
    }

    /// Is the writer alive and the database answering?
    pub fn ready(&self) -> bool {
        self.writer.alive()
            && self
                .read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
                .is_ok()
    }
}

/// Read access to a store that does not keep it open: for long-lived readers, such as
/// the stream hub, which must not outlive the store they follow.
#[derive(Clone)]
pub struct Reader {
    readers: Arc<read::ReadPool>,
}

impl Reader {
    /// Domain events with an id above `after`, oldest first (blocking).
    pub fn outbox_after(&self, after: i64, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        self.readers.with(|c| outbox::after(c, after, limit))
    }

    /// One order's domain events with an id in `(after, through]` (blocking).
    pub fn outbox_for_order(
        &self,
        order_id: &str,
        after: i64,
        through: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        self.readers
            .with(|c| outbox::for_order(c, order_id, after, through, limit))
    }
}

/// Takes the data directory for this process: two writers, each with its own memory of
/// the store, would hand out the same seqs. Held until the writer thread ends.
fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Rebuilds every projection from the event log (`waybill replay`). Needs the store to
/// be closed: it takes the database for itself.
pub fn replay(dir: &Path) -> Result<u64, StoreError> {
    let _lock = lock_dir(dir)?;
    let path = dir.join("waybill.sqlite3");
    let mut conn = schema::open(
        &path,
        Synchronous::Full,
        WriterOptions::default().page_cache_mib,
    )?;
    schema::migrate(&conn)?;
    writer::replay(&mut conn)
}
