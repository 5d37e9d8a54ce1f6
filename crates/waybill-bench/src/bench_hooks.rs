//! The webhook part of `waybill bench`: deliveries to a fast local receiver.
//!
//! A receiver in this process answers 204 at once and notes when each message
//! arrives. One subscription (`order.status_changed`) points at it. Measured: how fast
//! a burst of changes is delivered (deliveries per second), and, at a steady rate, the
//! latency from Waybill receiving the event to the webhook arriving.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use waybill_server::delivery::DeliverySettings;

use crate::bench_server::{self, KEY};

pub struct Hooks {
    pub deliveries: usize,
    pub elapsed: Duration,
    /// Milliseconds, sorted.
    pub latencies: Vec<f64>,
}

/// `pace`: `None` posts `orders` changes in batches of 100 at once; `Some(p)` one at a
/// time, `p` apart.
pub async fn run(
    dir: &std::path::Path,
    orders: usize,
    pace: Option<Duration>,
) -> anyhow::Result<Hooks> {
    let arrivals: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let seen = arrivals.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                // Latency: Waybill's receipt of the causing event (in the body) → now.
                let lag = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v["timestamp"]
                            .as_str()
                            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    })
                    .and_then(|t| {
                        (jiff::Timestamp::now() - t)
                            .total(jiff::Unit::Millisecond)
                            .ok()
                    })
                    .unwrap_or(f64::NAN);
                seen.lock()
                    .expect("not poisoned")
                    .push((Instant::now(), lag));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", hook_listener.local_addr()?);
    let receiver_task = tokio::spawn(async move { axum::serve(hook_listener, receiver).await });

    let settings = DeliverySettings {
        allow_private: true,
        ..DeliverySettings::default()
    };
    let server = bench_server::start(dir, Default::default(), settings).await?;
    let addr = server.addr;
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    bench_server::subscribe(&client, &base, KEY, &hook_url).await?;

    let started = Instant::now();
    bench_server::post_changes(&client, &base, "hook", orders, pace).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().expect("not poisoned").len() < orders {
        anyhow::ensure!(
            Instant::now() < deadline,
            "deliveries did not all arrive in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = arrivals.lock().expect("not poisoned").clone();
    let last = got.iter().map(|(t, _)| *t).max().unwrap_or(started);
    let mut latencies: Vec<f64> = got
        .iter()
        .map(|(_, l)| *l)
        .filter(|l| l.is_finite())
        .collect();
    latencies.sort_by(f64::total_cmp);
    server.stop().await?;
    receiver_task.abort();
    Ok(Hooks {
        deliveries: got.len(),
        elapsed: last - started,
        latencies,
    })
}
