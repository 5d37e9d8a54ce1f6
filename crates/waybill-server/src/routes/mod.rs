//! One module per resource. Each handler checks its role first, then reads its input.

pub mod dashboard;
pub mod events;
pub mod health;
pub mod orders;
pub mod quarantine;
pub mod stream;
pub mod subscriptions;
pub mod track;
pub mod webhooks;

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

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

/// Reads a request body up to the configured limit.
pub async fn read_body(
    state: &AppState,
    body: axum::body::Body,
) -> Result<axum::body::Bytes, ApiError> {
    let limit = state.limits.max_body_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::TooLarge { limit }
        } else {
            ApiError::MalformedJson(format!("could not read the body: {e}"))
        }
    })
}

/// A refusal of well-formed input: 422 with the reason.
pub fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        detail: detail.into(),
        errors: Vec::new(),
    }
}

/// Reads a JSON request body: broken JSON is the request's fault (400), well-formed JSON
/// of the wrong shape is invalid input (422, naming the field).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::MalformedJson(e.to_string())
        }
        _ => invalid(e.to_string()),
    })
}
