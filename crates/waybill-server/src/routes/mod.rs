//! One module per resource. Each handler checks its role first, then reads its input.

pub mod dashboard;
pub mod events;
pub mod health;
pub mod orders;
pub mod quarantine;
pub mod resource_links;
pub mod shared_answers;
pub mod stream;
pub mod subscriptions;
pub mod track;
pub mod webhooks;

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use http_body_util::BodyExt;
use tokio::sync::OwnedSemaphorePermit;

use crate::AppState;
use crate::problem::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Waybill",
        description = "Order tracking and logistics event processing. Errors are RFC 9457 problem+json.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "events", description = "Ingest tracking events"),
        (name = "orders", description = "Orders, shipments and timelines"),
        (name = "streams", description = "Live updates as server-sent events"),
        (name = "subscriptions", description = "Outbound webhooks to merchant systems, signed per Standard Webhooks"),
        (name = "quarantine", description = "Provider pushes that could not be read, kept for replay"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// A request body, read whole. It holds its share of the body budget until dropped.
pub struct Received {
    bytes: Bytes,
    _held: OwnedSemaphorePermit,
}

impl std::ops::Deref for Received {
    type Target = Bytes;
    fn deref(&self) -> &Bytes {
        &self.bytes
    }
}

/// Reads a request body: at most `max_body_bytes` (a larger declared length is refused
/// before a byte is read), within the body timeout, and only while the bodies being
/// read across the server stay within their budget (503 otherwise, as under any
/// other overload).
pub async fn read_body(state: &AppState, body: Body) -> Result<Received, ApiError> {
    read_limited(state, body, state.limits.max_body_bytes).await
}

async fn read_limited(
    state: &AppState,
    mut body: Body,
    limit: usize,
) -> Result<Received, ApiError> {
    if axum::body::HttpBody::size_hint(&body).lower() > limit as u64 {
        return Err(ApiError::TooLarge { limit });
    }
    let deadline = tokio::time::Instant::now() + state.limits.transport.body_timeout;
    let mut held = state.bodies.empty_permit();
    // One frame is the common case: keep it as it came, copy only from a second one.
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(ApiError::BodyTimeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::MalformedJson(format!(
                    "could not read the body: {e}"
                )));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let so_far = first.as_ref().map_or(0, Bytes::len) + joined.len();
        if so_far + data.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        held.merge(state.bodies.take(data.len()).ok_or(ApiError::Saturated)?);
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            None => joined.extend_from_slice(&data),
            Some(f) => {
                joined.extend_from_slice(&f);
                joined.extend_from_slice(&data);
            }
        }
    }
    let bytes = first.unwrap_or_else(|| Bytes::from(joined));
    Ok(Received { bytes, _held: held })
}

/// The largest HTML form body: a key, or an order number and a contact. The forms take
/// no key, so they get only a sliver of the shared body budget.
const MAX_FORM_BYTES: usize = 4096;

/// Reads an HTML form's body (`application/x-www-form-urlencoded`) under the same
/// timeout and budget as every other body, and at most [`MAX_FORM_BYTES`].
pub async fn form_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Body,
) -> Result<T, ApiError> {
    let body = read_limited(state, body, MAX_FORM_BYTES.min(state.limits.max_body_bytes)).await?;
    serde_urlencoded::from_bytes(&body).map_err(|e| invalid(format!("the form: {e}")))
}

/// `Query<T>` whose refusal is a problem (400), not axum's plain text.
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Self(q))
            .map_err(|e| ApiError::BadQuery(e.body_text()))
    }
}

/// `Path<T>` whose refusal (a segment that is not UTF-8, say) is a problem (400).
pub struct PathOf<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for PathOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| Self(p))
            .map_err(|e| match e {
                PathRejection::FailedToDeserializePathParams(e) => {
                    ApiError::BadQuery(format!("the path: {}", e.body_text()))
                }
                // Not the client's doing: a route without the parameter it reads.
                other => ApiError::Internal(anyhow::anyhow!("{}", other.body_text())),
            })
    }
}

/// A refusal of well-formed input: 422 with the reason.
pub fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        detail: detail.into(),
        errors: Vec::new(),
    }
}

/// Reads a JSON request body, an object: broken JSON is the request's fault (400),
/// well-formed JSON of the wrong shape is invalid input (422, naming the field). Only an
/// object is read, since serde's derive would also take an array of the fields' values.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
    {
        return Err(invalid("the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::MalformedJson(e.to_string())
        }
        _ => invalid(e.to_string()),
    })
}

/// A header lookup by lower-case name, as the formats crate reads headers.
pub(crate) fn header<'h>(
    headers: &'h axum::http::HeaderMap,
) -> impl Fn(&str) -> Option<&'h str> + Copy {
    move |name| headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whole numbers in request bodies as JSON Schema's `integer` has them: `5` and `5.0`
/// alike (a client's JSON library may write either), but not `5.5`.
pub(crate) mod integral {
    use serde::{Deserialize, Deserializer, de::Error};

    fn whole<'de, D: Deserializer<'de>>(n: serde_json::Number) -> Result<i64, D::Error> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            _ => Err(D::Error::custom(format!("{n} is not a whole number"))),
        }
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<serde_json::Number>::deserialize(d)? {
            None => Ok(None),
            Some(n) => whole::<D>(n).map(Some),
        }
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let n = whole::<D>(serde_json::Number::deserialize(d)?)?;
        u64::try_from(n).map_err(|_| D::Error::custom(format!("{n} is negative")))
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize)]
        struct Both {
            #[serde(default, deserialize_with = "super::opt_i64")]
            a: Option<i64>,
            #[serde(default, deserialize_with = "super::u64")]
            b: u64,
        }

        #[test]
        fn whole_numbers_are_read_however_they_are_written() {
            let r: Both = serde_json::from_str(r#"{"a": 7.0, "b": 3e2}"#).unwrap();
            assert_eq!((r.a, r.b), (Some(7), 300));
            let r: Both = serde_json::from_str(r#"{"a": null}"#).unwrap();
            assert_eq!((r.a, r.b), (None, 0));
            for bad in [
                r#"{"a": 7.5}"#,
                r#"{"b": -1}"#,
                r#"{"b": "3"}"#,
                r#"{"a": 1e300}"#,
            ] {
                assert!(serde_json::from_str::<Both>(bad).is_err(), "{bad}");
            }
        }
    }
}
