//! `/v1/subscriptions`: outbound webhooks to merchant systems (`admin` only).
//!
//! A subscription names an endpoint URL and the domain event types it wants
//! (`shipment.*` style prefixes allowed). Its `whsec_` secret is shown when it is
//! created and when it is rotated, never in listings. Deliveries are made by the
//! engine in `delivery`, signed per the Standard Webhooks spec.

use crate::auth::{Authorized, needs};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine as _;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use waybill_formats::clock;
use waybill_store::{HookOp, ItemOutcome, NewSubscription, Submission, Subscription};

use crate::AppState;
use crate::delivery;
use crate::problem::{ApiError, Problem};
use crate::routes::{invalid, json_body, read_body};
use crate::streams::TypeFilter;
use waybill_formats::{schema, wire};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, delete_one))
        .routes(routes!(rotate))
        .routes(routes!(test))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
}

/// `POST /v1/subscriptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriptionIn {
    /// An http or https URL of at most 2048 bytes, whose host is a public address
    /// (unless the server allows private ones).
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "http://127.0.0.1:8081/hooks/waybill"
    )]
    pub url: String,
    /// Domain event types, e.g. `["shipment.*", "order.status_changed"]`; `["*"]` for all.
    #[schema(schema_with = event_types)]
    pub event_types: Vec<String>,
    /// At most 1024 bytes.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

fn event_types() -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(schema::change_type())
        .min_items(Some(1))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub created_at: String,
    /// Set when deliveries stopped (the endpoint answered `410 Gone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Only when created or rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl SubscriptionView {
    fn from_record(s: Subscription, show_secret: bool) -> Self {
        Self {
            id: s.id,
            url: crate::delivery::redacted(&s.url),
            event_types: s.event_types.split(',').map(str::to_owned).collect(),
            description: s.description,
            created_at: wire::format_instant(s.created_at.as_micros(), 0),
            disabled_at: s
                .disabled_at
                .map(|t| wire::format_instant(t.as_micros(), 0)),
            disabled_reason: s.disabled_reason,
            secret: show_secret.then_some(s.secret),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

fn path_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(id)| id)
        .map_err(|e| ApiError::BadQuery(format!("the id in the path: {}", e.body_text())))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no subscription {id:?}"))
}

fn new_secret() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

async fn find(state: &AppState, id: &str) -> Result<Subscription, ApiError> {
    let key = id.to_owned();
    state
        .store
        .subscription(&key)
        .await?
        .ok_or_else(|| not_found(id))
}

async fn hook(state: &AppState, op: HookOp) -> Result<ItemOutcome, ApiError> {
    let out = state.store.submit(Submission::Hook(op)).await?;
    Ok(out.into_iter().next().unwrap_or(ItemOutcome::Missing))
}

/// Subscribe an endpoint to domain events. The answer holds the `whsec_` secret that
/// signs every delivery; keep it, it is not shown again (rotate to get a new one).
#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions",
    security(("bearer" = [])),
    request_body = NewSubscriptionIn,
    responses(
        (status = 201, body = SubscriptionView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad URL (or a private address), unknown event type", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    body: Body,
) -> Result<(StatusCode, Json<SubscriptionView>), ApiError> {
    let body = read_body(&state, body).await?;
    let req: NewSubscriptionIn = json_body(&body)?;
    if req.url.len() > 2048 {
        return Err(invalid("url is longer than 2048 bytes"));
    }
    state
        .engines
        .deliveries
        .resolver
        .check(&req.url)
        .await
        .map_err(|e| invalid(format!("url: {e}")))?;
    if req.event_types.is_empty() {
        return Err(invalid(
            "event_types must name at least one type (or \"*\")",
        ));
    }
    let spec = req.event_types.join(",");
    if req
        .event_types
        .iter()
        .any(|t| t.contains(',') || t.trim().is_empty())
    {
        return Err(invalid("event_types: each entry is one type"));
    }
    TypeFilter::parse(&spec).map_err(|e| invalid(format!("event_types: {e}")))?;
    if req.description.as_ref().is_some_and(|d| d.len() > 1024) {
        return Err(invalid("description is longer than 1024 bytes"));
    }
    let id = format!("sub_{:016x}", rand::rng().random::<u64>());
    let new = NewSubscription {
        channel: waybill_store::Channel::Webhook,
        id: id.clone(),
        url: req.url,
        event_types: spec,
        description: req.description,
        secret: new_secret(),
        created_at: clock::now(),
    };
    hook(&state, HookOp::Create(new)).await?;
    let sub = find(&state, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(SubscriptionView::from_record(sub, true)),
    ))
}

/// Every subscription (secrets not shown).
#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SubscriptionList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
) -> Result<Json<SubscriptionList>, ApiError> {
    let subs = state.store.subscriptions().await?;
    Ok(Json(SubscriptionList {
        subscriptions: subs
            .into_iter()
            .map(|s| SubscriptionView::from_record(s, false))
            .collect(),
    }))
}

/// One subscription (its secret not shown).
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = SubscriptionView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_one(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let id = path_id(path)?;
    Ok(Json(SubscriptionView::from_record(
        find(&state, &id).await?,
        false,
    )))
}

/// Stop delivering to an endpoint; its delivery log goes with it.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_one(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(path)?;
    match hook(&state, HookOp::Delete(id.clone())).await? {
        ItemOutcome::Done => Ok(StatusCode::NO_CONTENT),
        _ => Err(not_found(&id)),
    }
}

/// How long the replaced secret keeps signing beside the new one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    /// Seconds, at most 604800 (7 days); 0 or absent: the old secret stops at once.
    #[serde(default, deserialize_with = "crate::routes::integral::u64")]
    #[schema(maximum = 604800)]
    pub overlap_seconds: u64,
}

/// The longest overlap a rotation may ask for.
const MAX_OVERLAP_SECONDS: u64 = 7 * 24 * 3600;

/// Replace the signing secret; the answer holds the new one. The old one stops
/// signing at once, or after `overlap_seconds`: until then every delivery carries
/// both signatures, so receivers can switch secrets at their own pace.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/rotate-secret", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateIn>, content_type = "application/json"),
    responses(
        (status = 200, body = SubscriptionView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn rotate(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<SubscriptionView>, ApiError> {
    let id = path_id(path)?;
    let body = read_body(&state, body).await?;
    // No body, or `null`, is the default: no overlap.
    let req: RotateIn = if body.iter().all(u8::is_ascii_whitespace) {
        RotateIn::default()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Null) => RotateIn::default(),
            _ => json_body(&body)?,
        }
    };
    if req.overlap_seconds > MAX_OVERLAP_SECONDS {
        return Err(invalid(format!(
            "overlap_seconds is at most {MAX_OVERLAP_SECONDS} (7 days)"
        )));
    }
    let previous_until = (req.overlap_seconds > 0).then(|| {
        waybill_core::Timestamp(clock::now().as_micros() + req.overlap_seconds as i64 * 1_000_000)
    });
    let op = HookOp::Rotate {
        id: id.clone(),
        secret: new_secret(),
        previous_until,
    };
    if hook(&state, op).await? != ItemOutcome::Done {
        return Err(not_found(&id));
    }
    Ok(Json(SubscriptionView::from_record(
        find(&state, &id).await?,
        true,
    )))
}

/// What a test send came to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    pub delivered: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub webhook_id: String,
}

/// Send a `webhook.test` message to the endpoint now, signed like any delivery, and
/// report its answer. Nothing is recorded.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/test", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = TestResult),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn test(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TestResult>, ApiError> {
    let id = path_id(path)?;
    let sub = find(&state, &id).await?;
    let webhook_id = format!("msg_test_{:016x}", rand::rng().random::<u64>());
    let body = serde_json::json!({
        "type": "webhook.test",
        "timestamp": wire::format_instant(clock::now().as_micros(), 0),
        "data": {"subscription_id": sub.id},
    })
    .to_string();
    let d = &state.engines.deliveries;
    let sent = delivery::send(
        &d.client,
        &d.resolver,
        &sub.url,
        &sub.signing_secrets(clock::now()),
        &webhook_id,
        body,
        &d.settings,
    )
    .await;
    Ok(Json(TestResult {
        delivered: sent.error.is_none(),
        status: sent.status,
        error: sent.error,
        webhook_id,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Deliveries with an id below this one (from `next`).
    before: Option<i64>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The domain event's id: the `webhook-id` is `msg_<event_id>`.
    pub event_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// When the next attempt is due (pending) or was given up.
    pub next_attempt_at: String,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

/// A subscription's delivery log, newest first.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/deliveries", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path), DeliveriesQuery),
    responses(
        (status = 200, body = DeliveryList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn deliveries(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let id = path_id(path)?;
    let Query(q) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadQuery("limit must be between 1 and 500".into()));
    }
    find(&state, &id).await?;
    let before = q.before.unwrap_or(i64::MAX);
    let mut rows = state.store.deliveries(&id, before, limit + 1).await?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map_or(0, |d| d.id)
    });
    let at = |t: waybill_core::Timestamp| wire::format_instant(t.as_micros(), 0);
    Ok(Json(DeliveryList {
        deliveries: rows
            .into_iter()
            .map(|d| DeliveryView {
                id: d.id,
                event_id: d.outbox_id,
                kind: d.kind.to_string(),
                state: d.state.as_str().to_owned(),
                attempts: d.attempts,
                last_status: d.last_status,
                last_error: d.last_error,
                next_attempt_at: at(d.next_attempt_at),
                delivered_at: d.delivered_at.map(at),
                created_at: at(d.created_at),
            })
            .collect(),
        next,
    }))
}

/// `POST /v1/subscriptions/{id}/redeliver`: one delivery, or all since a time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeliverIn {
    #[serde(default, deserialize_with = "crate::routes::integral::opt_i64")]
    pub delivery_id: Option<i64>,
    /// RFC 3339: every delivery created since then.
    pub since: Option<String>,
}

/// Written by hand: one of the two fields is needed (and not null), which derive cannot
/// say.
impl utoipa::PartialSchema for RedeliverIn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, Type,
        };
        let id = || {
            ObjectBuilder::new().schema_type(Type::Integer).format(Some(
                utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64),
            ))
        };
        let fields = ObjectBuilder::new()
            .property("delivery_id", schema::or_null(id()))
            .property(
                "since",
                schema::or_null(
                    schema::instant().description(Some("Every delivery created since then")),
                ),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let one_of_them = AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .property("delivery_id", id())
                    .required("delivery_id"),
            )
            .item(
                ObjectBuilder::new()
                    .property("since", schema::instant())
                    .required("since"),
            );
        Schema::AllOf(AllOfBuilder::new().item(fields).item(one_of_them).build()).into()
    }
}

impl utoipa::ToSchema for RedeliverIn {
    fn name() -> std::borrow::Cow<'static, str> {
        "RedeliverIn".into()
    }
}

/// Deliver again: one delivery, or every delivery since a time (failed ones included).
/// Also re-enables a subscription that a `410 Gone` disabled.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/redeliver", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = RedeliverIn,
    responses(
        (status = 202, description = "Queued"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn redeliver(
    State(state): State<AppState>,
    _: Authorized<needs::Admin>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let id = path_id(path)?;
    let body = read_body(&state, body).await?;
    let req: RedeliverIn = json_body(&body)?;
    let now = clock::now();
    let since = req
        .since
        .as_deref()
        .map(|s| wire::parse_bound("since", s))
        .transpose()
        .map_err(invalid)?;
    if req.delivery_id.is_none() && since.is_none() {
        return Err(invalid("give delivery_id or since"));
    }
    let op = HookOp::Redeliver {
        subscription: id.clone(),
        delivery: req.delivery_id,
        since,
        at: now,
    };
    match hook(&state, op).await? {
        ItemOutcome::Done => Ok(StatusCode::ACCEPTED),
        _ => Err(not_found(&id)),
    }
}
