//! The PostgreSQL part of `waybill bench` (`--phases pg`), on the database named by
//! `WAYBILL_DATABASE_URL`: the store on its own against the layout a team would write
//! first, in one run, each in a fresh schema it drops afterwards.
//!
//! - the naive layout: a table of events with a unique text `event_id` and an order
//!   upsert, one transaction per batch of 100 and of 10,000 (`INSERT … SELECT FROM
//!   UNNEST … ON CONFLICT DO NOTHING`, then the orders of the rows it took), committed
//!   with the database's default durability (`synchronous_commit = on`), as the store
//!   is;
//! - the store (`Store::submit`: the log, shipments, orders, the outbox, timeline
//!   order and the state machine) from 1 and from 4 concurrent writers, in batches of
//!   100 and of 1,000, with the WAL each event cost;
//! - an API node on the store: concurrent clients posting NDJSON batches of 100 over
//!   HTTP (the store group-commits them), against the naive layout's batches of 100,
//!   with the latency of reads made meanwhile.

use std::time::{Duration, Instant};

use anyhow::Context;
use waybill_core::TrackingEvent;
use waybill_store::{ItemOutcome, PgOptions, Store, Submission};

use crate::bench_server;

/// Events each configuration takes (the first ones of the workload).
const EVENTS: usize = 20_000;
/// Each configuration runs this many times, each right after its naive baseline: the
/// naive batches of 100 are bound by the commit's flush, which on a shared machine
/// swings by a factor of three within minutes.
const ROUNDS: usize = 3;

/// A rate and the WAL it wrote.
pub struct Rate {
    pub events: usize,
    pub took: Duration,
    pub wal_per_event: f64,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.took.as_secs_f64()
    }
}

async fn client(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to WAYBILL_DATABASE_URL")?;
    tokio::spawn(conn);
    Ok(client)
}

async fn wal(c: &tokio_postgres::Client) -> anyhow::Result<String> {
    Ok(c.query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0))
}

async fn wal_since(c: &tokio_postgres::Client, from: &str) -> anyhow::Result<f64> {
    Ok(c.query_one(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::float8",
        &[&from],
    )
    .await?
    .get(0))
}

/// A schema of its own for one configuration, dropped afterwards.
struct Schema {
    admin: tokio_postgres::Client,
    name: String,
}

impl Schema {
    async fn new(url: &str, tag: &str) -> anyhow::Result<Self> {
        let admin = client(url).await?;
        let name = format!("wbpg_{}_{tag}", std::process::id());
        admin
            .batch_execute(&format!(
                "SET client_min_messages = warning;
                 DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .await?;
        Ok(Self { admin, name })
    }

    async fn drop(self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .await;
    }
}

fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// The naive layout, in batches of `batch`.
async fn naive(url: &str, events: &[TrackingEvent], batch: usize) -> anyhow::Result<Rate> {
    let schema = Schema::new(url, &format!("naive{batch}")).await?;
    let mut c = client(&with_search_path(url, &schema.name)).await?;
    c.batch_execute(
        "CREATE TABLE events (event_id TEXT NOT NULL UNIQUE, order_id TEXT, carrier TEXT,
             tracking_number TEXT, status TEXT, occurred_at BIGINT, location TEXT,
             description TEXT, raw_status TEXT);
         CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT, updated_at BIGINT);",
    )
    .await?;
    let from = wal(&schema.admin).await?;
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        let col = |f: &dyn Fn(&TrackingEvent) -> Option<String>| -> Vec<Option<String>> {
            chunk.iter().map(f).collect()
        };
        let id = col(&|e| Some(e.event_id.clone()));
        let order = col(&|e| e.order_id.as_ref().map(ToString::to_string));
        let carrier = col(&|e| e.tracking.as_ref().map(|t| t.carrier.to_string()));
        let number = col(&|e| e.tracking.as_ref().map(|t| t.tracking_number.to_string()));
        let status = col(&|e| Some(e.kind.as_str().to_owned()));
        let at: Vec<i64> = chunk.iter().map(|e| e.occurred_at.as_micros()).collect();
        let location = col(&|e| e.location.clone());
        let description = col(&|e| e.description.clone());
        let raw = col(&|e| e.raw_status.clone());
        let tx = c.transaction().await?;
        let taken = tx
            .query(
                "INSERT INTO events
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[])
                 ON CONFLICT (event_id) DO NOTHING
                 RETURNING order_id, status, occurred_at",
                &[
                    &id,
                    &order,
                    &carrier,
                    &number,
                    &status,
                    &at,
                    &location,
                    &description,
                    &raw,
                ],
            )
            .await?;
        // One row per order in one statement: the latest of the batch wins.
        let mut latest: std::collections::HashMap<String, (String, i64)> = Default::default();
        for r in &taken {
            let (Some(o), s, t): (Option<String>, String, i64) = (r.get(0), r.get(1), r.get(2))
            else {
                continue;
            };
            let e = latest.entry(o).or_insert((s.clone(), t));
            if t >= e.1 {
                *e = (s, t);
            }
        }
        let (ids, rest): (Vec<String>, Vec<(String, i64)>) = latest.into_iter().unzip();
        let (statuses, times): (Vec<String>, Vec<i64>) = rest.into_iter().unzip();
        tx.execute(
            "INSERT INTO orders SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])
             ON CONFLICT (order_id) DO UPDATE
                 SET status = excluded.status, updated_at = excluded.updated_at
                 WHERE orders.updated_at <= excluded.updated_at",
            &[&ids, &statuses, &times],
        )
        .await?;
        tx.commit().await?;
    }
    let took = started.elapsed();
    let wal = wal_since(&schema.admin, &from).await?;
    schema.drop().await;
    Ok(Rate {
        events: events.len(),
        took,
        wal_per_event: wal / events.len() as f64,
    })
}

/// The store, `writers` submitting batches of `batch` at once.
async fn store(
    url: &str,
    events: &[TrackingEvent],
    batch: usize,
    writers: usize,
) -> anyhow::Result<Rate> {
    let schema = Schema::new(url, &format!("store{batch}x{writers}")).await?;
    let mut options = PgOptions::new(url);
    options.schema = Some(schema.name.clone());
    options.pool_size = writers.max(1) * 2;
    let store = Store::connect(&options).await?;
    let batches: Vec<Vec<TrackingEvent>> = events.chunks(batch).map(<[_]>::to_vec).collect();
    let from = wal(&schema.admin).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mine: Vec<Vec<TrackingEvent>> = batches
            .iter()
            .enumerate()
            .filter(|(i, _)| i % writers == w)
            .map(|(_, b)| b.clone())
            .collect();
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0usize;
            for b in mine {
                let out = store.submit(Submission::Events(b)).await?;
                accepted += out
                    .iter()
                    // The workload re-sends some events, as carriers do.
                    .filter(|o| matches!(o, ItemOutcome::Accepted | ItemOutcome::Duplicate))
                    .count();
            }
            anyhow::Ok(accepted)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    let took = started.elapsed();
    anyhow::ensure!(
        accepted == events.len(),
        "the store took {accepted} of {} events",
        events.len()
    );
    let wal = wal_since(&schema.admin, &from).await?;
    drop(store);
    schema.drop().await;
    Ok(Rate {
        events: events.len(),
        took,
        wal_per_event: wal / events.len() as f64,
    })
}

/// An API node on the store: `clients` post NDJSON batches of 100 over HTTP while one
/// reads orders; the rate, the WAL and the reads.
async fn http(
    url: &str,
    lines: &[String],
    read_ids: &[String],
    clients: usize,
) -> anyhow::Result<(Rate, crate::bench::HttpResult)> {
    let schema = Schema::new(url, "http").await?;
    let mut options = PgOptions::new(url);
    options.schema = Some(schema.name.clone());
    let store = Store::connect(&options).await?;
    let server = bench_server::serve(store, Default::default(), Default::default()).await?;
    let from = wal(&schema.admin).await?;
    let result = crate::bench::http_ingest(server, lines, read_ids, clients).await?;
    let wal = wal_since(&schema.admin, &from).await?;
    schema.drop().await;
    let rate = Rate {
        events: lines.len(),
        took: result.elapsed,
        wal_per_event: wal / lines.len() as f64,
    };
    Ok((rate, result))
}

/// Runs the phase over the first events of `lines` and prints its rows; the HTTP row
/// reads the orders `read_ids` meanwhile.
pub async fn run(lines: &[String], read_ids: &[String], clients: usize) -> anyhow::Result<()> {
    let url = std::env::var("WAYBILL_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .context("the pg phase needs WAYBILL_DATABASE_URL")?;
    let received = waybill_formats::clock::now();
    let events: Vec<TrackingEvent> = lines
        .iter()
        .take(EVENTS)
        .map(|l| waybill_formats::wire::parse_one(l, received))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    println!(
        "PostgreSQL on its own: {} events each, fresh schemas, synchronous_commit on",
        events.len()
    );
    println!(
        "each configuration {ROUNDS} times, right after its naive baseline; medians, and the median of the ratios"
    );
    let line = |what: &str, rounds: &[(Rate, Rate)]| {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let rate = median(rounds.iter().map(|(_, r)| r.per_second()).collect());
        let wal = median(rounds.iter().map(|(_, r)| r.wal_per_event).collect());
        let naive = median(rounds.iter().map(|(n, _)| n.per_second()).collect());
        let ratio = median(
            rounds
                .iter()
                .map(|(n, r)| r.per_second() / n.per_second())
                .collect(),
        );
        println!(
            "{what:<52} {rate:>10.0} events/s  ({wal:.0} bytes of WAL per event; naive {naive:.0}/s; {ratio:.2}× the naive layout)"
        );
    };
    for (batch, writers, naive_batch) in [
        (100, 1, 100),
        (100, 4, 100),
        (1_000, 1, 10_000),
        (1_000, 4, 10_000),
    ] {
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let n = naive(&url, &events, naive_batch).await?;
            rounds.push((n, store(&url, &events, batch, writers).await?));
        }
        line(
            &format!("PostgreSQL store, {writers} writer(s), batches of {batch}"),
            &rounds,
        );
    }
    let lines = &lines[..lines.len().min(EVENTS)];
    let mut rounds = Vec::new();
    let mut reads = None;
    for _ in 0..ROUNDS {
        let n = naive(&url, &events, 100).await?;
        let (r, result) = http(&url, lines, read_ids, clients).await?;
        rounds.push((n, r));
        reads = Some(result);
    }
    line(
        &format!(
            "HTTP on PostgreSQL, batches of {}, {clients} clients",
            crate::bench::HTTP_BATCH
        ),
        &rounds,
    );
    if let Some(r) = reads {
        println!("  last round's {}", r.reads());
    }
    Ok(())
}
