//! The relay: domain events from the outbox to `waybill.events`, routing key = event
//! type, each with `message_id = msg_<id>` (the same id as its webhook), persistent and
//! confirmed. One process relays at a time (a lease in PostgreSQL); the others wait to
//! take over. The relay's cursor moves only after the broker confirmed everything up to
//! it, so a crash re-sends rather than skips: consumers deduplicate on `message_id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use waybill_store::{OutboxRecord, PgStore};

use crate::publish::{Message, Publisher, confirmed};
use crate::topology::{self, Topology};
use crate::{BrokerError, pause};

/// Turns a domain event into the message body (the webhook payload).
pub type Encoder = Arc<dyn Fn(&OutboxRecord) -> Vec<u8> + Send + Sync>;

/// The lease and cursor name.
const NAME: &str = "relay:waybill.events";
/// Most events published before the cursor moves.
const PAGE: usize = 500;

#[derive(Debug, Default)]
pub struct RelayCounters {
    pub published: AtomicU64,
}

/// Runs until `shutdown` turns true, or a fatal broker error.
pub async fn run(
    url: String,
    topology: Topology,
    store: PgStore,
    encode: Encoder,
    counters: Arc<RelayCounters>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BrokerError> {
    let mut backoff = Duration::from_millis(100);
    while !*shutdown.borrow() {
        match session(&url, &topology, &store, &encode, &counters, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "relay session ended; starting again");
                pause(&mut backoff).await;
            }
        }
    }
    Ok(())
}

async fn session(
    url: &str,
    topology: &Topology,
    store: &PgStore,
    encode: &Encoder,
    counters: &RelayCounters,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), BrokerError> {
    let lease = loop {
        let lease = store
            .lease(NAME)
            .await
            .map_err(|e| BrokerError::Closed(e.to_string()))?;
        if let Some(l) = lease {
            break l;
        }
        // Someone else relays: look again later.
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    let conn = crate::connect(url, "waybill-relay").await?;
    let publisher = Publisher::open(&conn).await?;
    topology::declare(publisher.channel(), topology).await?;
    let mut announced = store.announced();
    let stored = |e: waybill_store::StoreError| BrokerError::Closed(e.to_string());
    let mut cursor = store.relay_cursor(NAME).await.map_err(stored)?;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        if !lease.held().await {
            return Err(BrokerError::Closed("lost the relay lease".into()));
        }
        let page = store.outbox_after(cursor, PAGE).await.map_err(stored)?;
        let Some(last) = page.last().map(|r| r.id) else {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return Ok(()),
                _ = announced.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        };
        let bodies: Vec<(Vec<u8>, String)> = page
            .iter()
            .map(|r| (encode(r), format!("msg_{}", r.id)))
            .collect();
        let messages: Vec<Message<'_>> = page
            .iter()
            .zip(&bodies)
            .map(|(r, (body, id))| Message {
                exchange: topology::EVENTS,
                routing_key: r.kind.as_str(),
                body,
                content_type: "application/json",
                message_id: Some(id),
                headers: vec![("x-waybill-order-id", r.order_id.clone())],
            })
            .collect();
        for c in publisher.send_all(&messages).await? {
            confirmed(c).await?;
        }
        counters
            .published
            .fetch_add(page.len() as u64, Ordering::Relaxed);
        store.set_relay_cursor(NAME, last).await.map_err(stored)?;
        cursor = last;
    }
}
