//! A domain event as the outbox keeps it, on either backend.

use waybill_core::Timestamp;
use waybill_core::change::{ChangeKind, Status};

/// A domain event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: i64,
    pub kind: ChangeKind,
    pub order_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub status: Status,
    pub previous_status: Option<Status>,
    pub at: Timestamp,
    pub cause: String,
}

/// A stored row's type and statuses back as the enums; the error says which no longer
/// reads (a row written by a build with other names).
pub(crate) fn typed(
    kind: &str,
    status: &str,
    previous: Option<&str>,
) -> Result<(ChangeKind, Status, Option<Status>), String> {
    let kind = ChangeKind::parse(kind).ok_or_else(|| format!("unknown outbox type {kind:?}"))?;
    let read = |s: &str| Status::parse(kind, s).ok_or_else(|| format!("unknown status {s:?}"));
    Ok((kind, read(status)?, previous.map(read).transpose()?))
}
