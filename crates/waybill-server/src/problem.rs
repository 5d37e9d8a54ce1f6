//! Errors as RFC 9457 `application/problem+json`, mapped once, here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use waybill_store::ErrorClass;

use crate::auth::Role;

/// One refused item of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ItemError {
    /// Position in the batch (0-based; for NDJSON, the line among non-empty lines).
    pub index: usize,
    pub error: String,
}

impl ItemError {
    /// The refused items of a batch, by position.
    pub fn of(items: &[Result<waybill_core::TrackingEvent, String>]) -> Vec<ItemError> {
        items
            .iter()
            .enumerate()
            .filter_map(|(index, r)| {
                r.as_ref().err().map(|error| ItemError {
                    index,
                    error: error.clone(),
                })
            })
            .collect()
    }
}

impl From<waybill_formats::FormatError> for ApiError {
    fn from(e: waybill_formats::FormatError) -> Self {
        use waybill_formats::FormatError as F;
        match e {
            F::MalformedJson(m) => Self::MalformedJson(m),
            F::EmptyBatch => Self::EmptyBatch,
            F::TooManyItems { n, limit } => Self::TooManyItems { n, limit },
            F::UnsupportedMediaType(m) => Self::UnsupportedMediaType(m),
        }
    }
}

/// The problem document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:waybill:problem:invalid-event`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Per-item errors, when a batch was refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
}

/// Everything a handler can fail with. Internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A provider push whose signature was refused.
    #[error("{0}")]
    BadSignature(String),
    #[error("this key has role {role}; the operation needs {needed}")]
    Forbidden { role: Role, needed: Role },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{detail}")]
    Invalid {
        detail: String,
        errors: Vec<ItemError>,
    },
    #[error("{0}")]
    BadQuery(String),
    #[error("the batch is empty")]
    EmptyBatch,
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the batch has {n} items; the limit is {limit}")]
    TooManyItems { n: usize, limit: usize },
    #[error("unsupported Content-Type {0:?}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the write queue is full; retry shortly")]
    Busy,
    #[error("the server is reading as many request bodies as it will hold; retry shortly")]
    Saturated,
    #[error("the body did not arrive in time")]
    BodyTimeout,
    #[error("the store cannot be reached just now; retry shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// Nothing was written; the client may send the same again later.
    #[error("the server's disk is full; nothing was stored; retry later")]
    StorageFull(#[source] anyhow::Error),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::Unauthenticated(_) | Self::BadSignature(_) => {
                (S::UNAUTHORIZED, "unauthenticated", "Unauthenticated")
            }
            Self::Forbidden { .. } => (S::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound(_) => (S::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed(_) => (
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::MalformedJson(_) => (S::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            Self::Invalid { .. } => (S::UNPROCESSABLE_ENTITY, "invalid-event", "Invalid input"),
            Self::BadQuery(_) => (S::BAD_REQUEST, "bad-query", "Bad query"),
            Self::EmptyBatch => (S::BAD_REQUEST, "empty-batch", "Empty batch"),
            Self::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "too-large", "Body too large"),
            Self::TooManyItems { .. } => {
                (S::PAYLOAD_TOO_LARGE, "too-many-items", "Batch too large")
            }
            Self::UnsupportedMediaType(_) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::Conflict(_) => (S::CONFLICT, "conflict", "Conflict"),
            Self::Busy | Self::Saturated => (S::SERVICE_UNAVAILABLE, "busy", "Busy"),
            Self::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable", "Unavailable"),
            Self::BodyTimeout => (S::REQUEST_TIMEOUT, "body-timeout", "Body timeout"),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            Self::StorageFull(_) => (
                S::INSUFFICIENT_STORAGE,
                "insufficient-storage",
                "Insufficient storage",
            ),
        }
    }
}

impl From<waybill_store::StoreError> for ApiError {
    fn from(e: waybill_store::StoreError) -> Self {
        match e {
            waybill_store::StoreError::Busy => Self::Busy,
            // A database that is restarting, a pool out of connections, a lost race
            // that outlived its retries: the client may try again, and is told so.
            other => match other.class() {
                ErrorClass::Transient | ErrorClass::Conflict => Self::Unavailable(other.into()),
                ErrorClass::Refused | ErrorClass::Broken => Self::Internal(other.into()),
                ErrorClass::Full => Self::StorageFull(other.into()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        match &self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(error = ?cause, "store unavailable"),
            Self::StorageFull(cause) => tracing::error!(error = %cause, "the disk is full"),
            _ => {}
        }
        let errors = match &self {
            Self::Invalid { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        let body = Problem {
            kind: format!("urn:waybill:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
        };
        let mut resp = (status, Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            Self::Busy | Self::Saturated | Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            // Space comes back when someone frees it: not in a second.
            Self::StorageFull(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            }
            // The rest of the body may still be on its way: the connection cannot be
            // reused.
            Self::BodyTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that cannot be reached is the client's cue to retry, not a server bug.
    #[test]
    fn transient_store_errors_are_503_with_retry_after() {
        let r = ApiError::from(waybill_store::StoreError::Unavailable("restarting".into()))
            .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = ApiError::from(waybill_store::StoreError::WriterGone).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let r =
            ApiError::from(waybill_store::StoreError::Unreadable("bad row".into())).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!r.headers().contains_key(header::RETRY_AFTER));
    }

    /// A full disk is 507 with a later retry, whether the batch said so itself or
    /// through the writer's rollback.
    #[test]
    fn a_full_disk_is_507_with_retry_after() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let e = waybill_store::StoreError::Sqlite(full);
        assert_eq!(e.class(), ErrorClass::Full);
        let rolled = waybill_store::StoreError::RolledBack {
            class: e.class(),
            reason: e.to_string(),
        };
        for e in [e, rolled] {
            let r = ApiError::from(e).into_response();
            assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
            assert_eq!(r.headers()[header::RETRY_AFTER], "30");
        }
    }
}
