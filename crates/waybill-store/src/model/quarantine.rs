//! Pushes kept whole because they could not be read or applied, on either backend.

use waybill_core::Timestamp;

/// A push to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantine {
    pub provider: String,
    pub received_at: Timestamp,
    pub reason: String,
    /// The request headers a parser may need again (a JSON object), no credentials.
    pub headers: String,
    pub body: Vec<u8>,
}

/// A kept push, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: i64,
    pub provider: String,
    pub received_at: Timestamp,
    pub reason: String,
    pub headers: String,
    pub body: Vec<u8>,
    /// When a replay applied it; `None` while it waits.
    pub replayed_at: Option<Timestamp>,
}
