//! Waybill's store: the event log and its projections, in SQLite (embedded, the
//! default) or in PostgreSQL (scale-out). [`Store`] is the one interface to both.
//!
//! - [`model`]: what both backends share — submissions and item outcomes, records,
//!   domain events, hooks, the overview, column codecs.
//! - [`sqlite`]: the embedded store (the writer thread and its cache, queries,
//!   migrations); [`pg`]: the PostgreSQL store.
//! - [`error`]: the one error type, with classes.
//!
//! The rules of applying an event are not here: `waybill_core::engine` decides, and
//! each backend persists what it decided. Adding a read query touches one file per
//! backend and the facade ([`Store`]).
//!
//! **Architecture Invariant:** only the writer thread writes the embedded store.
//! Nothing is acknowledged before it is committed and, with `Synchronous::Full` (the
//! default), before the WAL holding it has been fsynced.

pub mod cache;
pub mod error;
pub mod model;
pub mod pg;
pub mod sqlite;

use std::path::Path;

use waybill_core::Timestamp;

pub use error::{ErrorClass, StoreError};
pub use pg::{PgOptions, PgStore};
pub use sqlite::{Embedded, replay};

pub use model::hooks::{
    Attempt, Channel, Delivery, DeliveryState, HookOp, NewSubscription, Subscription,
};
pub use model::outbox::OutboxRecord;
pub use model::overview::{CarrierFigures, Failing, Flagged, Overview, StallRules};
pub use model::quarantine::{NewQuarantine, Quarantined};
pub use model::records::{EventRecord, ListFilter, OrderPage, OrderRecord, ShipmentRecord};
pub use model::sign_out::SignOut;
pub use model::submission::{Counted, ItemOutcome, Submission};
pub use sqlite::writer::{Pending, WriterOptions};

/// How durable a commit must be before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync the WAL on every commit: an acknowledged event survives power loss.
    #[default]
    Full,
    /// fsync only at checkpoints: survives a process crash, not a power cut.
    Normal,
}

impl Synchronous {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Some(Self::Full),
            "normal" => Some(Self::Normal),
            _ => None,
        }
    }
}

/// The store, embedded or on PostgreSQL. Every method is async; the embedded store's
/// blocking work runs on tokio's blocking threads.
#[derive(Clone)]
pub enum Store {
    Embedded(Embedded),
    Postgres(PgStore),
}

impl Store {
    /// Opens (creating if needed) the embedded store in `dir`.
    pub fn open(dir: &Path, options: WriterOptions) -> Result<Self, StoreError> {
        Ok(Self::Embedded(Embedded::open(dir, options)?))
    }

    /// Connects to PostgreSQL (migrating the schema if needed).
    pub async fn connect(options: &PgOptions) -> Result<Self, StoreError> {
        Ok(Self::Postgres(PgStore::connect(options).await?))
    }

    /// Runs `f` on the embedded store off the async threads.
    async fn blocking<T: Send + 'static>(
        e: &Embedded,
        f: impl FnOnce(&Embedded) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let e = e.clone();
        tokio::task::spawn_blocking(move || f(&e))
            .await
            .map_err(|e| StoreError::TaskFailed(format!("the read task failed: {e}")))?
    }

    /// Submits events (or another write) and waits until they are durable.
    pub async fn submit(&self, s: Submission) -> Result<Vec<ItemOutcome>, StoreError> {
        match self {
            Self::Embedded(e) => e.submit(s).await,
            Self::Postgres(p) => p.submit(s).await,
        }
    }

    /// Queues a submission without waiting: the receiver answers once it is durable.
    /// Lets a bulk loader prepare the next batch while this one commits.
    pub fn enqueue(&self, s: Submission) -> Result<Pending, StoreError> {
        match self {
            Self::Embedded(e) => e.enqueue(s),
            Self::Postgres(p) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let p = p.clone();
                tokio::spawn(async move {
                    let _ = tx.send(p.submit(s).await);
                });
                Ok(rx)
            }
        }
    }

    /// An order as of the last acknowledged write.
    pub async fn order(&self, order_id: &str) -> Result<Option<OrderRecord>, StoreError> {
        match self {
            Self::Embedded(e) => {
                let id = order_id.to_owned();
                Self::blocking(e, move |e| e.order(&id)).await
            }
            Self::Postgres(p) => p.order(order_id).await,
        }
    }

    /// An order's timeline, flags included; `None` if the order does not exist.
    pub async fn timeline(&self, order_id: &str) -> Result<Option<Vec<EventRecord>>, StoreError> {
        match self {
            Self::Embedded(e) => {
                let id = order_id.to_owned();
                Self::blocking(e, move |e| e.timeline(&id)).await
            }
            Self::Postgres(p) => p.timeline(order_id).await,
        }
    }

    /// One page of the order search.
    pub async fn list_orders(&self, filter: &ListFilter) -> Result<OrderPage, StoreError> {
        match self {
            Self::Embedded(e) => {
                let f = filter.clone();
                Self::blocking(e, move |e| e.list_orders(&f)).await
            }
            Self::Postgres(p) => p.list_orders(filter).await,
        }
    }

    /// Read access alone: it does not keep the store open.
    pub fn reader(&self) -> Reader {
        match self {
            Self::Embedded(e) => Reader::Embedded(e.reader()),
            Self::Postgres(p) => Reader::Postgres(p.downgrade()),
        }
    }

    /// Follows the last readable outbox id: wakes whoever announces domain events.
    pub fn announced(&self) -> tokio::sync::watch::Receiver<i64> {
        match self {
            Self::Embedded(e) => e.announced(),
            Self::Postgres(p) => p.announced(),
        }
    }

    /// Domain events with an id above `after`, oldest first.
    pub async fn outbox_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        self.reader().outbox_after(after, limit).await
    }

    /// One domain event by its id.
    pub async fn outbox_record(&self, id: i64) -> Result<Option<OutboxRecord>, StoreError> {
        match self {
            Self::Embedded(e) => Self::blocking(e, move |e| e.outbox_record(id)).await,
            Self::Postgres(p) => p.outbox_record(id).await,
        }
    }

    /// What the operations dashboard shows.
    pub async fn overview(
        &self,
        now: Timestamp,
        rules: &StallRules,
        limit: usize,
    ) -> Result<Overview, StoreError> {
        match self {
            Self::Embedded(e) => {
                let rules = rules.clone();
                Self::blocking(e, move |e| e.overview(now, &rules, limit)).await
            }
            Self::Postgres(p) => p.overview(now, rules, limit).await,
        }
    }

    /// Events received since `since` (at most the newest `window`).
    pub async fn received_since(&self, since: Timestamp, window: i64) -> Result<i64, StoreError> {
        match self {
            Self::Embedded(e) => Self::blocking(e, move |e| e.received_since(since, window)).await,
            Self::Postgres(p) => p.received_since(since, window).await,
        }
    }

    /// Every subscription.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        match self {
            Self::Embedded(e) => Self::blocking(e, Embedded::subscriptions).await,
            Self::Postgres(p) => p.subscriptions().await,
        }
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        match self {
            Self::Embedded(e) => {
                let id = id.to_owned();
                Self::blocking(e, move |e| e.subscription(&id)).await
            }
            Self::Postgres(p) => p.subscription(id).await,
        }
    }

    /// Whether the dashboard session with this nonce was signed out.
    pub async fn is_signed_out(&self, nonce: &str) -> Result<bool, StoreError> {
        match self {
            Self::Embedded(e) => {
                let nonce = nonce.to_owned();
                Self::blocking(e, move |e| e.is_signed_out(&nonce)).await
            }
            Self::Postgres(p) => p.is_signed_out(nonce).await,
        }
    }

    /// Pending deliveries due by `now`, at most `per_subscription` of each.
    pub async fn due_deliveries(
        &self,
        now: Timestamp,
        per_subscription: usize,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        match self {
            Self::Embedded(e) => {
                Self::blocking(e, move |e| e.due_deliveries(now, per_subscription, limit)).await
            }
            Self::Postgres(p) => p.due_deliveries(now, per_subscription, limit).await,
        }
    }

    /// A subscription's deliveries, newest first, ids below `before`.
    pub async fn deliveries(
        &self,
        subscription: &str,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        match self {
            Self::Embedded(e) => {
                let id = subscription.to_owned();
                Self::blocking(e, move |e| e.deliveries(&id, before, limit)).await
            }
            Self::Postgres(p) => p.deliveries(subscription, before, limit).await,
        }
    }

    /// One kept push.
    pub async fn quarantined(&self, id: i64) -> Result<Option<Quarantined>, StoreError> {
        match self {
            Self::Embedded(e) => Self::blocking(e, move |e| e.quarantined(id)).await,
            Self::Postgres(p) => p.quarantined(id).await,
        }
    }

    /// Kept pushes after `after`, oldest first.
    pub async fn quarantine(
        &self,
        after: i64,
        limit: usize,
        waiting_only: bool,
    ) -> Result<Vec<Quarantined>, StoreError> {
        match self {
            Self::Embedded(e) => {
                Self::blocking(e, move |e| e.quarantine(after, limit, waiting_only)).await
            }
            Self::Postgres(p) => p.quarantine(after, limit, waiting_only).await,
        }
    }

    /// Events waiting for the embedded writer (0 on PostgreSQL, which has no queue).
    pub fn queued_events(&self) -> usize {
        match self {
            Self::Embedded(e) => e.queued_events(),
            Self::Postgres(_) => 0,
        }
    }

    /// Is the store able to take writes and answer reads?
    pub async fn ready(&self) -> bool {
        match self {
            Self::Embedded(e) => Self::blocking(e, |e| Ok(e.ready())).await.unwrap_or(false),
            Self::Postgres(p) => p.ready().await,
        }
    }
}

/// Read access to a store that does not keep it open: for long-lived readers, such as
/// the stream hub, which must not outlive the store they follow.
#[derive(Clone)]
pub enum Reader {
    Embedded(sqlite::Reader),
    Postgres(pg::PgReader),
}

impl Reader {
    /// Domain events with an id above `after`, oldest first.
    pub async fn outbox_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        match self {
            Self::Embedded(r) => {
                let r = r.clone();
                tokio::task::spawn_blocking(move || r.outbox_after(after, limit))
                    .await
                    .map_err(|e| StoreError::TaskFailed(format!("the read task failed: {e}")))?
            }
            Self::Postgres(r) => r.outbox_after(after, limit).await,
        }
    }

    /// One order's domain events with an id in `(after, through]`.
    pub async fn outbox_for_order(
        &self,
        order_id: &str,
        after: i64,
        through: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        match self {
            Self::Embedded(r) => {
                let (r, id) = (r.clone(), order_id.to_owned());
                tokio::task::spawn_blocking(move || r.outbox_for_order(&id, after, through, limit))
                    .await
                    .map_err(|e| StoreError::TaskFailed(format!("the read task failed: {e}")))?
            }
            Self::Postgres(r) => r.outbox_for_order(order_id, after, through, limit).await,
        }
    }
}
