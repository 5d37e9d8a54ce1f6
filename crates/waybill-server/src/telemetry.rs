//! Prometheus metrics: names in base units, counters ending in `_total`, bounded labels
//! (the route template, never the raw path).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often the recorder's histograms are drained into their summaries.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide recorder once; later calls reuse it. A recorder installed
/// this way drains its histograms only when rendered or upkept: without a scraper,
/// every latency sample would be kept, so a thread upkeeps it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed");
        let upkept = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP);
                    upkept.run_upkeep();
                }
            })
            .expect("a thread can be spawned at start-up");
        handle
    })
}

pub fn render() -> String {
    install().render()
}

/// Counts requests and their latency by route template and status.
pub async fn track_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("waybill_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("waybill_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The method as a label: one of the standard methods, or `other`. A client may send
/// any token as its method, and every distinct label is a series kept for good.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", |m| m.as_str())
}

/// Counts ingest outcomes.
pub fn events(accepted: usize, duplicates: usize, rejected: usize) {
    metrics::counter!("waybill_events_total", "outcome" => "accepted").increment(accepted as u64);
    metrics::counter!("waybill_events_total", "outcome" => "duplicate")
        .increment(duplicates as u64);
    metrics::counter!("waybill_events_total", "outcome" => "rejected").increment(rejected as u64);
}

/// Counts provider pushes by what became of them: `accepted`, `quarantined`, `retry`
/// (not stored; the provider sends it again) or `unauthenticated`. `provider` is always
/// one of the known names, so the label stays bounded.
pub fn webhook(provider: &str, outcome: &'static str) {
    metrics::counter!("waybill_webhooks_total", "provider" => provider.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Counts status codes a provider sent that its mapping table does not know.
pub fn unknown_codes(provider: &str, n: usize) {
    if n > 0 {
        metrics::counter!("waybill_provider_unknown_codes_total", "provider" => provider.to_owned())
            .increment(n as u64);
    }
}

/// Counts webhook delivery attempts by result: `delivered`, `retry`, `failed`.
pub fn delivery(result: &'static str) {
    metrics::counter!("waybill_webhook_deliveries_total", "result" => result).increment(1);
}
