//! Response and request bodies of the API, separate from the domain and store types.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use waybill_store::{EventRecord, OrderRecord, ShipmentRecord};

use crate::problem::ItemError;
use waybill_formats::schema;
use waybill_formats::wire::format_instant;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShipmentView {
    /// Carrier slug; null for the order's default shipment (events without a tracking number).
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// Canonical shipment status (docs/state-machine.md); null until a status-bearing event arrives.
    #[schema(schema_with = schema::shipment_status_or_null)]
    pub status: Option<String>,
    pub last_event_at: Option<String>,
    pub last_location: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    /// Derived from the shipments: created, shipped, picked_up, in_transit,
    /// out_for_delivery, available_for_pickup, failed_attempt, partially_delivered,
    /// delivered, exception, returning, returned, cancelled.
    #[schema(schema_with = schema::order_status)]
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub customer: Option<Box<RawValue>>,
    /// As it was sent: numbers keep every digit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    pub shipments: Vec<ShipmentView>,
    pub created_at: String,
    pub updated_at: String,
    /// The customer tracking page.
    pub tracking_url: String,
}

/// An order's customer and metadata as the store keeps them (its `details`): raw JSON
/// text, not numbers, so a value beyond f64 keeps every digit. A field that is absent
/// or `null` is `None`, and is left out when written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OrderDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RawValue>>,
}

/// What an `ingest` key gets back when it writes an order or registers a parcel: the
/// order without its customer, metadata or tracking link. A key handed to a carrier
/// integration writes; it has no business reading customers' data.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)] // in the document: no field of the full view, so never both
pub struct OrderAck {
    pub order_id: String,
    /// The derived order status, as in `OrderView`.
    #[schema(schema_with = schema::order_status)]
    pub status: String,
    pub shipments: Vec<ShipmentView>,
    pub created_at: String,
    pub updated_at: String,
}

/// The answer to a write on an order: the full view for an `admin` key, the
/// acknowledgement for an `ingest` key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OrderAnswer {
    Full(OrderView),
    Ack(OrderAck),
}

impl OrderAnswer {
    pub fn new(o: OrderRecord, links: &crate::pages::Links, role: crate::Role) -> Self {
        let v = OrderView::from_record(o, links);
        if role == crate::Role::Admin {
            return Self::Full(v);
        }
        Self::Ack(OrderAck {
            order_id: v.order_id,
            status: v.status,
            shipments: v.shipments,
            created_at: v.created_at,
            updated_at: v.updated_at,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub event_id: String,
    pub order_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// A canonical status, `created` (order-level) or `unmapped` (a raw code with no status).
    #[schema(schema_with = schema::stored_event_status)]
    pub status: String,
    /// RFC 3339, in the offset the sender used.
    pub occurred_at: String,
    pub received_at: String,
    pub location: Option<String>,
    pub description: Option<String>,
    pub raw_status: Option<String>,
    /// As it was sent: numbers keep every digit.
    #[schema(value_type = Option<serde_json::Value>)]
    pub details: Option<Box<RawValue>>,
    /// True when the state machine did not apply this event (kept, not dropped).
    pub flagged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Timeline {
    pub order_id: String,
    /// Ordered by `occurred_at` (ties: by progress, then by a hash of the event id).
    pub events: Vec<EventView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderList {
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct IngestReport {
    /// New events, now durable.
    pub accepted: usize,
    /// Events already in the log: acknowledged, nothing changed.
    pub duplicates: usize,
    /// Items that were refused, each with its index in the batch.
    pub rejected: Vec<ItemError>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A struct field read only from a JSON object or null: serde's derive would also take
/// an array of the fields' values (`[null, null]` for a customer), which the document
/// does not allow and no client means.
fn object_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)? {
        None => Ok(None),
        Some(m) => serde_json::from_value(serde_json::Value::Object(m))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    #[schema(schema_with = schema::order_id)]
    pub order_id: String,
    #[serde(default, deserialize_with = "object_or_null")]
    pub customer: Option<Customer>,
    /// Free-form JSON object kept with the order, exactly as sent.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
}

/// `POST /v1/orders/{order_id}/shipments`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShipment {
    #[schema(schema_with = schema::carrier)]
    pub carrier: String,
    #[schema(schema_with = schema::tracking_number)]
    pub tracking_number: String,
}

/// A kept push, as `GET /v1/quarantine` lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuarantineView {
    pub id: i64,
    pub provider: String,
    /// RFC 3339, UTC.
    pub received_at: String,
    pub reason: String,
    /// The headers kept for a replay (content type, `ce-*`): never credentials.
    #[schema(value_type = Object)]
    pub headers: serde_json::Value,
    /// The body as received (invalid UTF-8 replaced); in a list, only its first 4 KiB.
    pub body: String,
    /// The body's full length in bytes.
    pub body_bytes: usize,
    /// When a replay applied it; absent while it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at: Option<String>,
}

impl QuarantineView {
    /// `preview`: show at most this many bytes of the body.
    pub fn from_record(q: waybill_store::Quarantined, preview: Option<usize>) -> Self {
        let shown = preview.map_or(q.body.len(), |n| n.min(q.body.len()));
        Self {
            id: q.id,
            provider: q.provider,
            received_at: utc(q.received_at.as_micros()),
            reason: q.reason,
            headers: serde_json::from_str(&q.headers).unwrap_or_default(),
            body: String::from_utf8_lossy(&q.body[..shown]).into_owned(),
            body_bytes: q.body.len(),
            replayed_at: q.replayed_at.map(|t| utc(t.as_micros())),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuarantineList {
    pub items: Vec<QuarantineView>,
    /// Pass as `after` for the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

/// What a replay did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplayReport {
    pub id: i64,
    pub accepted: usize,
    pub duplicates: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

fn utc(micros: i64) -> String {
    format_instant(micros, 0)
}

impl ShipmentView {
    fn from_record(s: ShipmentRecord) -> Self {
        Self {
            carrier: s.carrier,
            tracking_number: s.tracking_number,
            status: s.status.map(|s| s.as_str().to_owned()),
            last_event_at: s.last_event_at.map(utc),
            last_location: s.last_location,
        }
    }
}

impl OrderView {
    pub fn from_record(o: OrderRecord, links: &crate::pages::Links) -> Self {
        let details: OrderDetails = o
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        Self {
            tracking_url: links.url(&o.order_id, waybill_formats::clock::now()),
            customer: details.customer,
            metadata: details.metadata,
            order_id: o.order_id,
            status: o.status.as_str().to_owned(),
            shipments: o
                .shipments
                .into_iter()
                .map(ShipmentView::from_record)
                .collect(),
            created_at: utc(o.created_at),
            updated_at: utc(o.updated_at),
        }
    }
}

impl EventView {
    pub fn from_record(e: EventRecord) -> Self {
        Self {
            occurred_at: format_instant(e.occurred_at, e.utc_offset),
            received_at: utc(e.received_at),
            details: e.details.and_then(|d| RawValue::from_string(d).ok()),
            flagged: e.flag.is_some(),
            flag_reason: e.flag.map(|v| v.to_string()),
            event_id: e.event_id,
            order_id: e.order_id,
            carrier: e.carrier,
            tracking_number: e.tracking_number,
            status: e.kind.as_str().to_owned(),
            location: e.location,
            description: e.description,
            raw_status: e.raw_status,
        }
    }
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters stay as they are).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders stored before fields were left out hold `"customer": null`: read as
    /// absent, and not written back.
    #[test]
    fn null_details_fields_are_absent() {
        let d: OrderDetails =
            serde_json::from_str(r#"{"customer":null,"metadata":{"n":1e400}}"#).unwrap();
        assert!(d.customer.is_none());
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"metadata":{"n":1e400}}"#
        );
    }
}
