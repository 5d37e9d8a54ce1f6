//! `waybill soak`: a long run of the demo's kind of traffic against a `waybill serve`
//! child process, reported per interval, to show that the service stays flat — memory,
//! open files, the write-ahead log, latency — over hours, not only over a benchmark's
//! seconds.
//!
//! Alongside the ingest (loadgen rounds with fresh order ids, as `serve --demo` sends),
//! it keeps firehose streams open, opens and drops per-order streams (connections that
//! come and go, where a leaked descriptor would show), reads orders, and receives a
//! webhook subscription's deliveries. The child's figures come from its `/proc` entry
//! and its data directory. The child inherits this process's environment, so
//! `WAYBILL_CACHE_CAPACITY` and the rest of the server's settings apply to it.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::bench::percentile;
use crate::bench_server;
use crate::bench_sse::Counter;
use crate::child::Child;
use crate::loadgen::{LoadgenOptions, generate};

pub struct SoakOptions {
    pub minutes: f64,
    /// Events a second offered (in batches of [`BATCH`]).
    pub rate: f64,
    /// Firehose streams held open for the whole run.
    pub streams: usize,
    /// Seconds between reports.
    pub report_secs: u64,
    /// The child's data directory (a fresh temporary one by default).
    pub dir: Option<PathBuf>,
}

const KEY: &str = "soak-admin-key-0123456789abcdef";
const BATCH: usize = 20;
/// Reads a second, and per-order streams opened a second.
const READS_PER_SEC: u64 = 50;
const CHURN_PER_SEC: u64 = 2;
/// Order ids kept for the readers to pick from: the most recently sent.
const RECENT: usize = 2000;

#[derive(Default)]
struct Tally {
    /// Milliseconds, since the last report.
    ingest: Vec<f64>,
    reads: Vec<f64>,
}

#[derive(Default)]
struct Shared {
    tally: Mutex<Tally>,
    accepted: AtomicU64,
    /// Answers that were not 200, and requests that failed.
    errors: AtomicU64,
    hooks: AtomicU64,
    stream_messages: AtomicU64,
    reconnects: AtomicU64,
    churned: AtomicU64,
    recent: Mutex<VecDeque<String>>,
    stop: AtomicBool,
}

impl Shared {
    fn pick(&self, i: u64) -> Option<String> {
        let recent = self.recent.lock().expect("not poisoned");
        (!recent.is_empty()).then(|| recent[(i as usize * 7919) % recent.len()].clone())
    }

    fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// One interval's figures.
struct Row {
    at_secs: f64,
    rss_kb: u64,
    /// Of it, what no file backs (the heap): a leak shows here.
    anon_kb: u64,
    fds: usize,
    wal_bytes: u64,
    store_bytes: u64,
}

pub async fn run(o: SoakOptions) -> anyhow::Result<()> {
    anyhow::ensure!(o.minutes > 0.0, "--minutes must be more than 0");
    anyhow::ensure!(o.rate > 0.0, "--rate must be more than 0");
    anyhow::ensure!(o.report_secs > 0, "--report-secs must be more than 0");
    // A directory of our own is removed afterwards; one that was given is kept.
    let (dir, ours) = match &o.dir {
        Some(d) => (d.clone(), false),
        None => {
            let d = std::env::temp_dir().join(format!("waybill-soak-{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            (d, true)
        }
    };
    let shared = Arc::new(Shared::default());
    let hook_url = receive_webhooks(shared.clone()).await?;
    let data = dir.to_str().context("the data directory is not UTF-8")?;
    let (child, addr) = Child::serve(
        &["--data", data, "serve", "--addr", "127.0.0.1:0"],
        &[
            ("WAYBILL_API_KEYS", &format!("admin:{KEY}")),
            ("WAYBILL_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("WAYBILL_TRACKING_KEY", "soak-tracking-key-0123456789"),
        ],
    )
    .await?;
    let pid = child.pid().context("the server exited at once")?;
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    bench_server::subscribe(&client, &base, KEY, &hook_url).await?;

    let mut tasks = Vec::new();
    for _ in 0..o.streams {
        tasks.push(tokio::spawn(firehose(base.clone(), shared.clone())));
    }
    tasks.push(tokio::spawn(churn(base.clone(), shared.clone())));
    tasks.push(tokio::spawn(read(
        client.clone(),
        base.clone(),
        shared.clone(),
    )));
    tasks.push(tokio::spawn(ingest(
        client.clone(),
        base.clone(),
        shared.clone(),
        o.rate,
    )));

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "soak: {} min against {base} (pid {pid}, data {data}): {} events/s offered, {} streams, {READS_PER_SEC} reads/s, {CHURN_PER_SEC} per-order streams/s, one webhook subscription",
        o.minutes, o.rate, o.streams
    )?;
    writeln!(
        out,
        "{:>7} {:>9} {:>17} {:>17} {:>8} {:>9} {:>8} {:>8} {:>5} {:>8} {:>9} {:>6}",
        "minute",
        "events",
        "ingest p50/p99 ms",
        "reads p50/p99 ms",
        "webhooks",
        "streamed",
        "rss MB",
        "anon MB",
        "fds",
        "wal MB",
        "store MB",
        "errors"
    )?;
    let started = Instant::now();
    let total = Duration::from_secs_f64(o.minutes * 60.0);
    let mut rows = Vec::new();
    let (mut all_ingest, mut all_reads) = (Vec::new(), Vec::new());
    while started.elapsed() < total {
        let left = total.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(o.report_secs))).await;
        let Tally {
            mut ingest,
            mut reads,
        } = std::mem::take(&mut *shared.tally.lock().expect("not poisoned"));
        ingest.sort_by(f64::total_cmp);
        reads.sort_by(f64::total_cmp);
        let row = sample(pid, &dir, started.elapsed().as_secs_f64())?;
        writeln!(
            out,
            "{:>7.1} {:>9} {:>17} {:>17} {:>8} {:>9} {:>8.1} {:>8.1} {:>5} {:>8.1} {:>9.1} {:>6}",
            row.at_secs / 60.0,
            shared.accepted.load(Ordering::Relaxed),
            format!(
                "{:.2}/{:.2}",
                percentile(&ingest, 0.5),
                percentile(&ingest, 0.99)
            ),
            format!(
                "{:.2}/{:.2}",
                percentile(&reads, 0.5),
                percentile(&reads, 0.99)
            ),
            shared.hooks.load(Ordering::Relaxed),
            shared.stream_messages.load(Ordering::Relaxed),
            row.rss_kb as f64 / 1024.0,
            row.anon_kb as f64 / 1024.0,
            row.fds,
            mb(row.wal_bytes),
            mb(row.store_bytes),
            shared.errors.load(Ordering::Relaxed),
        )?;
        out.flush()?;
        all_ingest.extend(ingest);
        all_reads.extend(reads);
        rows.push(row);
    }
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    child.stop().await;
    all_ingest.sort_by(f64::total_cmp);
    all_reads.sort_by(f64::total_cmp);
    summarise(&mut out, &rows, &shared, &all_ingest, &all_reads)?;
    if ours {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn summarise(
    out: &mut impl Write,
    rows: &[Row],
    shared: &Shared,
    ingest: &[f64],
    reads: &[f64],
) -> anyhow::Result<()> {
    // The first quarter is warm-up: caches fill, the log reaches its checkpoint size.
    let warm = &rows[(rows.len() / 4).min(rows.len() - 1)..];
    let rss: Vec<u64> = warm.iter().map(|r| r.rss_kb).collect();
    let (lo, hi) = (
        *rss.iter().min().expect("a row"),
        *rss.iter().max().expect("a row"),
    );
    let spread = hi as f64 / lo.max(1) as f64 - 1.0;
    let anon: Vec<u64> = warm.iter().map(|r| r.anon_kb).collect();
    let (anon_lo, anon_hi) = (
        *anon.iter().min().expect("a row"),
        *anon.iter().max().expect("a row"),
    );
    let fds: Vec<usize> = warm.iter().map(|r| r.fds).collect();
    let (first_fds, last_fds) = (fds[0], fds[fds.len() - 1]);
    let (fd_lo, fd_hi) = (
        *fds.iter().min().expect("a row"),
        *fds.iter().max().expect("a row"),
    );
    let errors = shared.errors.load(Ordering::Relaxed);
    writeln!(
        out,
        "\nafter warm-up (from minute {:.1}, {} reports):",
        warm[0].at_secs / 60.0,
        warm.len()
    )?;
    writeln!(
        out,
        "  rss {:.1}..{:.1} MB, spread {:.1}% (flat within 10%: {})",
        lo as f64 / 1024.0,
        hi as f64 / 1024.0,
        spread * 100.0,
        if spread <= 0.10 { "yes" } else { "no" }
    )?;
    writeln!(
        out,
        "  of it anonymous (the heap) {:.1}..{:.1} MB, spread {:.1}%",
        anon_lo as f64 / 1024.0,
        anon_hi as f64 / 1024.0,
        (anon_hi as f64 / anon_lo.max(1) as f64 - 1.0) * 100.0
    )?;
    writeln!(
        out,
        "  open files {fd_lo}..{fd_hi}, first {first_fds}, last {last_fds} (grew: {})",
        if last_fds > first_fds { "yes" } else { "no" }
    )?;
    writeln!(
        out,
        "  wal {:.1}..{:.1} MB",
        mb(warm.iter().map(|r| r.wal_bytes).min().unwrap_or(0)),
        mb(warm.iter().map(|r| r.wal_bytes).max().unwrap_or(0))
    )?;
    writeln!(
        out,
        "whole run: {} events accepted, {} ingest requests p50 {:.2} ms p99 {:.2} ms max {:.2} ms; {} reads p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        shared.accepted.load(Ordering::Relaxed),
        ingest.len(),
        percentile(ingest, 0.5),
        percentile(ingest, 0.99),
        ingest.last().copied().unwrap_or(f64::NAN),
        reads.len(),
        percentile(reads, 0.5),
        percentile(reads, 0.99),
        reads.last().copied().unwrap_or(f64::NAN),
    )?;
    writeln!(
        out,
        "  {} webhooks received, {} stream messages, {} stream reconnects, {} per-order streams opened and dropped, {errors} errors",
        shared.hooks.load(Ordering::Relaxed),
        shared.stream_messages.load(Ordering::Relaxed),
        shared.reconnects.load(Ordering::Relaxed),
        shared.churned.load(Ordering::Relaxed),
    )?;
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The child's resident memory and open descriptors, and the data directory's sizes.
fn sample(pid: u32, dir: &Path, at_secs: f64) -> anyhow::Result<Row> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("the server is gone")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("{name} in /proc/PID/status"))
    };
    let (rss_kb, anon_kb) = (field("VmRSS:")?, field("RssAnon:")?);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    let wal_bytes = std::fs::metadata(dir.join("waybill.sqlite3-wal")).map_or(0, |m| m.len());
    Ok(Row {
        at_secs,
        rss_kb,
        anon_kb,
        fds,
        wal_bytes,
        store_bytes: size_of(dir),
    })
}

fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => size_of(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Loadgen rounds of 200 orders with fresh ids, timelines ending before now, sent at
/// `rate` events a second.
async fn ingest(
    client: reqwest::Client,
    base: String,
    shared: Arc<Shared>,
    rate: f64,
) -> anyhow::Result<()> {
    let url = format!("{base}/v1/events");
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(BATCH as f64 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 1u64.. {
        let now = jiff::Timestamp::now();
        let events = generate(&LoadgenOptions {
            orders: 200,
            seed: round,
            start: now - jiff::SignedDuration::from_hours(24 * 15),
            spread: jiff::SignedDuration::from_hours(24),
            ..LoadgenOptions::default()
        });
        for chunk in events.chunks(BATCH) {
            ticker.tick().await;
            let mut body = String::new();
            let mut ids = Vec::with_capacity(chunk.len());
            for e in chunk {
                let mut e = e.clone();
                e.order_id = format!("SOAK{round}-{}", e.order_id);
                e.event_id = format!("soak{round}-{}", e.event_id);
                body.push_str(&serde_json::to_string(&e)?);
                body.push('\n');
                ids.push(e.order_id);
            }
            let t = Instant::now();
            let resp = bench_server::post_ndjson(&client, &url, KEY, body).await;
            let report = match resp {
                Ok(r) if r.status() == 200 => r.json::<serde_json::Value>().await.ok(),
                _ => None,
            };
            let Some(report) = report else {
                shared.error();
                continue;
            };
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            shared.tally.lock().expect("not poisoned").ingest.push(ms);
            shared
                .accepted
                .fetch_add(report["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
            let mut recent = shared.recent.lock().expect("not poisoned");
            recent.extend(ids);
            while recent.len() > RECENT {
                recent.pop_front();
            }
        }
    }
    Ok(())
}

/// `GET /v1/orders/{id}` of recently sent orders.
async fn read(client: reqwest::Client, base: String, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / READS_PER_SEC));
    for i in 0u64.. {
        ticker.tick().await;
        let Some(id) = shared.pick(i) else { continue };
        let t = Instant::now();
        let resp = client
            .get(format!("{base}/v1/orders/{id}"))
            .bearer_auth(KEY)
            .send()
            .await;
        let read = match resp {
            Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
            _ => false,
        };
        if read {
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            shared.tally.lock().expect("not poisoned").reads.push(ms);
        } else {
            shared.error();
        }
    }
    Ok(())
}

/// A firehose stream held open, reopened if it ends.
async fn firehose(base: String, shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/stream?types=order.status_changed");
    while !shared.stop.load(Ordering::Relaxed) {
        if let Ok(mut resp) = client.get(&url).bearer_auth(KEY).send().await
            && resp.status() == 200
        {
            let mut counter = Counter::default();
            while let Ok(Some(chunk)) = resp.chunk().await {
                let before = counter.messages;
                counter.feed(&chunk);
                shared
                    .stream_messages
                    .fetch_add((counter.messages - before) as u64, Ordering::Relaxed);
            }
        }
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

/// Per-order streams opened, read until their first message, and dropped, each on a
/// new connection: what leaks a descriptor per connection would show here.
async fn churn(base: String, shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / CHURN_PER_SEC));
    for i in 0u64.. {
        ticker.tick().await;
        let Some(id) = shared.pick(i * 31) else {
            continue;
        };
        let opened = client
            .get(format!("{base}/v1/orders/{id}/stream"))
            .bearer_auth(KEY)
            .send()
            .await;
        match opened {
            Ok(mut r) if r.status() == 200 => {
                let first = tokio::time::timeout(Duration::from_secs(2), r.chunk()).await;
                if matches!(first, Ok(Ok(Some(_)))) {
                    shared.churned.fetch_add(1, Ordering::Relaxed);
                } else {
                    shared.error();
                }
            }
            _ => shared.error(),
        }
    }
    Ok(())
}

/// A receiver in this process that answers every delivery 204 and counts it; returns
/// its URL.
async fn receive_webhooks(shared: Arc<Shared>) -> anyhow::Result<String> {
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let shared = shared.clone();
            async move {
                shared.hooks.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    Ok(url)
}
