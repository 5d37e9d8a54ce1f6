//! The `overload` phase: ingest offered at twice what the server sustains, open loop (a
//! batch every tick whether or not the last was answered, as a crowd of providers
//! would), while a reader asks for orders. What must hold: every answer is a 2xx or a
//! 503/429 carrying `Retry-After`, each within a bounded time, and reads stay fast;
//! what the server cannot take it sheds, it does not queue without end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::bench::{HTTP_BATCH, percentile};
use crate::bench_server::{self, KEY};

/// Requests of the open loop in flight at most; past it the generator counts a batch
/// it could not even send (it never waits, or the load would not be open).
const MAX_IN_FLIGHT: usize = 2048;

pub struct Overload {
    /// Events a second offered.
    pub offered: f64,
    /// Events a second the server acknowledged.
    pub accepted: f64,
    pub ok: usize,
    /// 503 or 429 with `Retry-After`.
    pub shed: usize,
    /// Anything else: an error, a status without `Retry-After`, a connection failure.
    pub other: usize,
    /// Batches the generator could not send (too many in flight).
    pub unsent: usize,
    /// Answer times of ingest requests, ms, sorted.
    pub answers: Vec<f64>,
    /// Read latencies, ms, sorted.
    pub reads: Vec<f64>,
}

/// Offers `lines` to a fresh server at `rate` events a second for at most `secs`
/// seconds, reading `read_ids` meanwhile.
pub async fn run(
    dir: &std::path::Path,
    lines: &[String],
    read_ids: &[String],
    rate: f64,
    secs: f64,
) -> anyhow::Result<Overload> {
    let server = bench_server::start(dir, Default::default(), Default::default()).await?;
    let addr = server.addr;
    let bodies: Vec<String> = lines
        .chunks(HTTP_BATCH)
        .map(|c| c.join("\n") + "\n")
        .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .timeout(Duration::from_secs(60))
        .build()?;
    let url = format!("http://{addr}/v1/events");
    let tick = Duration::from_secs_f64(HTTP_BATCH as f64 / rate);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (client, done) = (client.clone(), done.clone());
        let ids = read_ids.to_vec();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0usize;
            while !done.load(Ordering::Relaxed) {
                let id = &ids[(i * 7919) % ids.len()];
                i += 1;
                let t = Instant::now();
                let resp = client
                    .get(format!("http://{addr}/v1/orders/{id}"))
                    .bearer_auth(KEY)
                    .send()
                    .await?;
                let status = resp.status().as_u16();
                let _ = resp.bytes().await?;
                // An order not yet written answers 404, as fast: only reads that found
                // one count.
                if status == 200 {
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    };
    let started = Instant::now();
    let mut sends = Vec::new();
    let mut unsent = 0;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for body in bodies {
        ticker.tick().await;
        if started.elapsed().as_secs_f64() > secs {
            break;
        }
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            unsent += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (client, url, in_flight) = (client.clone(), url.clone(), in_flight.clone());
        sends.push(tokio::spawn(async move {
            let t = Instant::now();
            let resp = bench_server::post_ndjson(&client, &url, KEY, body).await;
            let answer = match resp {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r.headers().contains_key("retry-after");
                    let accepted = if status == 200 {
                        let report: serde_json::Value = r.json().await.unwrap_or_default();
                        report["accepted"].as_u64().unwrap_or(0)
                            + report["duplicates"].as_u64().unwrap_or(0)
                    } else {
                        let _ = r.bytes().await;
                        0
                    };
                    Some((status, retry_after, accepted))
                }
                Err(_) => None,
            };
            in_flight.fetch_sub(1, Ordering::Relaxed);
            (answer, t.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let offered_for = started.elapsed();
    let (mut ok, mut shed, mut other, mut acked) = (0, 0, 0, 0u64);
    let mut answers = Vec::with_capacity(sends.len());
    for s in sends {
        let (answer, ms) = s.await?;
        answers.push(ms);
        match answer {
            Some((200..=299, _, n)) => {
                ok += 1;
                acked += n;
            }
            Some((503 | 429, true, _)) => shed += 1,
            _ => other += 1,
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut reads = reader.await??;
    reads.sort_by(f64::total_cmp);
    answers.sort_by(f64::total_cmp);
    server.stop().await?;
    let offered_batches = ok + shed + other + unsent;
    Ok(Overload {
        offered: (offered_batches * HTTP_BATCH) as f64 / offered_for.as_secs_f64(),
        accepted: acked as f64 / elapsed.as_secs_f64(),
        ok,
        shed,
        other,
        unsent,
        answers,
        reads,
    })
}

impl Overload {
    pub fn report(&self) -> String {
        format!(
            "offered {:.0} events/s, acknowledged {:.0}/s; answers: {} 2xx, {} shed (503/429 with Retry-After), {} other, {} not sent (over {MAX_IN_FLIGHT} in flight); answer time p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; reads: {} found, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.offered,
            self.accepted,
            self.ok,
            self.shed,
            self.other,
            self.unsent,
            percentile(&self.answers, 0.5),
            percentile(&self.answers, 0.99),
            percentile(&self.answers, 1.0),
            self.reads.len(),
            percentile(&self.reads, 0.5),
            percentile(&self.reads, 0.99),
            percentile(&self.reads, 1.0),
        )
    }
}
