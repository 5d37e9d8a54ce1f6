//! One checkpoint of a provider's push, turned into a canonical event.
//!
//! Most providers push a parcel's whole history on every change. Each checkpoint gets
//! an id derived from what the provider said — the provider, the tracking number, the
//! time *as written*, the raw code, the location and the description — so re-pushing the
//! same history yields the same ids (duplicates, acknowledged and ignored), and only new
//! checkpoints are added. The carrier is deliberately not part of the id: after a
//! carrier correction the re-pushed history must still be the same events. Nor is the
//! mapped status or the zone a time was read in: fixing a mapping table or the zone must
//! not duplicate a history either.

use serde_json::{Map, Value};
use waybill_core::event::Tracking;
use waybill_core::{Carrier, EventKind, OrderId, Timestamp, TrackingEvent, TrackingNumber};
use xxhash_rust::xxh3::xxh3_128;

use crate::{Provider, ProviderTime};

/// The key in an event's `details` that holds the provider's estimated delivery, as
/// the provider wrote it (a date or a date and time). The tracking page shows the one
/// of the parcel's latest push.
pub const ESTIMATED_DELIVERY: &str = "estimated_delivery";

/// Keeps a provider's estimated delivery beside the events of a push.
pub fn note_estimate(extra: &mut Map<String, Value>, estimate: Option<&str>) {
    if let Some(e) = estimate
        .map(str::trim)
        .filter(|e| !e.is_empty() && e.len() <= 64)
    {
        extra.insert(ESTIMATED_DELIVERY.into(), e.into());
    }
}

/// Longest location or description kept; longer text is cut at a character boundary.
pub const MAX_TEXT: usize = 2048;
/// Longest raw code kept.
pub const MAX_RAW_STATUS: usize = 128;

#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub provider: Provider,
    pub carrier: Carrier,
    pub tracking_number: TrackingNumber,
    /// When the push names the merchant's order.
    pub order_id: Option<OrderId>,
    pub kind: EventKind,
    /// The provider's code(s) as sent, e.g. `InTransit_003` or `in_transit/arrived_at_facility`.
    pub raw_status: Option<String>,
    pub time: ProviderTime,
    pub location: Option<String>,
    pub description: Option<String>,
    /// The id of the push that carried it (AfterShip `event_id`, EasyPost `Event.id`).
    pub provider_event_id: Option<String>,
    /// Further provider fields worth keeping beside the event.
    pub extra: Map<String, Value>,
}

impl Checkpoint {
    /// The derived event id (see the module docs).
    pub fn event_id(&self) -> String {
        let mut buf = Vec::with_capacity(128);
        let mut put = |s: &str| {
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        };
        put(self.provider.as_str());
        put(self.tracking_number.as_str());
        put(&self.time.original);
        put(self.raw_status.as_deref().unwrap_or(""));
        put(self.location.as_deref().unwrap_or(""));
        put(self.description.as_deref().unwrap_or(""));
        format!("wbp_{:032x}", xxh3_128(&buf))
    }

    pub fn into_event(self, received_at: Timestamp) -> TrackingEvent {
        let event_id = self.event_id();
        let mut details = Map::new();
        details.insert("provider".into(), self.provider.as_str().into());
        details.insert("time".into(), self.time.original.clone().into());
        if let Some(id) = &self.provider_event_id {
            details.insert("provider_event_id".into(), id.clone().into());
        }
        details.extend(self.extra);
        TrackingEvent {
            event_id,
            order_id: self.order_id,
            tracking: Some(Tracking {
                carrier: self.carrier,
                tracking_number: self.tracking_number,
            }),
            kind: self.kind,
            occurred_at: self.time.instant,
            utc_offset_seconds: self.time.utc_offset_seconds,
            received_at,
            location: clip(self.location, MAX_TEXT),
            description: clip(self.description, MAX_TEXT),
            raw_status: clip(self.raw_status, MAX_RAW_STATUS),
            details: Some(Value::Object(details).to_string()),
        }
    }
}

/// Empty text is no text; long text is cut at a character boundary.
pub fn clip(s: Option<String>, max: usize) -> Option<String> {
    let mut s = s?;
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() != s.len() {
        s = trimmed.to_owned();
    }
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    Some(s)
}

/// Joins non-empty location parts (`city, state, country`) into one text.
pub fn join_location<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    let parts: Vec<&str> = parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::ShipmentStatus;

    fn sample() -> Checkpoint {
        Checkpoint {
            provider: Provider::Kuaidi100,
            carrier: Carrier::parse("zto-express").unwrap(),
            tracking_number: TrackingNumber::parse("ZT1").unwrap(),
            order_id: None,
            kind: EventKind::Status(ShipmentStatus::PickedUp),
            raw_status: Some("1".into()),
            time: ProviderTime::parse(
                "2026-11-27 10:02:00",
                &jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
            )
            .unwrap(),
            location: Some("深圳".into()),
            description: Some("已揽收".into()),
            provider_event_id: None,
            extra: Map::new(),
        }
    }

    #[test]
    fn ids_ignore_carrier_zone_and_mapping_but_not_content() {
        let a = sample();
        let mut b = sample();
        b.carrier = Carrier::parse("sf-express").unwrap();
        b.kind = EventKind::Unmapped;
        b.time = ProviderTime::parse("2026-11-27 10:02:00", &jiff::tz::TimeZone::UTC).unwrap();
        assert_eq!(a.event_id(), b.event_id());
        let mut c = sample();
        c.description = Some("已签收".into());
        assert_ne!(a.event_id(), c.event_id());
        let mut d = sample();
        d.raw_status = None;
        assert_ne!(a.event_id(), d.event_id());
    }

    #[test]
    fn the_event_keeps_the_original_time_and_provider() {
        let ev = sample().into_event(Timestamp(5));
        let details: Value = serde_json::from_str(ev.details.as_deref().unwrap()).unwrap();
        assert_eq!(details["provider"], "kuaidi100");
        assert_eq!(details["time"], "2026-11-27 10:02:00");
        assert_eq!(ev.utc_offset_seconds, 8 * 3600);
        assert_eq!(ev.received_at, Timestamp(5));
        assert!(ev.event_id.starts_with("wbp_"));
    }

    #[test]
    fn clipping() {
        assert_eq!(clip(Some("  ".into()), 10), None);
        assert_eq!(clip(Some(" ab ".into()), 10).as_deref(), Some("ab"));
        assert_eq!(clip(Some("深圳市".into()), 7).as_deref(), Some("深圳"));
        assert_eq!(
            join_location([Some("Shenzhen"), None, Some(" "), Some("CHN")]).as_deref(),
            Some("Shenzhen, CHN")
        );
        assert_eq!(join_location([None, Some("")]), None);
    }
}
