//! Live updates: the hub that follows the outbox, and the server-sent event streams.
//!
//! One task (the hub) follows the outbox as it becomes durable and broadcasts each
//! domain event once; every stream client filters that broadcast. A client that falls
//! `buffer` messages behind is cut off rather than allowed to grow memory: it reconnects
//! with `Last-Event-ID` and catches up from the outbox itself. A resume reads the outbox
//! from the client's last id up to where the hub had announced when the client
//! subscribed, then switches to the broadcast, skipping ids it already sent: no gap, no
//! repeat.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event;
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;
use waybill_core::change::ChangeKind;
use waybill_store::{OutboxRecord, Reader};

/// How many domain events the hub reads from the outbox at a time.
const PAGE: usize = 500;

/// Stream settings.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Messages a client may fall behind before it is cut off.
    pub buffer: usize,
    /// How often an idle stream sends a comment, so proxies keep it open.
    pub heartbeat: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            buffer: 1024,
            heartbeat: Duration::from_secs(15),
        }
    }
}

/// The broadcast of durable domain events.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<OutboxRecord>>,
    announced: watch::Receiver<i64>,
    reader: Reader,
    pub settings: StreamSettings,
}

impl Hub {
    /// Starts following the store's outbox (see [`crate::engines`]). Must run inside a
    /// tokio runtime; the task ends when `stop` turns true or the store closes.
    pub fn start(
        store: &waybill_store::Store,
        settings: StreamSettings,
        stop: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, _) = broadcast::channel(settings.buffer.max(1));
        let announced = store.announced();
        let hub = Self {
            tx: tx.clone(),
            announced: announced.clone(),
            reader: store.reader(),
            settings,
        };
        let task = tokio::spawn(follow(hub.reader.clone(), announced, tx, stop));
        (hub, task)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OutboxRecord>> {
        self.tx.subscribe()
    }

    /// The last durable outbox id.
    pub fn through(&self) -> i64 {
        *self.announced.borrow()
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }
}

async fn follow(
    reader: Reader,
    mut announced: watch::Receiver<i64>,
    tx: broadcast::Sender<Arc<OutboxRecord>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut cursor = *announced.borrow_and_update();
    loop {
        let through = *announced.borrow_and_update();
        while cursor < through {
            let page = match reader.outbox_after(cursor, PAGE).await {
                Ok(page) => page,
                Err(waybill_store::StoreError::WriterGone) => return, // the store closed
                Err(e) => {
                    tracing::error!(error = %e, "stream hub cannot read the outbox; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let Some(last) = page.last() else { break };
            cursor = last.id;
            for rec in page {
                // No subscriber is not an error: nobody is listening right now.
                let _ = tx.send(Arc::new(rec));
            }
        }
        tokio::select! {
            changed = announced.changed() => if changed.is_err() {
                return; // the store closed
            },
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Which domain events a client wants: `shipment.*`, `order.created`, `*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeFilter(Vec<String>);

impl TypeFilter {
    /// Parses a comma-separated list; empty means everything.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for p in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let known = if p == "*" {
                true
            } else if let Some(prefix) = p.strip_suffix(".*") {
                ChangeKind::ALL
                    .iter()
                    .any(|k| k.as_str().split('.').next() == Some(prefix))
            } else {
                ChangeKind::parse(p).is_some()
            };
            if !known {
                let all: Vec<_> = ChangeKind::ALL.iter().map(|k| k.as_str()).collect();
                return Err(format!(
                    "unknown event type {p:?}; expected one of {}, a prefix such as shipment.*, or *",
                    all.join(", ")
                ));
            }
            patterns.push(p.to_owned());
        }
        Ok(Self(patterns))
    }

    pub fn matches(&self, kind: ChangeKind) -> bool {
        let kind = kind.as_str();
        self.0.is_empty()
            || self.0.iter().any(|p| {
                p == "*"
                    || p == kind
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| prefix.ends_with('.') && kind.starts_with(prefix))
            })
    }
}

/// A domain event as streams (and webhooks) carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainEventView {
    /// The outbox id: the SSE `id`, and the resume point.
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339: when Waybill received the event that caused it.
    pub timestamp: String,
    pub data: DomainEventData,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainEventData {
    pub order_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub status: String,
    pub previous_status: Option<String>,
    /// The `event_id` of the tracking event that caused the change.
    pub cause_event_id: String,
}

impl DomainEventView {
    pub fn from_record(r: &OutboxRecord) -> Self {
        Self {
            id: r.id,
            kind: r.kind.to_string(),
            timestamp: waybill_formats::wire::format_instant(r.at.as_micros(), 0),
            data: DomainEventData {
                order_id: r.order_id.clone(),
                carrier: r.carrier.clone(),
                tracking_number: r.tracking_number.clone(),
                status: r.status.to_string(),
                previous_status: r.previous_status.map(|s| s.to_string()),
                cause_event_id: r.cause.clone(),
            },
        }
    }
}

fn message(r: &OutboxRecord) -> Event {
    let body = serde_json::to_string(&DomainEventView::from_record(r)).unwrap_or_default();
    Event::default()
        .id(r.id.to_string())
        .event(r.kind.as_str())
        .data(body)
}

/// Which records a stream carries.
#[derive(Debug, Clone)]
pub enum Scope {
    Order(String),
    All(TypeFilter),
}

impl Scope {
    fn wants(&self, r: &OutboxRecord) -> bool {
        match self {
            Self::Order(id) => r.order_id == *id,
            Self::All(types) => types.matches(r.kind),
        }
    }
}

struct Cursor {
    hub: Hub,
    scope: Scope,
    rx: broadcast::Receiver<Arc<OutboxRecord>>,
    /// The last id sent (or the client's `Last-Event-ID`).
    sent: i64,
    /// Catching up from the outbox until here; then the broadcast.
    catch_up_to: i64,
    backlog: VecDeque<OutboxRecord>,
    hello: Option<Event>,
    done: bool,
}

/// The messages of one client's stream, from `last_event_id` (or from now).
pub fn stream(
    hub: &Hub,
    scope: Scope,
    last_event_id: Option<i64>,
) -> impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>> + use<> {
    // Subscribe first: whatever is announced from now on reaches this client.
    let rx = hub.subscribe();
    let through = hub.through();
    let start = last_event_id.unwrap_or(through).min(through);
    // A first message gives a client that starts from now a resume point at once.
    let hello = last_event_id.is_none().then(|| {
        Event::default()
            .id(through.to_string())
            .event("ready")
            .data("{}")
    });
    let cursor = Cursor {
        hub: hub.clone(),
        scope,
        rx,
        sent: start,
        catch_up_to: through,
        backlog: VecDeque::new(),
        hello,
        done: false,
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        let event = next(&mut c).await?;
        Some((Ok(event), c))
    })
}

async fn next(c: &mut Cursor) -> Option<Event> {
    if c.done {
        return None;
    }
    if let Some(hello) = c.hello.take() {
        return Some(hello);
    }
    loop {
        if let Some(r) = c.backlog.pop_front() {
            c.sent = r.id;
            return Some(message(&r));
        }
        if c.sent < c.catch_up_to {
            let (reader, after, through) = (c.hub.reader(), c.sent, c.catch_up_to);
            let page = match &c.scope {
                Scope::Order(id) => reader.outbox_for_order(id, after, through, PAGE).await,
                Scope::All(_) => reader.outbox_after(after, PAGE).await,
            }
            .ok()?;
            let Some(last) = page.last().map(|r| r.id) else {
                c.sent = c.catch_up_to;
                continue;
            };
            let (to, scope) = (c.catch_up_to, &c.scope);
            c.backlog
                .extend(page.into_iter().filter(|r| r.id <= to && scope.wants(r)));
            if c.backlog.is_empty() {
                // Nothing wanted in this page: the next one starts after it.
                c.sent = last.min(to);
            }
            continue;
        }
        match c.rx.recv().await {
            Ok(r) if r.id > c.sent && c.scope.wants(&r) => {
                c.sent = r.id;
                return Some(message(&r));
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // Too slow: say so and stop; the client resumes with Last-Event-ID.
                c.done = true;
                return Some(
                    Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}")),
                );
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_filters() {
        let f = TypeFilter::parse("shipment.*, order.created").unwrap();
        assert!(f.matches(ChangeKind::parse("shipment.delivered").unwrap()));
        assert!(f.matches(ChangeKind::parse("order.created").unwrap()));
        assert!(!f.matches(ChangeKind::parse("order.status_changed").unwrap()));
        assert!(
            TypeFilter::parse("")
                .unwrap()
                .matches(ChangeKind::parse("order.created").unwrap())
        );
        assert!(
            TypeFilter::parse("*")
                .unwrap()
                .matches(ChangeKind::parse("shipment.exception").unwrap())
        );
        assert!(TypeFilter::parse("parcel.*").is_err());
        assert!(TypeFilter::parse("order.deleted").is_err());
        assert!(
            !TypeFilter::parse("shipment.*")
                .unwrap()
                .matches(ChangeKind::OrderStatusChanged)
        );
    }
}
