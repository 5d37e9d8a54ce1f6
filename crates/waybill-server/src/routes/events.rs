//! `POST /v1/events`: canonical events, the seed's shape, one, an array or NDJSON.

use crate::auth::{Authorized, needs};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use waybill_formats::clock;
use waybill_store::{Counted, ItemOutcome, Submission};

use crate::problem::{ApiError, ItemError, Problem};
use crate::routes::read_body;
use crate::views::IngestReport;
use crate::{AppState, telemetry};
use waybill_formats::cloudevents;
use waybill_formats::wire::{self, EventIn};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_events))
}

/// Ingest tracking events. Answers after the accepted events are durable.
///
/// The body is one event, a JSON array of events, or NDJSON (`application/x-ndjson`);
/// or CloudEvents 1.0 carrying canonical events: structured
/// (`application/cloudevents+json`), batched (`application/cloudevents-batch+json`) or
/// binary (`ce-*` headers), deduplicated on `source` + `id`.
/// Each item is validated on its own: in a batch, bad items are listed with their index
/// and the good ones are accepted. Re-sent events (same `event_id`, or the same content
/// when no id is given) are counted as duplicates and change nothing.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    security(("bearer" = [])),
    request_body(content(
        (EventsBody = "application/json"),
        (EventIn<'_> = "application/x-ndjson"),
        (Object = "application/cloudevents+json"),
        (CloudEventsBatch = "application/cloudevents-batch+json")
    )),
    responses(
        (status = 200, description = "Durable; per-item report", body = IngestReport),
        (status = 400, description = "Malformed JSON or empty batch", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks the ingest role", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or batch too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported Content-Type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The event (or every item) was invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Write queue full; retry after the Retry-After delay", body = Problem, content_type = "application/problem+json"),
        (status = 507, description = "The server's disk is full; nothing was stored; retry after the Retry-After delay", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_events(
    State(state): State<AppState>,
    _: Authorized<needs::Ingest>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestReport>, ApiError> {
    let body = read_body(&state, body).await?;
    let max = state.limits.max_batch_items;
    let batch = match cloudevents::detect(super::header(&headers)) {
        Some(mode) => cloudevents::parse(mode, super::header(&headers), &body, clock::now(), max)?,
        None => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            wire::parse_events(content_type, &body, clock::now(), max)?
        }
    };
    store_events(&state, batch, Submission::Events)
        .await
        .map(Json)
}

/// Stores a parsed batch and reports per item. A batch whose every item was refused is
/// an error (422), with the items listed.
pub async fn store_events(
    state: &AppState,
    batch: wire::Batch,
    submission: impl FnOnce(Vec<waybill_core::TrackingEvent>) -> Submission,
) -> Result<IngestReport, ApiError> {
    let total = batch.items.len();
    let mut rejected = crate::problem::ItemError::of(&batch.items);
    let mut indices = Vec::with_capacity(total);
    let mut events = Vec::with_capacity(total);
    for (i, item) in batch.items.into_iter().enumerate() {
        if let Ok(ev) = item {
            indices.push(i);
            events.push(ev);
        }
    }
    let (mut accepted, mut duplicates) = (0, 0);
    if !events.is_empty() {
        let outcomes = state.store.submit(submission(events)).await?;
        for (i, out) in indices.into_iter().zip(outcomes) {
            match (out.counted(), out) {
                (_, ItemOutcome::Rejected(r)) => rejected.push(ItemError {
                    index: i,
                    error: r.to_string(),
                }),
                (Counted::Accepted, _) => accepted += 1,
                (_, _) => duplicates += 1,
            }
        }
        rejected.sort_by_key(|e| e.index);
    }
    telemetry::events(accepted, duplicates, rejected.len());
    if rejected.len() == total {
        let detail = if batch.single {
            rejected[0].error.clone()
        } else {
            format!("all {total} items were refused")
        };
        return Err(ApiError::Invalid {
            detail,
            errors: rejected,
        });
    }
    Ok(IngestReport {
        accepted,
        duplicates,
        rejected,
    })
}

/// `application/json`: one event, or an array of at least one (an empty batch is
/// refused, 400).
pub struct EventsBody;

impl utoipa::PartialSchema for EventsBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Schema};
        let one = || utoipa::openapi::Ref::from_schema_name("EventInput");
        Schema::OneOf(
            OneOfBuilder::new()
                .item(one())
                .item(ArrayBuilder::new().items(one()).min_items(Some(1)))
                .build(),
        )
        .into()
    }
}

impl utoipa::ToSchema for EventsBody {
    fn name() -> std::borrow::Cow<'static, str> {
        "EventsBody".into()
    }
}

/// `application/cloudevents-batch+json`: an array of at least one CloudEvent.
pub struct CloudEventsBatch;

impl utoipa::PartialSchema for CloudEventsBatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::Object))
            .min_items(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for CloudEventsBatch {
    fn name() -> std::borrow::Cow<'static, str> {
        "CloudEventsBatch".into()
    }
}
