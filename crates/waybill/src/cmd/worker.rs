//! `waybill worker`: applies what producers publish to RabbitMQ (docs/scaling.md) to the
//! PostgreSQL store, and relays domain events to `waybill.events`. Run as many as the
//! partitions keep busy; each takes its share (`--index` of `--workers`) and stands by
//! for the rest. See docs/scaling.md.

use std::sync::Arc;

use anyhow::Context;
use waybill_broker::Topology;
use waybill_broker::relay::{self, RelayCounters};
use waybill_broker::worker::{self, Counters, WorkerSettings};
use waybill_store::Store;

use crate::cli::WorkerArgs;
use crate::settings::Settings;

pub async fn run(settings: Settings, args: WorkerArgs) -> anyhow::Result<()> {
    let amqp = settings
        .scale
        .amqp_url
        .clone()
        .context("waybill worker needs WAYBILL_AMQP_URL (RabbitMQ)")?;
    let store = super::store::for_worker(&settings).await?;
    let store_any = Store::Postgres(store.clone());
    // Its writes invalidate the API nodes' cache and wake their streams.
    let _cluster = super::store::join_cluster(&settings, &store_any)?;
    let topology = Topology {
        partitions: settings.scale.partitions,
        ..Topology::default()
    };
    let mut ws = WorkerSettings::new(&amqp);
    ws.topology = topology.clone();
    ws.index = args.index;
    ws.workers = args.workers.max(1);
    ws.prefetch = args.prefetch;
    ws.max_batch = args.batch;
    if args.index >= ws.workers {
        anyhow::bail!("--index must be below --workers");
    }
    let max_items = settings.limits.max_batch_items;
    let decode: worker::Decoder = Arc::new(move |content_type, body| {
        waybill_formats::wire::decode_message(
            content_type,
            body,
            waybill_formats::clock::now(),
            max_items,
        )
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(relay::run(
        amqp,
        topology,
        store.clone(),
        Arc::new(|r| waybill_server::delivery::body(r).into_bytes()),
        Arc::new(RelayCounters::default()),
        stopped.clone(),
    ));
    tokio::spawn(async move {
        crate::cmd::serve::shutdown_signal().await;
        let _ = stop.send(true);
    });
    tracing::info!(
        index = ws.index,
        workers = ws.workers,
        partitions = ws.topology.partitions,
        "worker started"
    );
    let counters = Arc::new(Counters::default());
    let progress = {
        let counters = counters.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                report(&counters, "worker progress");
            }
        })
    };
    let applied = worker::run(ws, store_any, decode, counters.clone(), stopped).await;
    progress.abort();
    if applied.is_err() {
        // The relay would meet the same broker: it stops with the worker.
        relay.abort();
    }
    let relayed = relay.await.unwrap_or(Ok(()));
    report(&counters, "worker stopped");
    applied?;
    relayed?;
    Ok(())
}

/// The counters as one log line (the scale-out tests add them up).
fn report(c: &Counters, what: &str) {
    use std::sync::atomic::Ordering::Relaxed;
    tracing::info!(
        applied = c.applied.load(Relaxed),
        accepted = c.accepted.load(Relaxed),
        duplicates = c.duplicates.load(Relaxed),
        dead = c.dead.load(Relaxed),
        redelivered = c.redelivered.load(Relaxed),
        sessions = c.sessions.load(Relaxed),
        "{what}"
    );
}

/// `waybill worker`.
pub fn main(settings: Settings, args: WorkerArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(run(settings, args))
}
