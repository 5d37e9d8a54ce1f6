//! `GET /v1/quarantine` and `POST /v1/quarantine/{id}/replay`: provider pushes that
//! authenticated but could not be read or applied, and their second chance. Both need
//! the `admin` role: the payloads may carry addresses and names.

use crate::auth::{Authorized, needs};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use waybill_formats::clock;
use waybill_providers::{Inbound, Provider};
use waybill_store::Submission;

use crate::AppState;
use crate::intake::CLOUDEVENTS;
use crate::problem::{ApiError, Problem};
use crate::routes::webhooks::{push_events, tally};
use crate::views::{QuarantineList, QuarantineView, ReplayReport};
use waybill_formats::cloudevents;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_quarantine))
        .routes(routes!(get_quarantined))
        .routes(routes!(replay))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items with an id above this one (from `next`).
    after: Option<i64>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// Include pushes already replayed (default: only waiting ones).
    all: Option<bool>,
}

/// List kept pushes, oldest first.
#[utoipa::path(get, path = "/v1/quarantine", tag = "quarantine",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = QuarantineList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_quarantine(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<QuarantineList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadQuery("limit must be between 1 and 500".into()));
    }
    let (after, waiting_only) = (q.after.unwrap_or(0), !q.all.unwrap_or(false));
    let mut rows = state
        .store
        .quarantine(after, limit + 1, waiting_only)
        .await?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map_or(after, |r| r.id)
    });
    Ok(Json(QuarantineList {
        items: rows
            .into_iter()
            .map(|r| QuarantineView::from_record(r, Some(PREVIEW_BYTES)))
            .collect(),
        next,
    }))
}

/// How much of each body the list shows; `GET /v1/quarantine/{id}` shows it whole.
const PREVIEW_BYTES: usize = 4096;

/// The id in the path, or 404: a path that names no kept push is not a bad request.
fn path_id(p: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let raw = p.map(|Path(id)| id).unwrap_or_default();
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no quarantined push {raw:?}")))
}

/// One kept push, with its whole body.
#[utoipa::path(get, path = "/v1/quarantine/{id}", tag = "quarantine",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The kept push's id")),
    responses(
        (status = 200, body = QuarantineView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_quarantined(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<QuarantineView>, ApiError> {
    let id = path_id(path)?;
    let kept = state
        .store
        .quarantined(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no quarantined push {id}")))?;
    Ok(Json(QuarantineView::from_record(kept, None)))
}

/// Run a kept push again (after a fix, or once its conflict is resolved).
///
/// The push is read again as the provider sent it (its signature was checked when it
/// arrived) and its events are stored; re-applied checkpoints are duplicates. It is
/// marked replayed only when nothing in it is refused; otherwise it keeps waiting and
/// the answer says why.
#[utoipa::path(post, path = "/v1/quarantine/{id}/replay", tag = "quarantine",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The kept push's id")),
    responses(
        (status = 200, body = ReplayReport),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already replayed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Still cannot be read or applied", body = Problem, content_type = "application/problem+json"),
    ))]
async fn replay(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ReplayReport>, ApiError> {
    let id = path_id(path)?;
    let kept = state
        .store
        .quarantined(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no quarantined push {id}")))?;
    if kept.replayed_at.is_some() {
        return Err(ApiError::Conflict(format!(
            "push {id} was already replayed"
        )));
    }
    let mut kept_headers = HeaderMap::new();
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&kept.headers) {
        for (k, v) in m {
            if let (Ok(name), Some(Ok(value))) = (
                k.parse::<axum::http::HeaderName>(),
                v.as_str().map(str::parse::<axum::http::HeaderValue>),
            ) {
                kept_headers.insert(name, value);
            }
        }
    }
    let now = clock::now();
    // The events were received when the push was, not when it is replayed.
    let received_at = kept.received_at;
    let still = |detail: String| ApiError::Invalid {
        detail,
        errors: Vec::new(),
    };
    let events = if kept.provider == CLOUDEVENTS {
        let mode = cloudevents::detect(super::header(&kept_headers))
            .ok_or_else(|| still("the kept headers name no CloudEvents mode".into()))?;
        let batch = cloudevents::parse(
            mode,
            super::header(&kept_headers),
            &kept.body,
            received_at,
            usize::MAX,
        )
        .map_err(|e| still(e.to_string()))?;
        batch
            .items
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(still)?
    } else {
        let provider = Provider::parse(&kept.provider)
            .ok_or_else(|| still(format!("unknown provider {:?}", kept.provider)))?;
        let settings = state
            .webhooks
            .get(provider.as_str())
            .ok_or_else(|| still(format!("provider {provider} is not configured")))?;
        let inbound = Inbound {
            headers: &kept_headers,
            body: &kept.body,
            path: "",
            received_at,
        };
        let push = provider
            .parse_push(&inbound, &settings.context)
            .map_err(|e| still(e.to_string()))?;
        push_events(push, received_at)
    };
    let outcomes = state
        .store
        .submit(Submission::Push {
            events,
            resolves: Some((id, now)),
        })
        .await?;
    let (accepted, duplicates, refused) = tally(&outcomes);
    if !refused.is_empty() {
        return Err(still(refused.join("; ")));
    }
    Ok(Json(ReplayReport {
        id,
        accepted,
        duplicates,
    }))
}
