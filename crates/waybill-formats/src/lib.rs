//! Waybill's wire formats, apart from any transport: the server, the CLI and the
//! broker worker read events through the same code.
//!
//! - [`wire`]: the canonical event (docs/api.md, "POST /v1/events") and the seed's
//!   shape — one object, a JSON array or NDJSON — into validated domain events, item by
//!   item; and what a broker message carries.
//! - [`cloudevents`]: CloudEvents 1.0 (structured, batched, binary) carrying canonical
//!   events.
//! - [`schema`]: the statuses and identifier rules as the OpenAPI document states
//!   them.
//! - [`tokens`]: cursors, `Last-Event-ID`, the shape of a tracking link's token.
//! - [`clock`]: the one clock, in the domain's microseconds.
//!
//! Errors are [`FormatError`]: the request as a whole could not be read. A bad item is
//! that item's error string, and the rest go on.

pub mod clock;
pub mod cloudevents;
pub mod schema;
pub mod tokens;
pub mod wire;

/// Why a body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the batch is empty")]
    EmptyBatch,
    #[error("the batch has {n} items; the limit is {limit}")]
    TooManyItems { n: usize, limit: usize },
    #[error("unsupported Content-Type {0:?}")]
    UnsupportedMediaType(String),
}
