//! The stream part of `waybill bench`: fan-out of live updates to many SSE clients.
//!
//! `clients` firehose streams (`/v1/stream?types=order.status_changed`) are opened on a
//! fresh store; then `orders` seed `ship` events are posted (each moves one order from
//! `created` to `shipped`: one message per client). Measured: how long until every
//! client has every message (messages delivered per second, all clients together), and,
//! on one client, the latency from Waybill receiving the event to the message arriving —
//! once with the changes posted in a burst (throughput), once one at a time at a steady
//! rate (latency).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use waybill_server::streams::StreamSettings;

use crate::bench_server::{self, KEY};

pub struct FanOut {
    pub messages: usize,
    pub elapsed: Duration,
    /// Milliseconds, sorted: receipt of the event → message at the client.
    pub latencies: Vec<f64>,
    pub cut_off: usize,
}

/// Counts complete SSE messages in a byte stream (comments excluded).
#[derive(Default)]
pub(crate) struct Counter {
    prev_newline: bool,
    mid_block: bool,
    comment: bool,
    pub(crate) messages: usize,
}

impl Counter {
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if !self.mid_block {
                self.comment = b == b':';
                self.mid_block = true;
            }
            if b == b'\n' {
                if self.prev_newline {
                    if !self.comment {
                        self.messages += 1;
                    }
                    self.mid_block = false;
                    self.prev_newline = false;
                    continue;
                }
                self.prev_newline = true;
            } else {
                self.prev_newline = false;
            }
        }
    }
}

/// `pace`: post the changes in batches of 100 as fast as answered (`None`: throughput),
/// or one at a time with this pause between them (latency at a steady rate).
pub async fn run(
    dir: &std::path::Path,
    clients: usize,
    orders: usize,
    pace: Option<Duration>,
) -> anyhow::Result<FanOut> {
    let streams = StreamSettings {
        // Every message of the run fits: nobody should be cut off here.
        buffer: orders * 2 + 1024,
        ..StreamSettings::default()
    };
    let server = bench_server::start(dir, streams, Default::default()).await?;
    let addr = server.addr;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let url = format!("http://{addr}/v1/stream?types=order.status_changed");
    let ready = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let resp = client.get(&url).bearer_auth(KEY).send().await?;
        anyhow::ensure!(resp.status() == 200, "stream answered {}", resp.status());
        let ready = ready.clone();
        tasks.push(tokio::spawn(read_stream(resp, i == 0, orders, ready)));
    }
    while ready.load(Ordering::Relaxed) < clients {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    bench_server::post_changes(&client, &format!("http://{addr}"), "fan", orders, pace).await?;
    let mut latencies = Vec::new();
    let mut cut_off = 0;
    for t in tasks {
        let (complete, lat) = t.await??;
        if !complete {
            cut_off += 1;
        }
        latencies.extend(lat);
    }
    let elapsed = started.elapsed();
    latencies.sort_by(f64::total_cmp);
    server.stop().await?;
    Ok(FanOut {
        messages: clients * orders,
        elapsed,
        latencies,
        cut_off,
    })
}

/// Reads one stream until it has `expected` messages (after `ready`); the first client
/// also measures latencies. Returns whether it got them all.
async fn read_stream(
    mut resp: reqwest::Response,
    measure: bool,
    expected: usize,
    ready: Arc<AtomicUsize>,
) -> anyhow::Result<(bool, Vec<f64>)> {
    let mut counter = Counter::default();
    let mut text = String::new();
    let mut latencies = Vec::new();
    let mut said_ready = false;
    loop {
        let chunk = match tokio::time::timeout(Duration::from_secs(30), resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => return Ok((false, latencies)),
        };
        counter.feed(&chunk);
        if measure {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                if let Some(ts) = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data:"))
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
                    .and_then(|v| v["timestamp"].as_str().map(str::to_owned))
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                {
                    let ms = (jiff::Timestamp::now() - ts).total(jiff::Unit::Millisecond)?;
                    latencies.push(ms);
                }
            }
        }
        if !said_ready && counter.messages >= 1 {
            said_ready = true;
            ready.fetch_add(1, Ordering::Relaxed);
        }
        // The first message is `ready`.
        if counter.messages > expected {
            return Ok((true, latencies));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_counted_across_chunk_boundaries_and_comments_skipped() {
        let mut c = Counter::default();
        c.feed(b"event: ready\nid: 1\ndata: {}\n");
        c.feed(b"\n:\n\nevent: x\ndata: {}\n\n");
        c.feed(b"event: y\ndata: {}\n\n:keep-alive\n\n");
        assert_eq!(c.messages, 3);
    }
}
