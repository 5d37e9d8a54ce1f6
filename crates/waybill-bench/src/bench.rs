//! `waybill bench`: the standard benchmark, printed as a report.
//!
//! One run measures, on loadgen's workload:
//! 1. parsing alone (the ceiling any ingest path shares);
//! 2. bulk durable ingest into a fresh embedded store (parse + group commit, FULL sync);
//! 3. the same events into a naive SQLite layout (text `event_id` under a UNIQUE index, an
//!    UPSERT per order, 10,000 events per transaction), as the baseline ratio;
//! 4. HTTP ingest: concurrent clients posting NDJSON batches of 100 to a server in this
//!    process, while one client reads orders and records latency;
//! 5. peak resident memory.
//!
//! Everything shares the machine, so the ratios within one run mean more than any
//! absolute figure.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use waybill_formats::clock;

use anyhow::Context;
use waybill_formats::wire;
use waybill_store::{ItemOutcome, Pending, Store, Submission, WriterOptions};

use crate::bench_server::{self, KEY};
use crate::loadgen::{LoadgenOptions, events};
use crate::{bench_hooks, bench_overload, bench_pg, bench_push, bench_scale, bench_sse};

pub(crate) const HTTP_BATCH: usize = 100;
/// The reader starts once the first this-many HTTP batches are acknowledged.
const READ_SET_BATCHES: usize = 20;
const BULK_BATCH: usize = 10_000;
/// Batches queued ahead of the writer in a bulk load; it commits them together.
const BULK_IN_FLIGHT: usize = 12;

/// What to run (the flags of `waybill bench`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Orders in the workload (about ten events each).
    pub orders: usize,
    /// Events sent over HTTP (the first N of the workload).
    pub http_events: usize,
    /// Concurrent HTTP clients.
    pub clients: usize,
    /// Streams opened by the `sse` phase.
    pub sse_clients: usize,
    /// Events through RabbitMQ in the `scale` phase (for each worker count).
    pub scale_events: usize,
    /// Which phases to run.
    pub phases: Vec<String>,
    /// Where the benchmark's stores go (a fresh temporary directory by default).
    pub dir: Option<std::path::PathBuf>,
}

pub async fn run(args: Options) -> anyhow::Result<()> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    println!("# waybill bench");
    println!("machine: {} cores, {}", cores(), cpu_model());
    let started = Instant::now();
    let mut lines = Vec::new();
    // The orders the reader asks for: those of the first events sent over HTTP, which
    // exist once those batches are acknowledged.
    let mut read_ids: Vec<String> = Vec::new();
    for e in events(&LoadgenOptions {
        orders: args.orders,
        ..LoadgenOptions::default()
    }) {
        if lines.len() < READ_SET_BATCHES * HTTP_BATCH && !read_ids.contains(&e.order_id) {
            read_ids.push(e.order_id.clone());
        }
        lines.push(serde_json::to_string(&e)?);
    }
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "workload: {} orders, {} events ({} bytes/event avg), generated in {:.1?}",
        args.orders,
        lines.len(),
        bytes / lines.len().max(1),
        started.elapsed()
    );
    println!();

    let on = |p: &str| args.phases.iter().any(|x| x == p);
    if on("parse") {
        row("parse only (1 core)", lines.len(), parse_only(&lines));
    }
    if on("providers") {
        let n = (lines.len() / bench_push::CHECKPOINTS).clamp(1, 50_000);
        for r in bench_push::measure(n)? {
            row(
                &format!("provider push, verify + parse: {} (1 core)", r.provider),
                r.events,
                r.took,
            );
            println!(
                "  {:.0} pushes/s of {} checkpoints",
                r.pushes as f64 / r.took.as_secs_f64(),
                bench_push::CHECKPOINTS
            );
        }
    }
    let mut bulk = None;
    if on("bulk") {
        let took = tokio::task::block_in_place(|| bulk_ingest(&dir.join("bulk"), &lines))?;
        row("bulk durable ingest, embedded store", lines.len(), took);
        bulk = Some(took);
    }
    if on("naive") {
        let naive = tokio::task::block_in_place(|| naive_ingest(&dir.join("naive"), &lines))?;
        row("naive SQLite layout (baseline)", lines.len(), naive);
        if let Some(bulk) = bulk {
            println!(
                "  ratio embedded / naive: {:.1}x",
                naive.as_secs_f64() / bulk.as_secs_f64()
            );
        }
    }
    if on("http") {
        let http_lines = &lines[..lines.len().min(args.http_events)];
        let server =
            bench_server::start(&dir.join("http"), Default::default(), Default::default()).await?;
        let http = http_ingest(server, http_lines, &read_ids, args.clients).await?;
        row(
            &format!(
                "HTTP ingest, batches of {HTTP_BATCH}, {} clients",
                args.clients
            ),
            http_lines.len(),
            http.elapsed,
        );
        println!("  {}", http.reads());
    }
    if on("overload") {
        // What the server sustains, closed loop; then twice that, open loop.
        let half = &lines[..lines.len() / 4];
        let server = bench_server::start(
            &dir.join("capacity"),
            Default::default(),
            Default::default(),
        )
        .await?;
        let capacity = http_ingest(server, half, &read_ids, args.clients).await?;
        let sustained = half.len() as f64 / capacity.elapsed.as_secs_f64();
        println!(
            "overload: sustained {sustained:.0} events/s ({} clients, closed loop); now twice that, open loop, for 8 s",
            args.clients
        );
        let rest = &lines[lines.len() / 4..];
        let o = bench_overload::run(&dir.join("overload"), rest, &read_ids, 2.0 * sustained, 8.0)
            .await?;
        println!("  {}", o.report());
    }
    if on("webhooks") {
        let burst = bench_hooks::run(&dir.join("hooks-burst"), 5_000, None).await?;
        row(
            "webhooks to a local receiver, 5000 changes at once",
            burst.deliveries,
            burst.elapsed,
        );
        println!("  (deliveries per second, one subscription, four sends in flight)");
        let pace = Duration::from_millis(10);
        let steady = bench_hooks::run(&dir.join("hooks-steady"), 200, Some(pace)).await?;
        println!(
            "webhook latency, one change every {pace:?}: receipt → receiver p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&steady.latencies, 0.50),
            percentile(&steady.latencies, 0.99),
            percentile(&steady.latencies, 1.0),
        );
    }
    if on("sse") {
        let clients = args.sse_clients;
        let burst = bench_sse::run(&dir.join("sse-burst"), clients, 2_000, None).await?;
        row(
            &format!("SSE fan-out, {clients} clients, 2000 changes at once"),
            burst.messages,
            burst.elapsed,
        );
        println!(
            "  (messages delivered, all clients together; clients cut off: {})",
            burst.cut_off
        );
        let pace = Duration::from_millis(10);
        let steady = bench_sse::run(&dir.join("sse-steady"), clients, 200, Some(pace)).await?;
        println!(
            "SSE latency, {clients} clients, one change every {pace:?}: receipt → client p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (cut off: {})",
            percentile(&steady.latencies, 0.50),
            percentile(&steady.latencies, 0.99),
            percentile(&steady.latencies, 1.0),
            steady.cut_off
        );
    }
    if on("pg") {
        println!();
        bench_pg::run(&lines, &read_ids, args.clients).await?;
    }
    if on("scale") {
        println!();
        bench_scale::run(args.scale_events).await?;
    }
    println!();
    println!("peak memory (VmHWM): {}", peak_memory());
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn row(what: &str, n: usize, took: Duration) {
    println!(
        "{what:<52} {:>10.0} events/s  ({n} in {:.2?})",
        n as f64 / took.as_secs_f64(),
        took
    );
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("waybill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn parse_only(lines: &[String]) -> Duration {
    let received = clock::now();
    let started = Instant::now();
    let ok = lines
        .iter()
        .filter(|l| wire::parse_one(l, received).is_ok())
        .count();
    let took = started.elapsed();
    assert_eq!(
        ok,
        lines.len(),
        "loadgen produced events the parser refuses"
    );
    took
}

/// Parse and commit in batches, a few in flight, as `waybill ingest` does.
fn bulk_ingest(dir: &Path, lines: &[String]) -> anyhow::Result<Duration> {
    let store = Store::open(dir, WriterOptions::default().for_bulk_load())?;
    let received = clock::now();
    let started = Instant::now();
    let mut in_flight: VecDeque<Pending> = VecDeque::new();
    let mut accepted = 0usize;
    let mut settle = |p: Pending| -> anyhow::Result<()> {
        accepted += p
            .blocking_recv()??
            .iter()
            .filter(|o| matches!(o, ItemOutcome::Accepted | ItemOutcome::Duplicate))
            .count();
        Ok(())
    };
    for chunk in lines.chunks(BULK_BATCH) {
        let events = chunk
            .iter()
            .map(|l| wire::parse_one(l, received))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        in_flight.push_back(store.enqueue(Submission::Events(events))?);
        if in_flight.len() >= BULK_IN_FLIGHT
            && let Some(p) = in_flight.pop_front()
        {
            settle(p)?;
        }
    }
    while let Some(p) = in_flight.pop_front() {
        settle(p)?;
    }
    anyhow::ensure!(
        accepted == lines.len(),
        "only {accepted} of {} events were accepted or duplicates",
        lines.len()
    );
    Ok(started.elapsed())
}

/// The layout a team would write first: what the embedded store is measured against.
fn naive_ingest(dir: &Path, lines: &[String]) -> anyhow::Result<Duration> {
    std::fs::create_dir_all(dir)?;
    let mut conn = rusqlite::Connection::open(dir.join("naive.sqlite3"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE events (event_id TEXT NOT NULL UNIQUE, order_id TEXT, carrier TEXT,
             tracking_number TEXT, status TEXT, occurred_at TEXT, location TEXT, description TEXT,
             raw_status TEXT);
         CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT, updated_at TEXT);",
    )?;
    let started = Instant::now();
    for chunk in lines.chunks(BULK_BATCH) {
        let tx = conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut up = tx.prepare_cached(
                "INSERT INTO orders VALUES (?1, ?2, ?3) ON CONFLICT (order_id)
                 DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
            )?;
            for l in chunk {
                let v: serde_json::Value = serde_json::from_str(l)?;
                let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
                let inserted = ins.execute(rusqlite::params![
                    s("event_id"),
                    s("order_id"),
                    s("carrier"),
                    s("tracking_number"),
                    s("status"),
                    s("occurred_at"),
                    s("location"),
                    s("description"),
                    s("raw_status"),
                ])?;
                if inserted == 1 {
                    up.execute(rusqlite::params![
                        s("order_id"),
                        s("status"),
                        s("occurred_at")
                    ])?;
                }
            }
        }
        tx.commit()?;
    }
    Ok(started.elapsed())
}

pub(crate) struct HttpResult {
    pub elapsed: Duration,
    /// Read latencies in milliseconds, sorted.
    pub latencies: Vec<f64>,
}

impl HttpResult {
    /// The line that describes the reads made during the ingest.
    pub fn reads(&self) -> String {
        format!(
            "reads during ingest: {} reads, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latencies.len(),
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99),
            percentile(&self.latencies, 1.0),
        )
    }
}

/// `clients` post `lines` to `server` in NDJSON batches of [`HTTP_BATCH`] while one
/// client reads the orders `read_ids`; stops the server at the end.
pub(crate) async fn http_ingest(
    server: bench_server::Running,
    lines: &[String],
    read_ids: &[String],
    clients: usize,
) -> anyhow::Result<HttpResult> {
    let addr = server.addr;
    let bodies: Arc<Vec<String>> = Arc::new(
        lines
            .chunks(HTTP_BATCH)
            .map(|c| {
                let mut s = c.join("\n");
                s.push('\n');
                s
            })
            .collect(),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients + 2)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let early_acked = Arc::new(AtomicUsize::new(0));
    let url = format!("http://{addr}/v1/events");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, bodies, next, early_acked) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            next.clone(),
            early_acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                loop {
                    let resp = bench_server::post_ndjson(&client, &url, KEY, body.clone()).await?;
                    match resp.status().as_u16() {
                        200 => {
                            if i < READ_SET_BATCHES {
                                early_acked.fetch_add(1, Ordering::Relaxed);
                            }
                            break;
                        }
                        // Backpressure: the queue is full; wait as told and send again.
                        503 => tokio::time::sleep(Duration::from_millis(20)).await,
                        s => anyhow::bail!("POST /v1/events answered {s}: {}", resp.text().await?),
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    let reader = {
        let (client, done) = (client.clone(), done.clone());
        let ids = read_ids.to_vec();
        let wanted = READ_SET_BATCHES.min(bodies.len());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0usize;
            while early_acked.load(Ordering::Relaxed) < wanted {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            while !done.load(Ordering::Relaxed) {
                let id = &ids[(i * 7919) % ids.len()];
                i += 1;
                let t = Instant::now();
                let resp = client
                    .get(format!("http://{addr}/v1/orders/{id}"))
                    .bearer_auth(KEY)
                    .send()
                    .await?;
                let status = resp.status();
                let _ = resp.bytes().await?;
                // Only a found order counts as a read: a fast 404 would flatter the figure.
                anyhow::ensure!(status == 200, "GET /v1/orders/{id} answered {status}");
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    };
    for t in tasks {
        t.await?.context("an ingest client failed")?;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut latencies = reader.await??;
    latencies.sort_by(f64::total_cmp);
    server.stop().await?;
    Ok(HttpResult { elapsed, latencies })
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn status_field(key: &str) -> Option<String> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_owned())
}

fn peak_memory() -> String {
    status_field("VmHWM:").unwrap_or_else(|| "unknown".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
