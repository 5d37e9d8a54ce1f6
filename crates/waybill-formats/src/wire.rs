//! The wire formats of `POST /v1/events`: the canonical event (docs/api.md, "POST /v1/events") and the seed's
//! shape, one object, a JSON array or NDJSON, turned into validated domain events.
//!
//! Items are parsed one by one so that a bad item is reported with its index while the
//! good ones go on. The typed parse is the fast path; only when it fails do we look at
//! the item again, as a `Value`, to say precisely which field is wrong.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use waybill_core::event::{IdentityParts, Tracking, derive_event_id};
use waybill_core::{
    Carrier, EventKind, OrderId, ShipmentStatus, Timestamp, TrackingEvent, TrackingNumber,
};

use waybill_providers::carriers;

use crate::FormatError;
use crate::schema;

/// Field limits, in bytes.
const MAX_EVENT_ID: usize = 256;
const MAX_TEXT: usize = 2048;
const MAX_RAW_STATUS: usize = 128;
const MAX_DETAILS: usize = 16 * 1024;
/// Earliest accepted `occurred_at`: 2000-01-01T00:00:00Z. Anything older is a broken clock.
const EARLIEST_MICROS: i64 = 946_684_800_000_000;
/// How far in the future an event may claim to be (carrier clocks drift).
const FUTURE_TOLERANCE_MICROS: i64 = 24 * 3600 * 1_000_000;

/// The canonical event (docs/api.md, "POST /v1/events") as it arrives, or the seed's shape (`event_type`
/// instead of `status`). Strings borrow from the body where they can.
/// Unknown fields are refused: a typo such as `occured_at` must not silently become
/// "the time of receipt".
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EventInput)]
pub struct EventIn<'a> {
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::event_id)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::order_id)]
    order_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::carrier)]
    carrier: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::tracking_number)]
    tracking_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::status)]
    status: Option<Cow<'a, str>>,
    /// The seed's vocabulary: `create`, `ship`, `received`, `delivered`.
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::event_type)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::occurred_at)]
    occurred_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::text)]
    location: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::text)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(schema_with = schema::event::raw_status)]
    raw_status: Option<Cow<'a, str>>,
    /// Any JSON value, kept as it is (at most 16 KiB).
    #[serde(borrow, default)]
    #[schema(value_type = Option<serde_json::Value>)]
    details: Option<&'a RawValue>,
}

const STRING_FIELDS: [&str; 10] = [
    "event_id",
    "order_id",
    "carrier",
    "tracking_number",
    "status",
    "event_type",
    "occurred_at",
    "location",
    "description",
    "raw_status",
];

/// What came in: the parsed items, and whether the body was a single object (whose
/// failure is the request's failure) or a batch (whose failures are listed per item).
pub struct Batch {
    pub single: bool,
    pub items: Vec<Result<TrackingEvent, String>>,
}

/// Parses a `POST /v1/events` body.
pub fn parse_events(
    content_type: Option<&str>,
    body: &[u8],
    received_at: Timestamp,
    max_items: usize,
) -> Result<Batch, FormatError> {
    let media = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/json".into());
    match media.as_str() {
        "application/x-ndjson" | "application/jsonl" | "application/json-seq" => {
            // Line by line from the bytes: one line that is not UTF-8 is that line's
            // error, not the batch's.
            let lines: Vec<Result<&str, String>> = body
                .split(|b| *b == b'\n')
                .map(|l| match std::str::from_utf8(l) {
                    Ok(l) => Ok(l.trim_start_matches('\u{1e}').trim()),
                    Err(e) => Err(format!("the line is not UTF-8: {e}")),
                })
                .filter(|l| l.as_ref().map_or(true, |l| !l.is_empty()))
                .collect();
            check_count(lines.len(), max_items)?;
            Ok(Batch {
                single: false,
                items: lines
                    .into_iter()
                    .map(|l| l.and_then(|l| parse_one(l, received_at)))
                    .collect(),
            })
        }
        "application/json" => {
            let text = std::str::from_utf8(body)
                .map_err(|e| FormatError::MalformedJson(format!("the body is not UTF-8: {e}")))?;
            let trimmed = text.trim_start();
            if trimmed.starts_with('[') {
                let raw: Vec<&RawValue> = serde_json::from_str(text)
                    .map_err(|e| FormatError::MalformedJson(e.to_string()))?;
                check_count(raw.len(), max_items)?;
                Ok(Batch {
                    single: false,
                    items: raw
                        .iter()
                        .map(|r| parse_one(r.get(), received_at))
                        .collect(),
                })
            } else if trimmed.is_empty() {
                Err(FormatError::EmptyBatch)
            } else {
                // Syntax errors in a lone object are the request's problem (400);
                // a well-formed object with bad fields is an invalid event (422).
                serde_json::from_str::<&RawValue>(text)
                    .map_err(|e| FormatError::MalformedJson(e.to_string()))?;
                Ok(Batch {
                    single: true,
                    items: vec![parse_one(text, received_at)],
                })
            }
        }
        other => Err(FormatError::UnsupportedMediaType(other.to_owned())),
    }
}

fn check_count(n: usize, limit: usize) -> Result<(), FormatError> {
    match n {
        0 => Err(FormatError::EmptyBatch),
        n if n > limit => Err(FormatError::TooManyItems { n, limit }),
        _ => Ok(()),
    }
}

/// Parses and validates one canonical (or seed-shaped) event.
pub fn parse_one(json: &str, received_at: Timestamp) -> Result<TrackingEvent, String> {
    match serde_json::from_str::<EventIn<'_>>(json) {
        Ok(e) => validate(e, received_at),
        Err(e) => Err(diagnose(json, e)),
    }
}

/// Explains why the typed parse failed, naming the field where possible.
fn diagnose(json: &str, err: serde_json::Error) -> String {
    let value: serde_json::Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => return format!("malformed JSON: {e}"),
    };
    let Some(obj) = value.as_object() else {
        return "expected a JSON object".into();
    };
    for field in STRING_FIELDS {
        match obj.get(field) {
            None | Some(serde_json::Value::Null | serde_json::Value::String(_)) => {}
            Some(other) => return format!("{field} must be a string, not {}", kind_of(other)),
        }
    }
    err.to_string()
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn seed_kind(event_type: &str) -> Option<EventKind> {
    Some(match event_type {
        "create" => EventKind::OrderCreated,
        "ship" => EventKind::Status(ShipmentStatus::InfoReceived),
        "received" => EventKind::Status(ShipmentStatus::PickedUp),
        "delivered" => EventKind::Status(ShipmentStatus::Delivered),
        _ => return None,
    })
}

fn bounded<'a>(
    field: &str,
    v: Option<Cow<'a, str>>,
    max: usize,
) -> Result<Option<Cow<'a, str>>, String> {
    match v {
        Some(s) if s.len() > max => {
            Err(format!("{field} is {} bytes; the limit is {max}", s.len()))
        }
        Some(s) if s.is_empty() => Ok(None),
        // No store can keep it faithfully (PostgreSQL's text refuses it outright).
        Some(s) if s.contains('\0') => Err(format!("{field} contains a NUL character")),
        other => Ok(other),
    }
}

fn validate(e: EventIn<'_>, received_at: Timestamp) -> Result<TrackingEvent, String> {
    let kind = match (&e.status, &e.event_type) {
        (Some(_), Some(_)) => return Err("give status or event_type, not both".into()),
        (Some(s), None) => EventKind::parse(s)
            .filter(|k| matches!(k, EventKind::OrderCreated | EventKind::Status(_)))
            .ok_or_else(|| {
                format!(
                    "unknown status {s:?}; expected created or one of {}",
                    ShipmentStatus::ALL.map(|s| s.as_str()).join(", ")
                )
            })?,
        (None, Some(t)) => seed_kind(t).ok_or_else(|| {
            format!("unknown event_type {t:?}; expected create, ship, received or delivered")
        })?,
        (None, None) if e.raw_status.as_deref().is_some_and(|r| !r.is_empty()) => {
            EventKind::Unmapped
        }
        (None, None) => return Err("status is required (or event_type, or raw_status)".into()),
    };
    let order_id = e
        .order_id
        .as_deref()
        .map(OrderId::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let tracking = match (&e.carrier, &e.tracking_number) {
        (Some(c), Some(t)) => Some(Tracking {
            carrier: carriers::canonical(Carrier::parse(c).map_err(|e| e.to_string())?),
            tracking_number: TrackingNumber::parse(t).map_err(|e| e.to_string())?,
        }),
        (None, Some(_)) => return Err("carrier is required with tracking_number".into()),
        (Some(_), None) => return Err("tracking_number is required with carrier".into()),
        (None, None) => None,
    };
    if tracking.is_none() && order_id.is_none() {
        return Err("order_id is required for an event without a tracking number".into());
    }
    if kind == EventKind::OrderCreated && tracking.is_some() {
        return Err("created is an order-level event: it takes no tracking number".into());
    }
    let given_time = e
        .occurred_at
        .as_deref()
        .map(|s| parse_instant("occurred_at", s, received_at))
        .transpose()?;
    let location = bounded("location", e.location, MAX_TEXT)?;
    let description = bounded("description", e.description, MAX_TEXT)?;
    let raw_status = bounded("raw_status", e.raw_status, MAX_RAW_STATUS)?;
    let details = match e.details {
        Some(d) if d.get().len() > MAX_DETAILS => {
            return Err(format!(
                "details is {} bytes; the limit is {MAX_DETAILS}",
                d.get().len()
            ));
        }
        Some(d) => Some(d.get().to_owned()),
        None => None,
    };
    let event_id = match bounded("event_id", e.event_id, MAX_EVENT_ID)? {
        Some(id)
            if id
                .chars()
                .any(|c| c.is_control() || waybill_core::ids::is_invisible_format(c)) =>
        {
            return Err("event_id contains a control or invisible formatting character".into());
        }
        Some(id) => id.into_owned(),
        None => derive_event_id(&IdentityParts {
            order_id: order_id.as_ref().map(OrderId::as_str),
            tracking: tracking
                .as_ref()
                .map(|t| (t.carrier.as_str(), t.tracking_number.as_str())),
            kind,
            occurred_at: given_time.map(|(t, _)| t),
            location: location.as_deref(),
        }),
    };
    let (occurred_at, utc_offset_seconds) = given_time.unwrap_or((received_at, 0));
    Ok(TrackingEvent {
        event_id,
        order_id,
        tracking,
        kind,
        occurred_at,
        utc_offset_seconds,
        received_at,
        location: location.map(Cow::into_owned),
        description: description.map(Cow::into_owned),
        raw_status: raw_status.map(Cow::into_owned),
        details,
    })
}

/// Is `s` shaped like RFC 3339's `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`?
/// jiff alone would also take ISO 8601's looser forms (basic format, `+08`, offsets with
/// seconds, bracketed zones); carriers' data is messy enough without guessing.
fn rfc3339_shape(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// Parses an RFC 3339 instant that carries its UTC offset, and checks it is plausible.
pub fn parse_instant(field: &str, s: &str, now: Timestamp) -> Result<(Timestamp, i32), String> {
    let (ts, offset) = parse_rfc3339(field, s)?;
    if ts.0 < EARLIEST_MICROS {
        return Err(format!("{field} {s:?} is before 2000-01-01"));
    }
    if ts.0 > now.as_micros() + FUTURE_TOLERANCE_MICROS {
        return Err(format!("{field} {s:?} is more than a day in the future"));
    }
    Ok((ts, offset))
}

/// An RFC 3339 instant used as a bound (`updated_since`, `since`): any instant, with no
/// window of plausibility, since a filter from 1999 or 2999 is a question with an
/// answer (everything, nothing), not a broken clock.
pub fn parse_bound(field: &str, s: &str) -> Result<Timestamp, String> {
    parse_rfc3339(field, s).map(|(ts, _)| ts)
}

fn parse_rfc3339(field: &str, s: &str) -> Result<(Timestamp, i32), String> {
    if !rfc3339_shape(s) {
        return Err(if rfc3339_shape(&format!("{s}Z")) {
            format!("{field} {s:?} has no UTC offset (add Z or +08:00)")
        } else {
            format!("{field} {s:?} is not an RFC 3339 timestamp like 2026-11-27T10:02:00+08:00")
        });
    }
    let pieces = jiff::fmt::temporal::Pieces::parse(s)
        .map_err(|e| format!("{field} {s:?} is not an RFC 3339 timestamp: {e}"))?;
    let offset = match pieces.offset() {
        Some(jiff::fmt::temporal::PiecesOffset::Zulu) => 0,
        Some(jiff::fmt::temporal::PiecesOffset::Numeric(n)) => n.offset().seconds(),
        _ => {
            return Err(format!("{field} {s:?} has no UTC offset (add Z or +08:00)"));
        }
    };
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|e| format!("{field} {s:?} is not an RFC 3339 timestamp: {e}"))?;
    Ok((Timestamp(ts.as_microsecond()), offset))
}

/// CSV with a header row of canonical field names (`waybill ingest FILE.csv`): each row
/// becomes one event object's JSON text, for [`parse_one`], or the reason it could not
/// be read. Empty cells are absent fields; `details` is JSON if it reads as JSON, else
/// text.
pub fn csv_items(
    input: impl std::io::Read,
) -> Result<impl Iterator<Item = Result<String, String>>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    Ok(reader.into_records().map(move |rec| {
        let rec = rec.map_err(|e| e.to_string())?;
        let mut obj = serde_json::Map::new();
        for (name, value) in headers.iter().zip(rec.iter()) {
            if value.is_empty() {
                continue;
            }
            let v = if name == "details" {
                serde_json::from_str(value).unwrap_or_else(|_| value.into())
            } else {
                serde_json::Value::String(value.to_owned())
            };
            obj.insert(name.to_owned(), v);
        }
        Ok(serde_json::Value::Object(obj).to_string())
    }))
}

/// Formats an instant as RFC 3339 in the given UTC offset.
pub fn format_instant(micros: i64, offset_seconds: i32) -> String {
    let ts = jiff::Timestamp::from_microsecond(micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let offset = jiff::tz::Offset::from_seconds(offset_seconds).unwrap_or(jiff::tz::Offset::UTC);
    if offset == jiff::tz::Offset::UTC {
        ts.to_string()
    } else {
        ts.display_with_offset(offset).to_string()
    }
}

/// Reads a message from the broker (docs/scaling.md): canonical events as `/v1/events`
/// takes them (one, an array, NDJSON), or CloudEvents structured or batched, told by
/// the content type. Each event is read on its own; `Err` when none could be.
pub fn decode_message(
    content_type: Option<&str>,
    body: &[u8],
    received_at: Timestamp,
    max_items: usize,
) -> Result<Vec<Result<TrackingEvent, String>>, String> {
    let mode = match crate::cloudevents::media_type(content_type).as_str() {
        "application/cloudevents+json" => Some(crate::cloudevents::Mode::Structured),
        "application/cloudevents-batch+json" => Some(crate::cloudevents::Mode::Batch),
        _ => None,
    };
    let batch = match mode {
        // Structured and batched mode read no header but the content type.
        Some(mode) => crate::cloudevents::parse(mode, |_| None, body, received_at, max_items),
        None => parse_events(content_type, body, received_at, max_items),
    };
    batch.map(|b| b.items).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000_000); // 2027-01-15

    fn one(json: &str) -> Result<TrackingEvent, String> {
        parse_one(json, NOW)
    }

    #[test]
    fn the_contracts_example_parses() {
        let e = one(
            r#"{"event_id":"evt_7f3a","order_id":"order1","carrier":"sf-express",
            "tracking_number":"SF1234567890123","status":"picked_up",
            "occurred_at":"2026-11-27T10:02:00+08:00","location":"深圳市南山区",
            "description":"顺丰速运 已收取快件","raw_status":"50","details":{}}"#,
        )
        .unwrap();
        assert_eq!(e.event_id, "evt_7f3a");
        assert_eq!(e.kind, EventKind::Status(ShipmentStatus::PickedUp));
        assert_eq!(e.utc_offset_seconds, 8 * 3600);
        assert_eq!(
            format_instant(e.occurred_at.0, e.utc_offset_seconds),
            "2026-11-27T10:02:00+08:00"
        );
        assert_eq!(e.details.as_deref(), Some("{}"));
    }

    #[test]
    fn a_nul_character_in_text_is_refused() {
        for field in ["location", "description", "raw_status", "event_id"] {
            let json =
                format!(r#"{{"order_id":"o1","status":"in_transit","{field}":"hub\u0000 3"}}"#);
            let err = one(&json).unwrap_err();
            assert!(err.contains(field) && err.contains("NUL"), "{field}: {err}");
        }
    }

    #[test]
    fn the_seed_shape_parses_and_derives_a_stable_id() {
        let a = one(r#"{"event_type": "ship", "order_id": "order1", "details": ""}"#).unwrap();
        let b = parse_one(
            r#"{"event_type":"ship","order_id":"order1","details":""}"#,
            Timestamp(NOW.0 + 5),
        )
        .unwrap();
        assert_eq!(a.kind, EventKind::Status(ShipmentStatus::InfoReceived));
        assert_eq!(a.occurred_at, NOW, "no occurred_at: the time of receipt");
        assert_eq!(
            a.event_id, b.event_id,
            "a re-sent seed event is the same event"
        );
        assert!(a.tracking.is_none());
    }

    #[test]
    fn bad_items_are_explained() {
        let cases = [
            (
                r#"{"order_id": 5, "status": "picked_up"}"#,
                "order_id must be a string, not a number",
            ),
            (
                r#"{"order_id": "o", "status": "teleported"}"#,
                "unknown status \"teleported\"",
            ),
            (
                r#"{"order_id": "o", "event_type": "paid"}"#,
                "unknown event_type \"paid\"",
            ),
            (r#"{"order_id": "o"}"#, "status is required"),
            (r#"{"status": "in_transit"}"#, "order_id is required"),
            (
                r#"{"order_id":"o","status":"in_transit","tracking_number":"X1"}"#,
                "carrier is required",
            ),
            (
                r#"{"order_id":"o","status":"in_transit","occurred_at":"2026-11-27T10:02:00"}"#,
                "has no UTC offset",
            ),
            (
                r#"{"order_id":"o","status":"in_transit","occurred_at":"1970-01-01T00:00:00Z"}"#,
                "before 2000",
            ),
            (
                r#"{"order_id":"o","status":"in_transit","occurred_at":"2099-01-01T00:00:00Z"}"#,
                "in the future",
            ),
            (
                r#"{"order_id":"o","status":"in_transit","occurred_at":"yesterday"}"#,
                "not an RFC 3339",
            ),
            (
                r#"{"order_id":"","status":"in_transit"}"#,
                "order_id must not be empty",
            ),
            (r#"[1]"#, "expected a JSON object"),
            (
                r#"{"order_id":"o","status":"created","carrier":"zto","tracking_number":"1"}"#,
                "order-level",
            ),
        ];
        for (json, expected) in cases {
            let err = one(json).unwrap_err();
            assert!(
                err.contains(expected),
                "{json}: got {err:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn ids_with_invisible_formatting_are_refused() {
        let err = one(r#"{"event_id": "evt\u202e1", "order_id": "o", "status": "picked_up"}"#)
            .unwrap_err();
        assert!(err.contains("event_id"), "{err}");
        let err = one(r#"{"order_id": "o\u200b1", "status": "picked_up"}"#).unwrap_err();
        assert!(err.contains("order_id"), "{err}");
        let err = one(
            r#"{"order_id": "o", "carrier": "zto", "tracking_number": "Z\ufeff1", "status": "picked_up"}"#,
        )
        .unwrap_err();
        assert!(err.contains("tracking_number"), "{err}");
    }

    #[test]
    fn bodies_of_every_shape() {
        let ndjson = b"{\"order_id\":\"a\",\"status\":\"picked_up\"}\n\n{\"order_id\":5}\n";
        let b = parse_events(Some("application/x-ndjson"), ndjson, NOW, 10).unwrap();
        assert!(!b.single);
        assert_eq!(b.items.len(), 2);
        assert!(b.items[0].is_ok() && b.items[1].is_err());
        let arr =
            br#"[{"order_id":"a","status":"picked_up"},{"order_id":"b","event_type":"create"}]"#;
        let b = parse_events(Some("application/json; charset=utf-8"), arr, NOW, 10).unwrap();
        assert_eq!(b.items.len(), 2);
        assert!(b.items.iter().all(Result::is_ok));
        assert!(matches!(
            parse_events(None, b"[]", NOW, 10),
            Err(FormatError::EmptyBatch)
        ));
        assert!(matches!(
            parse_events(None, b"  ", NOW, 10),
            Err(FormatError::EmptyBatch)
        ));
        assert!(matches!(
            parse_events(None, b"{\"a\":", NOW, 10),
            Err(FormatError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_events(None, b"[{}", NOW, 10),
            Err(FormatError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_events(Some("text/csv"), b"a,b", NOW, 10),
            Err(FormatError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            parse_events(None, b"[{},{},{}]", NOW, 2),
            Err(FormatError::TooManyItems { n: 3, limit: 2 })
        ));
    }
}
