//! CloudEvents 1.0 over HTTP, carrying canonical events: structured mode
//! (`application/cloudevents+json`), batched mode (`application/cloudevents-batch+json`)
//! and binary mode (`ce-*` headers, the canonical event as the body).
//!
//! The CloudEvent's `data` is a canonical event (docs/api.md, "POST /v1/events"). Its identity is the
//! CloudEvents one: `source` + `id` make the `event_id` (`ce_…`), so a producer re-sending
//! the same CloudEvent is a duplicate whatever else it carries. When `data` has no
//! `occurred_at`, the CloudEvent's `time` is used.

use serde::Deserialize;
use serde_json::{Map, Value};
use waybill_core::{Timestamp, TrackingEvent};
use waybill_providers::sign;

use crate::FormatError;
use crate::wire::{self, Batch};

/// How a request carries CloudEvents, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Structured,
    Batch,
    Binary,
}

/// Longest `id` or `source` taken.
const MAX_ATTRIBUTE: usize = 1024;

pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Structured and batched mode are told by the media type, binary mode by the
/// `ce-specversion` header. `header` looks a request header up by its lower-case name.
pub fn detect<'h>(header: impl Fn(&str) -> Option<&'h str>) -> Option<Mode> {
    match media_type(header("content-type")).as_str() {
        "application/cloudevents+json" => Some(Mode::Structured),
        "application/cloudevents-batch+json" => Some(Mode::Batch),
        _ if header("ce-specversion").is_some() => Some(Mode::Binary),
        _ => None,
    }
}

/// The envelope's attributes; extensions are allowed and ignored.
#[derive(Deserialize)]
struct Envelope {
    specversion: Option<Value>,
    id: Option<Value>,
    source: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    time: Option<Value>,
    datacontenttype: Option<Value>,
    data: Option<Value>,
    data_base64: Option<Value>,
}

/// Parses a request body in `mode` into canonical events, item by item.
/// `header` looks a request header up by its lower-case name (binary mode reads the
/// `ce-*` ones).
pub fn parse<'h>(
    mode: Mode,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    received_at: Timestamp,
    max_items: usize,
) -> Result<Batch, FormatError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| FormatError::MalformedJson(format!("the body is not UTF-8: {e}")))?;
    match mode {
        Mode::Structured => {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| FormatError::MalformedJson(e.to_string()))?;
            Ok(Batch {
                single: true,
                items: vec![structured(value, received_at)],
            })
        }
        Mode::Batch => {
            let values: Vec<Value> = serde_json::from_str(text)
                .map_err(|e| FormatError::MalformedJson(e.to_string()))?;
            if values.is_empty() {
                return Err(FormatError::EmptyBatch);
            }
            if values.len() > max_items {
                return Err(FormatError::TooManyItems {
                    n: values.len(),
                    limit: max_items,
                });
            }
            Ok(Batch {
                single: false,
                items: values
                    .into_iter()
                    .map(|v| structured(v, received_at))
                    .collect(),
            })
        }
        Mode::Binary => {
            let data: Value = serde_json::from_str(text)
                .map_err(|e| FormatError::MalformedJson(e.to_string()))?;
            let header = |name: &str| header(name).map(|s| Value::String(s.to_owned()));
            let envelope = Envelope {
                specversion: header("ce-specversion"),
                id: header("ce-id"),
                source: header("ce-source"),
                kind: header("ce-type"),
                time: header("ce-time"),
                datacontenttype: header("content-type"),
                data: Some(data),
                data_base64: None,
            };
            Ok(Batch {
                single: true,
                items: vec![to_event(envelope, received_at)],
            })
        }
    }
}

fn structured(value: Value, received_at: Timestamp) -> Result<TrackingEvent, String> {
    if !value.is_object() {
        return Err("a CloudEvent must be a JSON object".into());
    }
    let envelope: Envelope = serde_json::from_value(value).map_err(|e| e.to_string())?;
    to_event(envelope, received_at)
}

fn attribute(name: &str, v: Option<Value>) -> Result<String, String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ATTRIBUTE => Ok(s),
        Some(Value::String(s)) if s.is_empty() => Err(format!("{name} must not be empty")),
        Some(Value::String(_)) => Err(format!("{name} is longer than {MAX_ATTRIBUTE} bytes")),
        Some(_) => Err(format!("{name} must be a string")),
        None => Err(format!("{name} is required")),
    }
}

fn to_event(e: Envelope, received_at: Timestamp) -> Result<TrackingEvent, String> {
    let version = attribute("specversion", e.specversion)?;
    if version != "1.0" {
        return Err(format!(
            "specversion {version:?} is not supported; expected \"1.0\""
        ));
    }
    let id = attribute("id", e.id)?;
    let source = attribute("source", e.source)?;
    attribute("type", e.kind)?;
    if let Some(ct) = e.datacontenttype {
        let ct = ct.as_str().map(|s| media_type(Some(s))).unwrap_or_default();
        if ct != "application/json" && !ct.ends_with("+json") {
            return Err(format!("datacontenttype {ct:?} is not JSON"));
        }
    }
    if e.data_base64.is_some() {
        return Err("data_base64 is not supported: data must be a canonical event".into());
    }
    let mut data: Map<String, Value> = match e.data {
        Some(Value::Object(m)) => m,
        Some(_) => return Err("data must be a canonical event (a JSON object)".into()),
        None => return Err("data is required".into()),
    };
    data.insert("event_id".into(), Value::String(event_id(&source, &id)));
    if !data.contains_key("occurred_at") {
        match e.time {
            Some(Value::String(t)) => {
                data.insert("occurred_at".into(), Value::String(t));
            }
            Some(_) => return Err("time must be a string".into()),
            None => {}
        }
    }
    wire::parse_one(&Value::Object(data).to_string(), received_at)
}

/// The dedup key of a CloudEvent: its `source` and `id` together.
pub fn event_id(source: &str, id: &str) -> String {
    let digest = sign::sha256(&[
        &(source.len() as u32).to_le_bytes(),
        source.as_bytes(),
        id.as_bytes(),
    ]);
    format!("ce_{}", &sign::hex_lower(&digest)[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structured_json(id: &str, data: Value) -> Value {
        serde_json::json!({
            "specversion": "1.0", "id": id, "source": "/wms/eu-1", "type": "com.example.parcel",
            "time": "2026-11-27T10:02:00+08:00", "datacontenttype": "application/json",
            "data": data,
        })
    }

    #[test]
    fn identity_is_source_and_id() {
        let data = serde_json::json!({"order_id": "o1", "status": "picked_up"});
        let a = structured(structured_json("1", data.clone()), crate::clock::now()).unwrap();
        let b = structured(structured_json("1", data.clone()), crate::clock::now()).unwrap();
        let c = structured(structured_json("2", data), crate::clock::now()).unwrap();
        assert_eq!(a.event_id, b.event_id);
        assert_ne!(a.event_id, c.event_id);
        assert_ne!(event_id("a", "bc"), event_id("ab", "c"));
    }

    #[test]
    fn time_fills_a_missing_occurred_at_only() {
        let at = |data: Value| structured(structured_json("1", data), crate::clock::now()).unwrap();
        let from_ce = at(serde_json::json!({"order_id": "o1", "status": "picked_up"}));
        assert_eq!(from_ce.utc_offset_seconds, 8 * 3600);
        let own = at(serde_json::json!({"order_id": "o1", "status": "picked_up",
            "occurred_at": "2026-11-27T01:00:00Z"}));
        assert_eq!(own.utc_offset_seconds, 0);
        assert!(own.occurred_at < from_ce.occurred_at);
    }

    #[test]
    fn envelopes_are_checked() {
        let ok = structured_json(
            "1",
            serde_json::json!({"order_id": "o1", "status": "picked_up"}),
        );
        for (field, value, expect) in [
            ("specversion", Value::from("0.3"), "specversion"),
            ("id", Value::from(""), "id must not be empty"),
            ("source", Value::Null, "source"),
            ("type", Value::from(3), "type must be a string"),
            ("datacontenttype", Value::from("text/xml"), "not JSON"),
            ("data", Value::from("x"), "data must be a canonical event"),
            ("data_base64", Value::from("eA=="), "data_base64"),
        ] {
            let mut v = ok.clone();
            v[field] = value;
            let err = structured(v, crate::clock::now()).unwrap_err();
            assert!(err.contains(expect), "{field}: {err}");
        }
        let mut no_id = ok;
        no_id.as_object_mut().unwrap().remove("id");
        assert!(
            structured(no_id, crate::clock::now())
                .unwrap_err()
                .contains("id is required")
        );
    }

    #[test]
    fn binary_mode_reads_the_headers() {
        let mut h = std::collections::HashMap::from([
            ("ce-specversion", "1.0"),
            ("ce-id", "9"),
            ("ce-source", "/x"),
            ("ce-type", "t"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(detect(|n| h.get(n).copied()), Some(Mode::Binary));
        let body = br#"{"order_id":"o1","status":"delivered"}"#;
        let batch = parse(
            Mode::Binary,
            |n| h.get(n).copied(),
            body,
            crate::clock::now(),
            10,
        )
        .unwrap();
        assert_eq!(
            batch.items[0].as_ref().unwrap().event_id,
            event_id("/x", "9")
        );
        h.remove("ce-id");
        let batch = parse(
            Mode::Binary,
            |n| h.get(n).copied(),
            body,
            crate::clock::now(),
            10,
        )
        .unwrap();
        assert!(batch.items[0].is_err());
    }
}
