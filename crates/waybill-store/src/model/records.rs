//! What a read returns, on either backend: an order with its shipments, an event of
//! its timeline, a page of orders, and the filter that asks for one.

use waybill_core::machine::Violation;
use waybill_core::timeline::{fold_verdicts, sort_entries};
use waybill_core::{Entry, EventKind, OrderStatus, ShipmentStatus, Verdict};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShipmentRecord {
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    #[serde(with = "status_text::shipment")]
    pub status: Option<ShipmentStatus>,
    pub status_at: Option<i64>,
    pub last_event_at: Option<i64>,
    pub last_location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderRecord {
    pub order_id: String,
    #[serde(with = "status_text::order")]
    pub status: OrderStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// The JSON `details` of the event that created the order (customer, metadata).
    pub details: Option<String>,
    pub shipments: Vec<ShipmentRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub event_id: String,
    pub order_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub kind: EventKind,
    pub occurred_at: i64,
    pub utc_offset: i32,
    pub received_at: i64,
    pub location: Option<String>,
    pub description: Option<String>,
    pub raw_status: Option<String>,
    pub details: Option<String>,
    /// Why the state machine did not apply this event, if it did not.
    pub flag: Option<Violation>,
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<OrderStatus>,
    pub carrier: Option<String>,
    pub updated_since: Option<i64>,
    /// Opaque position from the previous page.
    pub after: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct OrderPage {
    pub orders: Vec<OrderRecord>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// One timeline from each shipment's events: every shipment folded on its own (each
/// event with its verdict), then all of them in timeline order.
pub(crate) fn assemble(by_shipment: Vec<Vec<(Entry, EventRecord)>>) -> Vec<EventRecord> {
    let mut all: Vec<(Entry, EventRecord)> = Vec::new();
    for mut items in by_shipment {
        sort_entries(&mut items, |(e, _)| e);
        let entries: Vec<Entry> = items.iter().map(|(e, _)| e.clone()).collect();
        for ((entry, mut rec), verdict) in items.into_iter().zip(fold_verdicts(&entries)) {
            if let Verdict::Flagged(v) = verdict {
                rec.flag = Some(v);
            }
            all.push((entry, rec));
        }
    }
    sort_entries(&mut all, |(e, _)| e);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Statuses in serialized records (the Redis cache) as their names.
mod status_text {
    fn unknown<E: serde::de::Error>(s: &str) -> E {
        E::custom(format!("unknown status {s:?}"))
    }

    pub mod order {
        use serde::{Deserialize, Deserializer, Serializer};
        use waybill_core::OrderStatus;

        pub fn serialize<S: Serializer>(s: &OrderStatus, out: S) -> Result<S::Ok, S::Error> {
            out.serialize_str(s.as_str())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OrderStatus, D::Error> {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            OrderStatus::parse(&s).ok_or_else(|| super::unknown(&s))
        }
    }

    pub mod shipment {
        use serde::{Deserialize, Deserializer, Serializer};
        use waybill_core::ShipmentStatus;

        pub fn serialize<S: Serializer>(
            s: &Option<ShipmentStatus>,
            out: S,
        ) -> Result<S::Ok, S::Error> {
            match s {
                Some(s) => out.serialize_some(s.as_str()),
                None => out.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<ShipmentStatus>, D::Error> {
            let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            s.map(|s| ShipmentStatus::parse(&s).ok_or_else(|| super::unknown(&s)))
                .transpose()
        }
    }
}
