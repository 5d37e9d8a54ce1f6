//! `POST /v1/webhooks/{provider}`: carriers' and aggregators' own push formats.
//!
//! Verify, then read, then store; answer in the provider's terms. A push whose signature
//! fails leaves no trace. A verified push that cannot be read or applied goes to
//! quarantine whole, and is acknowledged: it is durable there, and the provider
//! retrying it forever would not help. Only when nothing durable happened (the store is
//! busy or failing) does the provider get a non-2xx answer, so that it sends it again.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use waybill_core::TrackingEvent;
use waybill_formats::clock;
use waybill_providers::{Inbound, Outcome, Provider, Push};
use waybill_store::{ItemOutcome, NewQuarantine, Submission};

use crate::intake::CLOUDEVENTS;
use crate::problem::{ApiError, Problem};
use crate::routes::{PathOf, events::store_events, read_body};
use crate::views::IngestReport;
use crate::{AppState, Role, telemetry};
use waybill_formats::cloudevents;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_webhook))
        .routes(routes!(post_cloudevents))
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // read by `PathOf<String>`; this only documents it
struct ProviderPath {
    /// aftership, easypost, shippo, 17track, kuaidi100, kdniao or cloudevents.
    #[param(schema_with = provider_names)]
    provider: String,
}

fn provider_names() -> utoipa::openapi::schema::ObjectBuilder {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Provider::ALL.map(Provider::as_str)))
}

/// Receive CloudEvents 1.0 whose data is a canonical event (docs/providers.md,
/// "CloudEvents"): structured, batched, or binary (`ce-*` headers, the event as the
/// body). Authenticated by an `ingest` API key, or by a signature when a secret is
/// configured; answered like `/v1/events`. (Its own operation, since what it reads is
/// not a provider's payload.)
#[utoipa::path(post, path = "/v1/webhooks/cloudevents", tag = "events",
    request_body(content(
        (StructuredCloudEvent = "application/cloudevents+json"),
        (crate::routes::events::CloudEventsBatch = "application/cloudevents-batch+json"),
    )),
    responses(
        (status = 200, description = "Durable; per-item report", body = IngestReport),
        (status = 401, description = "Neither a valid key nor a valid signature", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or batch too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither a CloudEvents content type nor ce-* headers", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The event (or every item) was invalid", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_cloudevents(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let secret = state
        .webhooks
        .get(CLOUDEVENTS)
        .and_then(|s| s.secret.clone());
    cloudevents_push(state, secret, uri, headers, body).await
}

/// A structured CloudEvent carrying a canonical event.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the document's shape; the formats crate reads the body
struct StructuredCloudEvent {
    #[schema(pattern = "^1\\.0$")]
    specversion: String,
    #[schema(min_length = 1)]
    id: String,
    #[schema(min_length = 1)]
    source: String,
    #[schema(min_length = 1)]
    r#type: String,
    data: waybill_formats::wire::EventIn<'static>,
}

/// Receive a provider's push in its own format.
///
/// `provider` is one of `aftership`, `easypost`, `shippo`, `17track`, `kuaidi100`,
/// `kdniao`, `cloudevents`. The push is verified with the provider's own signature
/// scheme and the secret configured for it (`WAYBILL_WEBHOOK_SECRET_<PROVIDER>`); every
/// checkpoint becomes a canonical event. The answer on success is the one the provider
/// documents (see `docs/providers/`). CloudEvents without a configured secret take an
/// `ingest` API key instead, and answer like `/v1/events`.
#[utoipa::path(post, path = "/v1/webhooks/{provider}", tag = "events",
    params(ProviderPath),
    request_body(description = "The provider's own payload, byte for byte as signed: JSON, or a form (Kuaidi100, KDNiao)", content(
        (serde_json::Value = "application/json"),
        (Object = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Stored (as events, or in quarantine); the body is the provider's expected answer"),
        (status = 401, description = "Missing or wrong signature, or the provider has no secret configured", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown provider", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not stored; the provider should retry (in its own terms where it has them)"),
    ))]
async fn post_webhook(
    State(state): State<AppState>,
    PathOf(provider): PathOf<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // CloudEvents has its own route (`post_cloudevents`), which the router matches first.
    let known = Provider::parse(&provider).zip(state.webhooks.get(&provider).cloned());
    let Some((p, settings)) = known else {
        return Err(ApiError::NotFound(format!(
            "unknown provider {provider:?}; expected one of {}",
            crate::intake::names().collect::<Vec<_>>().join(", ")
        )));
    };
    let Some(secret) = settings.secret else {
        telemetry::webhook(p.as_str(), "unauthenticated");
        return Err(ApiError::BadSignature(format!(
            "webhooks from {p} are switched off: no secret is configured (WAYBILL_WEBHOOK_SECRET_{})",
            p.as_str().to_ascii_uppercase()
        )));
    };
    let body = read_body(&state, body).await?;
    let inbound = Inbound {
        headers: &headers,
        body: &body,
        path: uri.path(),
        received_at: clock::now(),
    };
    if let Err(e) = p.verify(&secret, &inbound) {
        telemetry::webhook(p.as_str(), "unauthenticated");
        return Err(ApiError::BadSignature(format!("{p}: {e}")));
    }
    let outcome = match p.parse_push(&inbound, &settings.context) {
        Ok(push) => {
            telemetry::unknown_codes(p.as_str(), push.unknown_codes.len());
            store_push(&state, p.as_str(), &inbound, push).await
        }
        Err(e) => quarantine(&state, p.as_str(), &inbound, e.to_string()).await,
    };
    Ok(reply(p.reply(&inbound, &outcome)))
}

/// The events of a push, a carrier correction first.
pub fn push_events(push: Push, received_at: waybill_core::Timestamp) -> Vec<TrackingEvent> {
    let mut events = Vec::with_capacity(push.events.len() + 1);
    if let Some(change) = push.carrier_change {
        events.push(TrackingEvent::carrier_change(
            change.from,
            waybill_core::event::Tracking {
                carrier: change.to,
                tracking_number: change.tracking_number,
            },
            received_at,
        ));
    }
    events.extend(push.events);
    events
}

async fn store_push(
    state: &AppState,
    provider: &str,
    inbound: &Inbound<'_>,
    push: Push,
) -> Outcome {
    let events = push_events(push, inbound.received_at);
    if events.is_empty() {
        telemetry::webhook(provider, "accepted");
        return Outcome::Ack;
    }
    match state
        .store
        .submit(Submission::Push {
            events,
            resolves: None,
        })
        .await
    {
        Ok(outcomes) => {
            let (accepted, duplicates, refused) = tally(&outcomes);
            telemetry::events(accepted, duplicates, refused.len());
            if refused.is_empty() {
                telemetry::webhook(provider, "accepted");
                Outcome::Ack
            } else {
                // The rest is stored; the whole push waits in quarantine so that a
                // replay, once the conflict is resolved, completes it.
                quarantine(state, provider, inbound, refused.join("; ")).await
            }
        }
        Err(e) => {
            telemetry::webhook(provider, "retry");
            tracing::warn!(provider, error = %e, "push not stored; the provider will retry");
            Outcome::Retry(ApiError::from(e).to_string())
        }
    }
}

/// Counts a submission's outcomes; the refusals as text.
pub fn tally(outcomes: &[ItemOutcome]) -> (usize, usize, Vec<String>) {
    let (mut accepted, mut duplicates, mut refused) = (0, 0, Vec::new());
    for o in outcomes {
        match o {
            ItemOutcome::Accepted | ItemOutcome::Quarantined(_) | ItemOutcome::Done => {
                accepted += 1
            }
            ItemOutcome::Duplicate | ItemOutcome::OrderExists | ItemOutcome::Missing => {
                duplicates += 1
            }
            ItemOutcome::Rejected(r) => refused.push(r.to_string()),
        }
    }
    (accepted, duplicates, refused)
}

/// The headers a parser may read again at replay: never credentials or signatures.
fn kept_headers(headers: &HeaderMap) -> String {
    let mut kept = serde_json::Map::new();
    for (name, value) in headers {
        let n = name.as_str();
        if (n == "content-type" || n.starts_with("ce-"))
            && let Ok(v) = value.to_str()
        {
            kept.insert(n.to_owned(), v.into());
        }
    }
    serde_json::Value::Object(kept).to_string()
}

async fn quarantine(
    state: &AppState,
    provider: &str,
    inbound: &Inbound<'_>,
    reason: String,
) -> Outcome {
    tracing::warn!(provider, %reason, "push quarantined");
    let kept = NewQuarantine {
        provider: provider.to_owned(),
        received_at: inbound.received_at,
        reason,
        headers: kept_headers(inbound.headers),
        body: inbound.body.to_vec(),
    };
    match state.store.submit(Submission::Quarantine(kept)).await {
        Ok(_) => {
            telemetry::webhook(provider, "quarantined");
            Outcome::Ack
        }
        Err(e) => {
            telemetry::webhook(provider, "retry");
            Outcome::Retry(ApiError::from(e).to_string())
        }
    }
}

fn reply(r: waybill_providers::Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, r.body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// CloudEvents: verified by a Standard Webhooks signature when a secret is configured,
/// else by an `ingest` key; answered like `/v1/events`.
async fn cloudevents_push(
    state: AppState,
    secret: Option<Vec<u8>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if secret.is_none() {
        state.keys.authorize(&headers, Role::Ingest)?;
    }
    let body = read_body(&state, body).await?;
    let received_at = clock::now();
    if let Some(secret) = secret {
        let inbound = Inbound {
            headers: &headers,
            body: &body,
            path: uri.path(),
            received_at,
        };
        if let Err(e) = waybill_providers::standard_webhooks::verify(&secret, &inbound) {
            telemetry::webhook(CLOUDEVENTS, "unauthenticated");
            return Err(ApiError::BadSignature(format!("cloudevents: {e}")));
        }
    }
    let mode = cloudevents::detect(super::header(&headers)).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "expected application/cloudevents+json, application/cloudevents-batch+json, or ce-* headers"
                .into(),
        )
    })?;
    let batch = cloudevents::parse(
        mode,
        super::header(&headers),
        &body,
        received_at,
        state.limits.max_batch_items,
    )?;
    let report: IngestReport = store_events(&state, batch, |events| Submission::Push {
        events,
        resolves: None,
    })
    .await?;
    telemetry::webhook(CLOUDEVENTS, "accepted");
    Ok(axum::Json(report).into_response())
}
