//! The tracking event as the domain sees it, and its identity.

use crate::ids::{Carrier, OrderId, TrackingNumber};
use crate::status::ShipmentStatus;
use crate::time::Timestamp;
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

/// What an event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The order exists (the seed's `create`). Changes no shipment.
    OrderCreated,
    /// A scan that maps to a canonical status.
    Status(ShipmentStatus),
    /// A carrier code that maps to no status: kept in the timeline, changes nothing.
    Unmapped,
    /// A record, not a scan: the parcel joins the order (`POST
    /// /v1/orders/{id}/shipments`). Kept in the log so that a replay links it again;
    /// never in a timeline.
    Linked,
    /// A record, not a scan: the parcel's carrier was corrected. The event's tracking is
    /// the new identity; its `raw_status` holds the carrier slug it replaces. Never in a
    /// timeline.
    CarrierChanged,
    /// A record, not a scan: an admin set the order's customer and/or metadata; the
    /// fields in its `details` replace the order's, the others stay.
    /// Never in a timeline; never accepted on the wire.
    DetailsSet,
}

impl EventKind {
    /// The name used on the wire and in the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "created",
            Self::Status(s) => s.as_str(),
            Self::Unmapped => "unmapped",
            Self::Linked => "linked",
            Self::CarrierChanged => "carrier_changed",
            Self::DetailsSet => "details_set",
        }
    }

    /// Link records change who owns a parcel; they are not part of any timeline.
    pub const fn is_record(self) -> bool {
        matches!(self, Self::Linked | Self::CarrierChanged | Self::DetailsSet)
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created" => Some(Self::OrderCreated),
            "unmapped" => Some(Self::Unmapped),
            "linked" => Some(Self::Linked),
            "carrier_changed" => Some(Self::CarrierChanged),
            "details_set" => Some(Self::DetailsSet),
            _ => ShipmentStatus::parse(s).map(Self::Status),
        }
    }

    /// Tie-break between events at the same instant: the seed's four events often share
    /// one receipt time, and `create, ship, received, delivered` must still fold in that
    /// order.
    pub const fn rank(self) -> u8 {
        match self {
            Self::OrderCreated
            | Self::Unmapped
            | Self::Linked
            | Self::CarrierChanged
            | Self::DetailsSet => 0,
            Self::Status(s) => s.rank(),
        }
    }
}

/// A parcel with a carrier's tracking number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tracking {
    pub carrier: Carrier,
    pub tracking_number: TrackingNumber,
}

/// Which shipment an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParcelKey {
    Tracked(Tracking),
    /// "An event with no tracking number belongs to the order's default shipment."
    OrderDefault(OrderId),
}

/// One fact reported by a carrier or the merchant, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingEvent {
    /// The idempotency key: given by the sender, or derived (see [`derive_event_id`]).
    pub event_id: String,
    /// Required unless the tracking number is already linked to an order.
    pub order_id: Option<OrderId>,
    /// `None`: the order's default shipment.
    pub tracking: Option<Tracking>,
    pub kind: EventKind,
    pub occurred_at: Timestamp,
    /// The sender's UTC offset in seconds, so the timeline can show local times back.
    pub utc_offset_seconds: i32,
    pub received_at: Timestamp,
    pub location: Option<String>,
    pub description: Option<String>,
    pub raw_status: Option<String>,
    /// Opaque JSON text; the core never looks inside.
    pub details: Option<String>,
}

impl TrackingEvent {
    /// The record that links `tracking` to `order_id`, as of `at`.
    pub fn link(order_id: OrderId, tracking: Tracking, at: Timestamp) -> Self {
        let event_id = record_id(&[
            "l",
            order_id.as_str(),
            tracking.carrier.as_str(),
            tracking.tracking_number.as_str(),
        ]);
        Self::record(
            event_id,
            Some(order_id),
            tracking,
            EventKind::Linked,
            at,
            None,
        )
    }

    /// The record that the parcel known as `(from, number)` is `(to, number)`.
    pub fn carrier_change(from: Carrier, to: Tracking, at: Timestamp) -> Self {
        let event_id = record_id(&[
            "c",
            from.as_str(),
            to.carrier.as_str(),
            to.tracking_number.as_str(),
        ]);
        let from = Some(from.to_string());
        Self::record(event_id, None, to, EventKind::CarrierChanged, at, from)
    }

    /// The record that an admin set some of the order's details (a JSON object of the
    /// fields sent, as text).
    pub fn details_set(order_id: OrderId, details: String, at: Timestamp) -> Self {
        let micros = at.as_micros().to_string();
        let event_id = record_id(&["d", order_id.as_str(), &micros, &details]);
        Self {
            event_id,
            order_id: Some(order_id),
            tracking: None,
            kind: EventKind::DetailsSet,
            occurred_at: at,
            utc_offset_seconds: 0,
            received_at: at,
            location: None,
            description: None,
            raw_status: None,
            details: Some(details),
        }
    }

    fn record(
        event_id: String,
        order_id: Option<OrderId>,
        tracking: Tracking,
        kind: EventKind,
        at: Timestamp,
        raw_status: Option<String>,
    ) -> Self {
        Self {
            event_id,
            order_id,
            tracking: Some(tracking),
            kind,
            occurred_at: at,
            utc_offset_seconds: 0,
            received_at: at,
            location: None,
            description: None,
            raw_status,
            details: None,
        }
    }

    /// For a [`EventKind::CarrierChanged`] record: the carrier it replaces.
    pub fn previous_carrier(&self) -> Option<Carrier> {
        match self.kind {
            EventKind::CarrierChanged => self
                .raw_status
                .as_deref()
                .and_then(|c| Carrier::parse(c).ok()),
            _ => None,
        }
    }

    /// The shipment this event belongs to, once its order is known.
    pub fn parcel(&self, order: &OrderId) -> ParcelKey {
        match &self.tracking {
            Some(t) => ParcelKey::Tracked(t.clone()),
            None => ParcelKey::OrderDefault(order.clone()),
        }
    }
}

fn record_id(parts: &[&str]) -> String {
    let mut buf = Vec::with_capacity(64);
    for p in parts {
        buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
        buf.extend_from_slice(p.as_bytes());
    }
    format!("wbr_{:032x}", xxh3_128(&buf))
}

/// The 64-bit key under which an event id is deduplicated within its shipment.
pub fn event_key(event_id: &str) -> u64 {
    xxh3_64(event_id.as_bytes())
}

/// The content an id is derived from when the sender gives none (docs/api.md, "POST /v1/events").
pub struct IdentityParts<'a> {
    pub order_id: Option<&'a str>,
    pub tracking: Option<(&'a str, &'a str)>,
    pub kind: EventKind,
    /// As the sender gave it: an event without a time is the same event when re-sent.
    pub occurred_at: Option<Timestamp>,
    pub location: Option<&'a str>,
}

/// Derives an event id from the event's content, so that a carrier re-sending the same
/// checkpoint is a duplicate. The parts are length-prefixed, so no two different
/// contents share an encoding.
pub fn derive_event_id(p: &IdentityParts<'_>) -> String {
    let mut buf = Vec::with_capacity(96);
    let mut put = |s: &str| {
        buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
        buf.extend_from_slice(s.as_bytes());
    };
    match p.tracking {
        Some((carrier, number)) => {
            put("t");
            put(carrier);
            put(number);
        }
        None => {
            put("o");
            put(p.order_id.unwrap_or(""));
        }
    }
    put(p.kind.as_str());
    match p.occurred_at {
        Some(t) => put(&t.as_micros().to_string()),
        None => put("-"),
    }
    put(p.location.unwrap_or(""));
    format!("wb_{:032x}", xxh3_128(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(location: Option<&str>) -> IdentityParts<'_> {
        IdentityParts {
            order_id: Some("o1"),
            tracking: Some(("sf-express", "SF1")),
            kind: EventKind::Status(ShipmentStatus::PickedUp),
            occurred_at: Some(Timestamp(1_000)),
            location,
        }
    }

    #[test]
    fn derived_ids_are_stable_and_content_sensitive() {
        let a = derive_event_id(&parts(Some("深圳")));
        assert_eq!(a, derive_event_id(&parts(Some("深圳"))));
        assert_ne!(a, derive_event_id(&parts(Some("广州"))));
        assert_ne!(a, derive_event_id(&parts(None)));
        assert!(a.starts_with("wb_") && a.len() == 35);
    }

    #[test]
    fn the_order_is_irrelevant_for_a_tracked_parcel() {
        let mut other = parts(None);
        other.order_id = Some("o2");
        assert_eq!(derive_event_id(&parts(None)), derive_event_id(&other));
    }

    #[test]
    fn records_carry_what_a_replay_needs() {
        let t = |c: &str| Tracking {
            carrier: Carrier::parse(c).unwrap(),
            tracking_number: TrackingNumber::parse("N1").unwrap(),
        };
        let change = TrackingEvent::carrier_change(
            Carrier::parse("zto-express").unwrap(),
            t("yto"),
            Timestamp(9),
        );
        assert_eq!(change.kind, EventKind::CarrierChanged);
        assert_eq!(change.previous_carrier().unwrap().as_str(), "zto-express");
        assert!(change.kind.is_record());
        let link = TrackingEvent::link(OrderId::parse("o1").unwrap(), t("yto"), Timestamp(9));
        assert_eq!(link.previous_carrier(), None);
        assert_ne!(link.event_id, change.event_id);
        assert_eq!(
            link.event_id,
            TrackingEvent::link(OrderId::parse("o1").unwrap(), t("yto"), Timestamp(10)).event_id
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            EventKind::OrderCreated,
            EventKind::Unmapped,
            EventKind::Linked,
            EventKind::CarrierChanged,
        ]
        .into_iter()
        .chain(ShipmentStatus::ALL.map(EventKind::Status))
        {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }
}
