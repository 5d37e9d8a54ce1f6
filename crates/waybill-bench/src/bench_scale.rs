//! The scale-out part of `waybill bench` (`--phases scale`), on the PostgreSQL,
//! RabbitMQ and Redis named by `WAYBILL_DATABASE_URL`, `WAYBILL_AMQP_URL` and
//! `WAYBILL_REDIS_URL`. It makes its own virtual hosts (with `rabbitmqctl`, so run it
//! on the broker's machine) and schemas, and removes them afterwards.
//!
//! For 1, 2 and 4 workers, in one run:
//! - the raw ceiling of this RabbitMQ: the same messages through the same topology
//!   (consistent-hash exchange, quorum partitions), persistent, publisher-confirmed,
//!   consumed and acknowledged by as many consumers as there are workers, which do
//!   nothing else;
//! - end to end: a producer publishing while `waybill worker` processes apply to
//!   PostgreSQL, timed until the database holds every event.
//!
//! Then `GET /v1/orders/{id}` latency on two API nodes over the same database, one with
//! the Redis cache and one without.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::child::Child;
use anyhow::{Context, bail};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use waybill_broker::publish::{Message, Publisher, confirmed};
use waybill_broker::topology::{self, Topology};

const PARTITIONS: u16 = 8;
const KEY: &str = "bench-scale-admin-key-0001";

struct Urls {
    db: String,
    amqp: String,
    redis: Option<String>,
}

/// A virtual host and a schema for one measurement.
struct Place {
    vhost: String,
    amqp: String,
    schema: String,
    /// The database URL with the schema as the search path.
    db: String,
    admin_db: String,
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .context("running rabbitmqctl (the scale bench makes its own virtual hosts)")?;
    if !out.status.success() {
        bail!(
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

async fn pg(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

impl Place {
    async fn new(urls: &Urls, tag: &str) -> anyhow::Result<Self> {
        let name = format!("wbb_{}_{tag}", std::process::id());
        rabbitmqctl(&["add_vhost", &name])?;
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"])?;
        pg(&urls.db)
            .await?
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await?;
        let base = urls
            .amqp
            .rsplit_once('/')
            .map_or(urls.amqp.as_str(), |(b, _)| b);
        let sep = if urls.db.contains('?') { '&' } else { '?' };
        Ok(Self {
            amqp: format!("{base}/{name}"),
            db: format!("{}{sep}options=-c%20search_path%3D{name}", urls.db),
            admin_db: urls.db.clone(),
            vhost: name.clone(),
            schema: name,
        })
    }

    async fn drop_all(self) {
        let _ = rabbitmqctl(&["delete_vhost", &self.vhost]);
        if let Ok(c) = pg(&self.admin_db).await {
            let _ = c
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
                .await;
        }
    }
}

/// `n` events: six for each of `n / 6` orders, interleaved as they would arrive.
fn workload(n: usize) -> Vec<(String, String)> {
    workload_of("B", n)
}

fn workload_of(tag: &str, n: usize) -> Vec<(String, String)> {
    let kinds = [
        "info_received",
        "picked_up",
        "in_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ];
    let orders = (n / 6).max(1);
    let mut out = Vec::with_capacity(orders * 6);
    for (k, kind) in kinds.iter().enumerate() {
        for o in 0..orders {
            let order = format!("{tag}-{o:07}");
            let body = serde_json::json!({
                "event_id": format!("{order}-{k}"),
                "order_id": order,
                "carrier": "sf-express",
                "tracking_number": format!("SF9{o:010}"),
                "status": kind,
                "occurred_at": format!("2026-11-{:02}T08:{:02}:00+08:00", k + 1, o % 60),
                "location": format!("分拨中心 {k}"),
            });
            out.push((order, body.to_string()));
        }
    }
    out
}

/// Publishes everything as fast as confirms come back (2,000 awaited at once).
async fn produce(amqp: &str, work: &[(String, String)]) -> anyhow::Result<()> {
    let conn = waybill_broker::connect(amqp, "bench-producer").await?;
    let p = Publisher::open(&conn).await?;
    topology::declare(p.channel(), &topology()).await?;
    for chunk in work.chunks(2000) {
        let mut pending = Vec::with_capacity(chunk.len());
        for (order, body) in chunk {
            pending.push(
                p.send(&Message {
                    exchange: topology::INTAKE,
                    routing_key: order,
                    body: body.as_bytes(),
                    content_type: "application/json",
                    message_id: None,
                    headers: Vec::new(),
                })
                .await?,
            );
        }
        for c in pending {
            confirmed(c).await?;
        }
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

fn topology() -> Topology {
    Topology {
        partitions: PARTITIONS,
        ..Topology::default()
    }
}

/// The raw ceiling: `consumers` consumers that only acknowledge, each on its share of
/// the partitions, while the producer publishes.
async fn raw(place: &Place, work: &[(String, String)], consumers: u16) -> anyhow::Result<Duration> {
    let conn = waybill_broker::connect(&place.amqp, "bench-raw").await?;
    topology::declare(&conn.create_channel().await?, &topology()).await?;
    let got = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..consumers {
        let ch = conn.create_channel().await?;
        ch.basic_qos(500, BasicQosOptions::default()).await?;
        for p in (0..PARTITIONS).filter(|p| p % consumers == c) {
            let mut consumer = ch
                .basic_consume(
                    topology::partition(p).as_str().into(),
                    format!("raw-{c}-{p}").as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            let got = got.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(d)) = consumer.next().await {
                    if d.acker.ack(BasicAckOptions::default()).await.is_err() {
                        return;
                    }
                    got.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    let started = Instant::now();
    produce(&place.amqp, work).await?;
    while got.load(Ordering::Relaxed) < work.len() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    for t in tasks {
        t.abort();
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(took)
}

/// A child process of this binary, its log drained; stopped (SIGTERM) when dropped.
fn node_env<'a>(place: &'a Place, redis: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("WAYBILL_DATABASE_URL", place.db.as_str()),
        ("WAYBILL_AMQP_URL", place.amqp.as_str()),
        ("WAYBILL_PARTITIONS", "8"),
        ("WAYBILL_API_KEYS", "admin:bench-scale-admin-key-0001"),
        ("WAYBILL_TRACKING_KEY", "bench-scale-tracking-key-01"),
        ("WAYBILL_REDIS_PREFIX", place.vhost.as_str()),
    ];
    if let Some(r) = redis {
        env.push(("WAYBILL_REDIS_URL", r));
    }
    env
}

/// What an end-to-end run took, and what it cost PostgreSQL.
struct EndToEnd {
    took: Duration,
    /// WAL written during the run.
    wal_bytes: f64,
    /// Tables and indexes afterwards.
    stored_bytes: f64,
    outbox_rows: i64,
    /// CPU seconds spent during the run by the workers, PostgreSQL and RabbitMQ
    /// (`None` where `/proc` could not say).
    cpu: Option<Cpu>,
    /// What the workers' own metrics say of their batches.
    batches: Batches,
}

/// The workers' committed batches, summed over them (from `/metrics`).
#[derive(Default)]
struct Batches {
    count: f64,
    events: f64,
    commit_seconds: f64,
}

impl Batches {
    /// Adds one worker's `/metrics` page.
    fn add(&mut self, page: &str) {
        let value = |name: &str| -> f64 {
            page.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(0.0)
        };
        self.count += value("waybill_worker_batches_total");
        self.events += value("waybill_worker_batch_events_total");
        self.commit_seconds += value("waybill_worker_commit_seconds_total");
    }
}

/// CPU seconds by who spent them.
#[derive(Clone, Copy)]
struct Cpu {
    workers: f64,
    postgres: f64,
    rabbitmq: f64,
}

/// Every process's CPU time (user + system, clock ticks) and command name, from /proc.
fn cpu_ticks() -> Option<std::collections::HashMap<u32, (String, u64)>> {
    let mut out = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state …`: the name may hold spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state is field 3, utime 14 and stime 15 (1-based).
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        let (Ok(u), Ok(s)) = (u.parse::<u64>(), s.parse::<u64>()) else {
            continue;
        };
        out.insert(pid, (comm, u + s));
    }
    Some(out)
}

/// What each group spent between two snapshots (a process that started in between
/// counts from zero; one that ended in between is missed).
fn cpu_between(
    before: &std::collections::HashMap<u32, (String, u64)>,
    after: &std::collections::HashMap<u32, (String, u64)>,
    workers: &[u32],
) -> Cpu {
    // Linux's USER_HZ, which `getconf CLK_TCK` reports: 100 on every common build.
    const TICKS: f64 = 100.0;
    let mut cpu = Cpu {
        workers: 0.0,
        postgres: 0.0,
        rabbitmq: 0.0,
    };
    for (pid, (comm, ticks)) in after {
        let spent = ticks.saturating_sub(before.get(pid).map_or(0, |b| b.1)) as f64 / TICKS;
        if workers.contains(pid) {
            cpu.workers += spent;
        } else if comm.starts_with("postgres") {
            cpu.postgres += spent;
        } else if comm.starts_with("beam") {
            cpu.rabbitmq += spent;
        }
    }
    cpu
}

/// End to end: `workers` processes apply while the producer publishes; timed until
/// PostgreSQL holds every event.
async fn end_to_end(
    place: &Place,
    work: &[(String, String)],
    workers: u16,
    data: &std::path::Path,
) -> anyhow::Result<EndToEnd> {
    let env = node_env(place, None);
    let mut children = Vec::new();
    let mut health = Vec::new();
    for i in 0..workers {
        let (index, of) = (i.to_string(), workers.to_string());
        let args = [
            "--data",
            data.to_str().context("data dir")?,
            "worker",
            "--index",
            &index,
            "--workers",
            &of,
        ];
        let (child, line) = Child::spawn(&args, &env, "worker started").await?;
        children.push(child);
        health.push(
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("health="))
                .context("the worker's health address")?
                .to_owned(),
        );
    }
    let db = pg(&place.db).await?;
    let lsn: String = db
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0);
    let pids: Vec<u32> = children.iter().filter_map(|c| c.pid()).collect();
    let cpu_before = cpu_ticks();
    let started = Instant::now();
    produce(&place.amqp, work).await?;
    loop {
        let n: i64 = db
            .query_one("SELECT count(*) FROM events", &[])
            .await?
            .get(0);
        if n as usize >= work.len() {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {n} of {} events applied after 10 minutes", work.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    // Before the workers stop: their PostgreSQL backends end with them.
    let cpu = match (&cpu_before, cpu_ticks()) {
        (Some(b), Some(a)) => Some(cpu_between(b, &a, &pids)),
        _ => None,
    };
    let mut batches = Batches::default();
    let http = reqwest::Client::new();
    for addr in &health {
        let page = http.get(format!("http://{addr}/metrics")).send().await?;
        batches.add(&page.text().await?);
    }
    for c in children {
        c.stop().await;
    }
    let wal_bytes: f64 = db
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::float8",
            &[&lsn],
        )
        .await?
        .get(0);
    let stored_bytes: f64 = db
        .query_one(
            "SELECT (pg_total_relation_size('events') + pg_total_relation_size('orders')
                   + pg_total_relation_size('shipments') + pg_total_relation_size('outbox'))::float8",
            &[],
        )
        .await?
        .get(0);
    let outbox_rows: i64 = db
        .query_one("SELECT count(*) FROM outbox", &[])
        .await?
        .get(0);
    Ok(EndToEnd {
        took,
        wal_bytes,
        stored_bytes,
        outbox_rows,
        cpu,
        batches,
    })
}

/// `GET /v1/orders/{id}` from 8 clients over `orders`, twice each: latencies in ms.
async fn query(base: &str, orders: &[String], rounds: usize) -> anyhow::Result<Vec<f64>> {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for c in 0..8 {
        let (http, base) = (http.clone(), base.to_owned());
        let mine: Vec<String> = orders.iter().skip(c).step_by(8).cloned().collect();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in 0..rounds {
                for o in &mine {
                    let t = Instant::now();
                    let r = http
                        .get(format!("{base}/v1/orders/{o}"))
                        .bearer_auth(KEY)
                        .send()
                        .await?;
                    let ok = r.status().is_success();
                    r.bytes().await?;
                    if !ok {
                        anyhow::bail!("GET {o} failed");
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by(f64::total_cmp);
    Ok(all)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

pub async fn run(events: usize) -> anyhow::Result<()> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let urls = Urls {
        db: var("WAYBILL_DATABASE_URL").context("the scale phase needs WAYBILL_DATABASE_URL")?,
        amqp: var("WAYBILL_AMQP_URL").context("the scale phase needs WAYBILL_AMQP_URL")?,
        redis: var("WAYBILL_REDIS_URL"),
    };
    let work = workload(events);
    let data = std::env::temp_dir().join(format!("waybill-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    println!(
        "scale-out: {} events ({} orders), {PARTITIONS} partitions, persistent + confirmed + acknowledged",
        work.len(),
        work.len() / 6
    );
    let mut last = None;
    for workers in [1u16, 2, 4] {
        let raw_place = Place::new(&urls, &format!("raw{workers}")).await?;
        let ceiling = raw(&raw_place, &work, workers).await?;
        raw_place.drop_all().await;
        let place = Place::new(&urls, &format!("e2e{workers}")).await?;
        let e2e = end_to_end(&place, &work, workers, &data).await?;
        let n = work.len() as f64;
        let (c, e) = (n / ceiling.as_secs_f64(), n / e2e.took.as_secs_f64());
        println!(
            "RabbitMQ → {workers} worker(s) → PostgreSQL     {e:>8.0} events/s  (raw RabbitMQ, {workers} consumer(s): {c:.0} msgs/s; ratio {:.2})",
            e / c
        );
        println!(
            "  PostgreSQL per event: {:.0} bytes of WAL, {:.0} bytes stored (tables + indexes), {:.2} outbox rows",
            e2e.wal_bytes / n,
            e2e.stored_bytes / n,
            e2e.outbox_rows as f64 / n
        );
        if let Some(cpu) = e2e.cpu {
            let us = |s: f64| s * 1e6 / n;
            let total = us(cpu.workers + cpu.postgres + cpu.rabbitmq);
            println!(
                "  CPU per event: workers {:.0} µs, PostgreSQL {:.0} µs, RabbitMQ {:.0} µs; {total:.0} µs in all, so about {:.0} events/s per core kept busy",
                us(cpu.workers),
                us(cpu.postgres),
                us(cpu.rabbitmq),
                1e6 / total
            );
        }
        let b = &e2e.batches;
        if b.count > 0.0 {
            println!(
                "  workers' batches: {:.0}, {:.0} events each on average, {:.1} ms to commit on average; commits took {:.0}% of the run per worker",
                b.count,
                b.events / b.count,
                b.commit_seconds * 1e3 / b.count,
                100.0 * b.commit_seconds / f64::from(workers) / e2e.took.as_secs_f64()
            );
        }
        if let Some(old) = last.replace(place) {
            Place::drop_all(old).await;
        }
    }
    let place = last.context("a measured place")?;
    let orders: Vec<String> = work.iter().take(2000).map(|(o, _)| o.clone()).collect();
    let mut rows = Vec::new();
    // Reads while two workers write other orders (new ones each time): the database is
    // busy, as it would be.
    for (label, redis) in [
        ("without Redis", None),
        ("with the Redis cache", urls.redis.as_deref()),
    ] {
        if label.starts_with("with ") && redis.is_none() {
            println!("(WAYBILL_REDIS_URL not set: no cached figures)");
            continue;
        }
        let env = node_env(&place, redis);
        let args = [
            "--data",
            data.to_str().context("data dir")?,
            "serve",
            "--addr",
            "127.0.0.1:0",
        ];
        let (node, addr) = Child::serve(&args, &env).await?;
        let base = format!("http://{addr}");
        query(&base, &orders, 1).await?; // warm: the cache fills, connections open
        let mut writers = Vec::new();
        for w in 0..2 {
            let (index, dir) = (w.to_string(), data.to_str().context("data dir")?);
            let args = ["--data", dir, "worker", "--index", &index, "--workers", "2"];
            writers.push(Child::spawn(&args, &env, "worker started").await?.0);
        }
        let amqp = place.amqp.clone();
        let load = workload_of(if redis.is_some() { "D" } else { "C" }, 12_000);
        let producer = tokio::spawn(async move { produce(&amqp, &load).await });
        let lat = query(&base, &orders, 3).await?;
        producer.await??;
        for w in writers {
            w.stop().await;
        }
        rows.push((label, lat));
        node.stop().await;
    }
    for (label, lat) in &rows {
        println!(
            "GET /v1/orders/{{id}} {label:<22} {} reads, p50 {:.2} ms, p99 {:.2} ms (8 clients, 2000 orders, 2 workers writing)",
            lat.len(),
            pct(lat, 0.5),
            pct(lat, 0.99)
        );
    }
    place.drop_all().await;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
