//! `waybill worker`: takes events from the intake partitions and applies them.
//!
//! A message is acknowledged only after the store has committed what it carried (one
//! frame per batch, covering a run of finished deliveries: see [`crate::acks`]). A
//! worker that dies before its acknowledgement leaves the message to be delivered
//! again (to it, or to the standby that takes over the partition): the store answers
//! "duplicate" for what it already has, so nothing is lost and nothing applied twice.
//! A message that cannot be applied (unreadable, or an event the store refuses) is
//! published to `waybill.intake.dead` with the reason in its headers, confirmed, and
//! only then acknowledged. While the store cannot be reached the worker holds its
//! batch and retries; it does not give messages back (each redelivery would count
//! towards the delivery limit). Its own loop reconnects to the broker after any
//! failure, with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::sync::{mpsc, watch};
use waybill_core::TrackingEvent;
use waybill_store::{Counted, ItemOutcome, Store, Submission};

use crate::acks::Acks;
use crate::publish::{Message, Publisher};
use crate::topology::{self, Topology};
use crate::{BrokerError, pause};

/// A message's events, each read on its own; or why none could be read.
pub type Decoded = Result<Vec<Result<TrackingEvent, String>>, String>;

/// Reads a message body, given its content type.
pub type Decoder = Arc<dyn Fn(Option<&str>, &[u8]) -> Decoded + Send + Sync>;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub url: String,
    pub topology: Topology,
    /// Unacknowledged messages per partition this worker may hold.
    pub prefetch: u16,
    /// Most messages applied in one transaction.
    pub max_batch: usize,
    /// How long a batch waits for more messages once it has one.
    pub linger: Duration,
    /// This worker's place among `workers`: it takes the partitions `p` with
    /// `p % workers == index` at once, and stands by for the others after
    /// `standby_after`, so that workers started together share the partitions and any
    /// of them takes over those of one that stops.
    pub index: u16,
    pub workers: u16,
    pub standby_after: Duration,
    /// Shown on the connection and the consumers.
    pub name: String,
}

impl WorkerSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            topology: Topology::default(),
            prefetch: 500,
            max_batch: 1000,
            linger: Duration::from_millis(5),
            index: 0,
            workers: 1,
            standby_after: Duration::from_secs(2),
            name: format!("waybill-worker-{}", std::process::id()),
        }
    }

    /// Its own partitions first, then the rest.
    fn partitions(&self) -> (Vec<u16>, Vec<u16>) {
        let workers = self.workers.max(1);
        (0..self.topology.partitions).partition(|p| p % workers == self.index % workers)
    }
}

/// What a worker did (read by tests, benchmarks and metrics).
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages acknowledged after their events were committed.
    pub applied: AtomicU64,
    /// Events the store already had.
    pub duplicates: AtomicU64,
    /// Events stored.
    pub accepted: AtomicU64,
    /// Messages sent to the dead-letter exchange.
    pub dead: AtomicU64,
    /// Messages the broker said it had delivered before.
    pub redelivered: AtomicU64,
    /// Broker sessions begun (1 + reconnects).
    pub sessions: AtomicU64,
    /// Batches the store committed, the events in them, and the time their commits
    /// took (µs), for the worker's `/metrics`.
    pub batches: AtomicU64,
    pub batch_events: AtomicU64,
    pub commit_micros: AtomicU64,
    /// The topology is declared and the partitions are being consumed (`/readyz`).
    pub ready: std::sync::atomic::AtomicBool,
}

/// Runs until `shutdown` turns true, reconnecting whenever the session fails.
pub async fn run(
    settings: WorkerSettings,
    store: Store,
    decode: Decoder,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BrokerError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        counters.sessions.fetch_add(1, Ordering::Relaxed);
        match session(&settings, &store, &decode, &counters, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "broker session ended; reconnecting");
                pause(&mut backoff).await;
            }
        }
    }
}

type Incoming = Result<(u16, Delivery), String>;

async fn session(
    s: &WorkerSettings,
    store: &Store,
    decode: &Decoder,
    counters: &Counters,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), BrokerError> {
    // Whatever ends this session, the worker is not ready until the next one has its
    // topology and consumers again.
    struct NotReady<'c>(&'c Counters);
    impl Drop for NotReady<'_> {
        fn drop(&mut self) {
            self.0.ready.store(false, Ordering::SeqCst);
        }
    }
    let _not_ready = NotReady(counters);
    let conn = crate::connect(&s.url, &s.name).await?;
    let ch = conn.create_channel().await?;
    topology::declare(&ch, &s.topology).await?;
    ch.basic_qos(s.prefetch, BasicQosOptions::default()).await?;
    let dead = Publisher::open(&conn).await?;
    let depth = usize::from(s.prefetch) * usize::from(s.topology.partitions).max(1);
    let (tx, mut rx) = mpsc::channel::<Incoming>(depth.max(1));
    let (own, others) = s.partitions();
    // Whatever way the session ends (an error, or the worker being dropped), its tasks
    // end with it: they hold the channel, and the connection closes only when nothing
    // does, which is what gives the broker its messages back.
    let mut tasks = Tasks(Vec::new());
    for p in own {
        tasks.0.push(consume(&ch, &s.name, p, tx.clone()).await?);
    }
    let standby = {
        let (ch, name, tx, after) = (ch.clone(), s.name.clone(), tx.clone(), s.standby_after);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let mut tasks = Vec::new();
            for p in others {
                match consume(&ch, &name, p, tx.clone()).await {
                    Ok(t) => tasks.push(t),
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string())).await;
                        break;
                    }
                }
            }
            // The forwarders live as long as this task.
            let tasks = Tasks(tasks);
            std::future::pending::<()>().await;
            drop(tasks);
        })
    };
    tasks.0.push(standby);
    drop(tx);
    counters.ready.store(true, Ordering::SeqCst);
    let mut acks = Acks::default();
    let result = async {
        loop {
            let first = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
                next = rx.recv() => next,
            };
            let Some(first) = first else {
                return Err(BrokerError::Closed("every consumer ended".into()));
            };
            let mut batch = vec![first.map_err(BrokerError::Closed)?];
            let deadline = tokio::time::Instant::now() + s.linger;
            while batch.len() < s.max_batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(next)) => batch.push(next.map_err(BrokerError::Closed)?),
                    _ => break,
                }
            }
            apply(batch, store, decode, &dead, counters, shutdown, &mut acks).await?;
            if let Some(upto) = acks.advance() {
                ch.basic_ack(upto, BasicAckOptions { multiple: true })
                    .await?;
            }
        }
    }
    .await;
    drop(tasks);
    let _ = conn.close(200, "bye".into()).await;
    result
}

/// Tasks aborted when dropped.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Subscribes to partition `p` and forwards its deliveries.
async fn consume(
    ch: &lapin::Channel,
    name: &str,
    p: u16,
    tx: mpsc::Sender<Incoming>,
) -> Result<tokio::task::JoinHandle<()>, BrokerError> {
    let tag = format!("{name}-p{p}");
    let mut consumer = ch
        .basic_consume(
            topology::partition(p).as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(tokio::spawn(async move {
        while let Some(d) = consumer.next().await {
            let item = d.map(|d| (p, d)).map_err(|e| e.to_string());
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
        let _ = tx
            .send(Err(format!(
                "the broker cancelled the consumer of partition {p}"
            )))
            .await;
    }))
}

/// Applies one batch: every readable event in one submission, then the dead letters;
/// marks every message finished in `acks` (the caller acknowledges them).
async fn apply(
    batch: Vec<(u16, Delivery)>,
    store: &Store,
    decode: &Decoder,
    dead: &Publisher,
    counters: &Counters,
    shutdown: &watch::Receiver<bool>,
    acks: &mut Acks,
) -> Result<(), BrokerError> {
    let mut problems: Vec<Vec<String>> = vec![Vec::new(); batch.len()];
    let mut events = Vec::new();
    let mut owner = Vec::new();
    for (m, (_, d)) in batch.iter().enumerate() {
        if d.redelivered {
            counters.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        let content_type = d.properties.content_type().as_ref().map(|c| c.as_str());
        match decode(content_type, &d.data) {
            Ok(items) if items.is_empty() => problems[m].push("no events in the message".into()),
            Ok(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Ok(ev) => {
                            events.push(ev);
                            owner.push(m);
                        }
                        Err(e) => problems[m].push(format!("item {i}: {e}")),
                    }
                }
            }
            Err(e) => problems[m].push(e),
        }
    }
    if !events.is_empty() {
        let started = std::time::Instant::now();
        let submitted = submit(store, &events, shutdown).await?;
        if submitted.is_ok() {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters
                .batch_events
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            counters.commit_micros.fetch_add(
                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        match submitted {
            Ok(outcomes) => tally(owner.into_iter().zip(outcomes), &mut problems, counters),
            // Something in the batch fails every time: apply its messages one by one, so
            // that only the one at fault is kept aside.
            Err(e) => {
                tracing::warn!(error = %e, "a batch failed for good; applying its messages one by one");
                for m in 0..problems.len() {
                    let (mine, evs): (Vec<usize>, Vec<TrackingEvent>) = owner
                        .iter()
                        .zip(&events)
                        .filter(|(o, _)| **o == m)
                        .map(|(o, e)| (*o, e.clone()))
                        .unzip();
                    if evs.is_empty() {
                        continue;
                    }
                    match submit(store, &evs, shutdown).await? {
                        Ok(outcomes) => {
                            tally(mine.into_iter().zip(outcomes), &mut problems, counters)
                        }
                        Err(e) => problems[m].push(format!("the store refused it: {e}")),
                    }
                }
            }
        }
    }
    for ((p, d), problems) in batch.into_iter().zip(problems) {
        if !problems.is_empty() {
            dead_letter(dead, p, &d, &problems.join("; ")).await?;
            counters.dead.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.applied.fetch_add(1, Ordering::Relaxed);
        }
        acks.finish(d.delivery_tag);
    }
    Ok(())
}

/// Counts what the store made of each event, and keeps its refusals with their message.
fn tally(
    outcomes: impl Iterator<Item = (usize, ItemOutcome)>,
    problems: &mut [Vec<String>],
    counters: &Counters,
) {
    for (m, out) in outcomes {
        match (out.counted(), out) {
            (_, ItemOutcome::Rejected(r)) => problems[m].push(r.to_string()),
            (Counted::Accepted, _) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
            }
            (_, _) => {
                counters.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Submits until the store takes it, or says it never will (the inner `Err`). While the
/// store cannot be reached it retries; it gives up only when asked to stop (the
/// messages then go back to the broker unacknowledged).
async fn submit(
    store: &Store,
    events: &[TrackingEvent],
    shutdown: &watch::Receiver<bool>,
) -> Result<Result<Vec<ItemOutcome>, waybill_store::StoreError>, BrokerError> {
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.submit(Submission::Events(events.to_vec())).await {
            Ok(outcomes) => return Ok(Ok(outcomes)),
            Err(e) if !e.is_transient() => return Ok(Err(e)),
            Err(e) => {
                tracing::warn!(error = %e, "the store did not take the batch; retrying");
                if *shutdown.borrow() {
                    return Err(BrokerError::Closed(
                        "stopping with a batch unapplied".into(),
                    ));
                }
                pause(&mut backoff).await;
            }
        }
    }
}

/// Keeps a message no worker can apply, with why, in `waybill.intake.dead`.
async fn dead_letter(
    dead: &Publisher,
    partition: u16,
    d: &Delivery,
    why: &str,
) -> Result<(), BrokerError> {
    let content_type = d
        .properties
        .content_type()
        .as_ref()
        .map_or("application/octet-stream", |c| c.as_str())
        .to_owned();
    let message_id = d.properties.message_id().as_ref().map(|m| m.to_string());
    dead.publish(&Message {
        exchange: topology::DEAD,
        routing_key: d.routing_key.as_str(),
        body: &d.data,
        content_type: &content_type,
        message_id: message_id.as_deref(),
        headers: vec![
            ("x-waybill-error", why.chars().take(4000).collect()),
            ("x-waybill-partition", topology::partition(partition)),
        ],
    })
    .await
}
