//! `GET /v1/orders/{order_id}/stream` and `GET /v1/stream`: server-sent events of the
//! domain events, resumable with `Last-Event-ID` (see `streams`).

use crate::auth::{Authorized, needs};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{KeepAlive, Sse};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::{ApiError, Problem};
use crate::streams::{self, Scope, TypeFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(order_stream))
        .routes(routes!(firehose))
}

/// The `Last-Event-ID` a reconnecting client sends; a bad one is the client's error.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(waybill_formats::tokens::last_event_id)
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadQuery("Last-Event-ID must be an id this server sent".into())
            }),
    }
}

fn sse(state: &AppState, scope: Scope, last: Option<i64>) -> impl IntoResponse + use<> {
    Sse::new(streams::stream(&state.engines.hub, scope, last))
        .keep_alive(KeepAlive::new().interval(state.engines.hub.settings.heartbeat))
}

/// Live updates of one order, as server-sent events.
///
/// Each message is a domain event (`order.status_changed`, `shipment.status_changed`,
/// `shipment.delivered`, …) with `id:` set to its outbox id and the JSON of
/// `DomainEventView` as data. Reconnect with `Last-Event-ID` to resume exactly after the
/// last message received. A new stream starts with a `ready` message whose id is the
/// resume point. A client that falls too far behind gets a `lagged` message and the
/// stream ends; it reconnects with `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/orders/{order_id}/stream", tag = "streams",
    security(("bearer" = [])),
    params(
        ("order_id" = String, Path, description = "The merchant's order id"),
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this id"),
    ),
    responses(
        (status = 200, description = "text/event-stream of DomainEventView", content_type = "text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn order_stream(
    State(state): State<AppState>,
    _: Authorized<needs::Read>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let order_id = path
        .map(|Path(id)| id)
        .map_err(|e| ApiError::BadQuery(format!("the order id in the path: {}", e.body_text())))?;
    let last = last_event_id(&headers)?;
    let id = order_id.clone();
    if state.store.order(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no order {order_id:?}")));
    }
    Ok(sse(&state, Scope::Order(order_id), last))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FirehoseQuery {
    /// Comma-separated event types; `shipment.*` style prefixes and `*` allowed.
    #[param(schema_with = waybill_formats::schema::change_type_list)]
    types: Option<String>,
}

/// Every domain event, as server-sent events (`admin` only).
#[utoipa::path(get, path = "/v1/stream", tag = "streams",
    security(("bearer" = [])),
    params(
        FirehoseQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this id"),
    ),
    responses(
        (status = 200, description = "text/event-stream of DomainEventView", content_type = "text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn firehose(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    headers: HeaderMap,
    query: Result<Query<FirehoseQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let types = TypeFilter::parse(q.types.as_deref().unwrap_or("")).map_err(ApiError::BadQuery)?;
    let last = last_event_id(&headers)?;
    Ok(sse(&state, Scope::All(types), last))
}
