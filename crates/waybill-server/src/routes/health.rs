//! Liveness, readiness and metrics: unauthenticated, for orchestrators and scrapers.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::views::Health;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(livez))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

fn ok() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// The process is up.
#[utoipa::path(get, path = "/livez", tag = "operations",
    responses((status = 200, body = Health)))]
async fn livez() -> Json<Health> {
    ok()
}

/// Alias of `/livez`.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    ok()
}

/// The process can serve: the writer runs and the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.store.ready().await {
        (StatusCode::OK, ok())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
            }),
        )
    }
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("waybill_write_queue_events").set(state.store.queued_events() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render(),
    )
}
