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
    let counters = Arc::new(Counters::default());
    let health = tokio::net::TcpListener::bind(&args.health_addr)
        .await
        .with_context(|| format!("binding {} (--health-addr)", args.health_addr))?;
    let health_addr = health.local_addr()?;
    tokio::spawn(serve_health(health, counters.clone()));
    tracing::info!(
        index = ws.index,
        workers = ws.workers,
        partitions = ws.topology.partitions,
        health = %health_addr,
        "worker started"
    );
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

/// `/livez` (the process runs), `/readyz` (its topology is declared and it consumes)
/// and `/metrics` (Prometheus text) for the worker, on a port of its own.
async fn serve_health(listener: tokio::net::TcpListener, counters: Arc<Counters>) {
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    let ready = counters.clone();
    let metrics = counters;
    let app = axum::Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.ready.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    match ready {
                        true => (StatusCode::OK, "ready"),
                        false => (StatusCode::SERVICE_UNAVAILABLE, "not consuming yet"),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = prometheus_text(&metrics);
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
            }),
        );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "the worker's health endpoint stopped");
    }
}

/// The worker's counters in the Prometheus text format.
fn prometheus_text(c: &Counters) -> String {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Relaxed) as f64;
    let ready = f64::from(u8::from(c.ready.load(std::sync::atomic::Ordering::SeqCst)));
    let metrics: [(&str, &str, &str, f64); 10] = [
        (
            "applied_total",
            "counter",
            "Messages acknowledged after their events were committed.",
            n(&c.applied),
        ),
        (
            "accepted_total",
            "counter",
            "Events stored.",
            n(&c.accepted),
        ),
        (
            "duplicates_total",
            "counter",
            "Events the store already had.",
            n(&c.duplicates),
        ),
        (
            "dead_lettered_total",
            "counter",
            "Messages sent to the dead-letter exchange.",
            n(&c.dead),
        ),
        (
            "redelivered_total",
            "counter",
            "Messages the broker had delivered before.",
            n(&c.redelivered),
        ),
        (
            "sessions_total",
            "counter",
            "Broker sessions begun (1 + reconnects).",
            n(&c.sessions),
        ),
        (
            "batches_total",
            "counter",
            "Batches the store committed.",
            n(&c.batches),
        ),
        (
            "batch_events_total",
            "counter",
            "Events in the committed batches (divide by the batches for the mean size).",
            n(&c.batch_events),
        ),
        (
            "commit_seconds_total",
            "counter",
            "Time the committed batches took to commit (divide by the batches for the mean).",
            n(&c.commit_micros) / 1e6,
        ),
        (
            "ready",
            "gauge",
            "1 while the topology is declared and the partitions are consumed.",
            ready,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        let name = format!("waybill_worker_{name}");
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    out
}
