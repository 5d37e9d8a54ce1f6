//! `serve --demo`: a steady stream of synthetic orders flowing into the running service,
//! so a newcomer sees orders move. Rounds of loadgen traffic are replayed at a gentle
//! pace, each round with fresh order ids.

use std::time::Duration;
use waybill_formats::clock;

use waybill_formats::wire;
use waybill_server::telemetry;
use waybill_store::{ItemOutcome, Store, Submission};

use waybill_bench::loadgen::{LoadgenOptions, generate};

/// Events per tick, and ticks per second: about 50 events a second.
const PER_TICK: usize = 5;
const TICK: Duration = Duration::from_millis(100);

pub async fn run(store: Store) {
    for round in 1u64.. {
        let now = jiff::Timestamp::from_microsecond(waybill_formats::clock::now().as_micros())
            .expect("the clock reads a representable time");
        let opts = LoadgenOptions {
            orders: 200,
            seed: round,
            // Loadgen's timelines run up to about 14 days past `start` (slow returns), so
            // starting 15 days back keeps every event in the past.
            start: now - jiff::SignedDuration::from_hours(24 * 15),
            spread: jiff::SignedDuration::from_hours(24),
            ..LoadgenOptions::default()
        };
        let events = generate(&opts);
        for chunk in events.chunks(PER_TICK) {
            let received = clock::now();
            let batch: Vec<_> = chunk
                .iter()
                .filter_map(|e| {
                    let mut e = e.clone();
                    e.order_id = format!("DEMO{round}-{}", e.order_id);
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
                    telemetry::events(accepted, outcomes.len() - accepted - rejected, rejected);
                }
                Err(e) => tracing::warn!(error = %e, "demo traffic paused"),
            }
            tokio::time::sleep(TICK).await;
        }
    }
}
