//! `serve --demo`: a steady stream of synthetic orders flowing into the running service,
//! so a newcomer sees orders move. Rounds of loadgen traffic are replayed at a gentle
//! pace, each round with fresh order ids.
//!
//! Restarted on the same data, it continues where it stopped: it resumes the last round
//! it had begun (found in the store), and what that round had already sent comes back
//! as duplicates, which cost no pause; so new orders move again within moments, not
//! after minutes of resent events.

use std::time::Duration;
use waybill_formats::clock;

use waybill_formats::wire;
use waybill_server::telemetry;
use waybill_store::{ItemOutcome, Store, Submission};

use waybill_bench::loadgen::{LoadgenOptions, WireEvent, generate};

/// Events per tick, and ticks per second: about 50 events a second.
const PER_TICK: usize = 5;
const TICK: Duration = Duration::from_millis(100);

/// The pause between ticks: `TICK`, or `WAYBILL_DEMO_TICK_MS` (the tests slow the demo
/// down so that a resent event would show as a pause).
fn tick() -> Duration {
    std::env::var("WAYBILL_DEMO_TICK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(TICK, Duration::from_millis)
}

/// Round `round`'s traffic, with its timelines ending before now.
fn round_events(round: u64) -> Vec<WireEvent> {
    let now = jiff::Timestamp::from_microsecond(clock::now().as_micros())
        .expect("the clock reads a representable time");
    generate(&LoadgenOptions {
        orders: 200,
        seed: round,
        // Loadgen's timelines run up to about 14 days past `start` (slow returns), so
        // starting 15 days back keeps every event in the past.
        start: now - jiff::SignedDuration::from_hours(24 * 15),
        spread: jiff::SignedDuration::from_hours(24),
        ..LoadgenOptions::default()
    })
}

fn order_id(round: u64, e: &WireEvent) -> String {
    format!("DEMO{round}-{}", e.order_id)
}

/// Whether round `round` had begun: its first event's order exists.
async fn begun(store: &Store, round: u64) -> bool {
    let Some(first) = round_events(round).into_iter().next() else {
        return false;
    };
    matches!(store.order(&order_id(round, &first)).await, Ok(Some(_)))
}

/// The last round begun (rounds begin in order), or 1 on fresh data.
async fn resume_at(store: &Store) -> u64 {
    if !begun(store, 1).await {
        return 1;
    }
    let (mut lo, mut hi) = (1, 2);
    while begun(store, hi).await {
        (lo, hi) = (hi, hi * 2);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if begun(store, mid).await {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

pub async fn run(store: Store) {
    let first = resume_at(&store).await;
    if first > 1 {
        tracing::info!(round = first, "demo traffic continues where it stopped");
    }
    let pause = tick();
    for round in first.. {
        let events = round_events(round);
        for chunk in events.chunks(PER_TICK) {
            let received = clock::now();
            let batch: Vec<_> = chunk
                .iter()
                .filter_map(|e| {
                    let mut e = e.clone();
                    e.order_id = order_id(round, &e);
                    e.event_id = format!("demo{round}-{}", e.event_id);
                    let json = serde_json::to_string(&e).ok()?;
                    wire::parse_one(&json, received).ok()
                })
                .collect();
            match store.submit(Submission::Events(batch)).await {
                // Counted like HTTP ingest, so /metrics shows the demo's traffic.
                Ok(outcomes) => {
                    let accepted = outcomes
                        .iter()
                        .filter(|o| **o == ItemOutcome::Accepted)
                        .count();
                    let rejected = outcomes
                        .iter()
                        .filter(|o| matches!(o, ItemOutcome::Rejected(_)))
                        .count();
                    let duplicates = outcomes.len() - accepted - rejected;
                    telemetry::events(accepted, duplicates, rejected);
                    // Sent before a restart: nothing moved, so no pause either.
                    if !outcomes.is_empty() && duplicates == outcomes.len() {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "demo traffic paused"),
            }
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Submits the first event of each of `rounds`, as the demo would have.
    async fn begin(store: &Store, rounds: impl Iterator<Item = u64>) {
        for round in rounds {
            let mut e = round_events(round).remove(0);
            e.order_id = order_id(round, &e);
            e.event_id = format!("demo{round}-{}", e.event_id);
            let ev = wire::parse_one(&serde_json::to_string(&e).unwrap(), clock::now()).unwrap();
            let out = store.submit(Submission::Events(vec![ev])).await.unwrap();
            assert_eq!(out, vec![ItemOutcome::Accepted]);
        }
    }

    #[tokio::test]
    async fn resumes_at_the_last_round_begun() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::cmd::store::embedded(dir.path(), Default::default()).unwrap();
        assert_eq!(resume_at(&store).await, 1);
        begin(&store, 1..=1).await;
        assert_eq!(resume_at(&store).await, 1);
        begin(&store, 2..=11).await;
        assert_eq!(resume_at(&store).await, 11);
        begin(&store, 12..=16).await;
        assert_eq!(resume_at(&store).await, 16);
    }
}
