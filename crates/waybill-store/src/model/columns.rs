//! How both backends write an event and its shipment's seqs into columns, and read
//! them back.

use waybill_core::event::Tracking;
use waybill_core::{Carrier, EventKind, OrderId, Timestamp, TrackingEvent, TrackingNumber};

use crate::StoreError;

/// `shipments.event_seqs` as stored: little-endian i64s.
pub fn encode_seqs(seqs: &[i64]) -> Vec<u8> {
    seqs.iter().flat_map(|s| s.to_le_bytes()).collect()
}

pub fn decode_seqs(blob: &[u8]) -> Vec<i64> {
    blob.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// An event's columns, as either store keeps them.
pub(crate) struct Stored {
    pub event_id: String,
    pub order_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub kind: String,
    pub occurred_at: i64,
    pub utc_offset: i32,
    pub received_at: i64,
    pub location: Option<String>,
    pub description: Option<String>,
    pub raw_status: Option<String>,
    pub details: Option<String>,
}

impl Stored {
    /// The domain event again; `None` if it no longer parses (an id this build would
    /// refuse).
    pub(crate) fn event(self) -> Option<TrackingEvent> {
        let tracking = match (self.carrier, self.tracking_number) {
            (Some(c), Some(n)) => Some(Tracking {
                carrier: Carrier::parse(&c).ok()?,
                tracking_number: TrackingNumber::parse(&n).ok()?,
            }),
            _ => None,
        };
        let order_id = match self.order_id {
            Some(o) => Some(OrderId::parse(&o).ok()?),
            None => None,
        };
        Some(TrackingEvent {
            event_id: self.event_id,
            order_id,
            tracking,
            kind: EventKind::parse(&self.kind).unwrap_or(EventKind::Unmapped),
            occurred_at: Timestamp(self.occurred_at),
            utc_offset_seconds: self.utc_offset,
            received_at: Timestamp(self.received_at),
            location: self.location,
            description: self.description,
            raw_status: self.raw_status,
            details: self.details,
        })
    }
}

/// A stored name that no longer parses: the row was written by a build with other rules.
/// A stored name (a status, a kind, a channel) read back as its enum: one this build
/// does not know is an error, not a guess.
pub(crate) fn named<T>(
    what: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Unreadable(format!("unknown {what} {text:?}")))
}

pub(crate) fn unreadable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unreadable(e.to_string())
}

/// A parcel's name from a shipment row's columns; `None` for an order's default one.
pub(crate) fn parcel_of(
    carrier: Option<&str>,
    number: Option<&str>,
) -> Result<Option<Tracking>, StoreError> {
    Ok(match (carrier, number) {
        (Some(c), Some(n)) => Some(Tracking {
            carrier: Carrier::parse(c).map_err(unreadable)?,
            tracking_number: TrackingNumber::parse(n).map_err(unreadable)?,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_round_trip() {
        let seqs = [1, 2, 1 << 40, i64::MAX];
        assert_eq!(decode_seqs(&encode_seqs(&seqs)), seqs);
        assert!(decode_seqs(&[]).is_empty());
    }
}
