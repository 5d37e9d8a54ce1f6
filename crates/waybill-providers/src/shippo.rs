//! Shippo `track_updated` webhooks.
//!
//! Shippo posts `{event, test, data}` where `data` is a Track: `carrier`,
//! `tracking_number`, the latest `tracking_status` and the whole `tracking_history`, each
//! entry `{status, substatus {code, text, action_required}, status_details, status_date,
//! location {city, state, zip, country}, object_id}`. So every push is a snapshot: each
//! history entry becomes one event with a derived id, and a re-push only adds what is new.
//! `tracking_status` is normally the last history entry again (under another `object_id`,
//! with the same content, hence the same derived id); it is added only when it is not.
//!
//! **Signature.** Shippo's HMAC option: `Shippo-Auth-Signature: t=<unix seconds>,v1=<hex>`
//! where the hex is HMAC-SHA256, keyed with the shared secret, of `<t>.<raw body>` — the
//! Stripe layout, so several `v1` values (a secret being rotated) are accepted and any one
//! may match, and `t` must be within 300 s of our clock. Shippo's other options cannot be
//! checked here: its "self-generated token" lives in the URL's query string, which the
//! server does not hand to providers, and IP allowlisting belongs in front of the server.
//! So the HMAC option (which Shippo enables on request) is required.
//!
//! **Codes.** `substatus.code` is finer than `status` and is looked up first; `status`
//! only when there is no substatus. The raw code kept is `STATUS/substatus` (or `STATUS`).
//! A substatus the table does not know stays `unmapped` rather than falling back to its
//! status, like every unknown code.
//!
//! **Test mode.** A push with `"test": true` comes from a test-mode API token: mock
//! carriers and tracking numbers (`shippo`/`SHIPPO_TRANSIT`). It is acknowledged and
//! yields no events, so test traffic never creates shipments.
//!
//! **Times.** `status_date` is documented as UTC with a `Z`; test-mode data has been seen
//! without an offset, and such a time is read in the configured zone. When an entry has no
//! `status_date`, its `object_created` (when Shippo recorded it) stands in, flagged in the
//! event's details; with neither, the push is refused rather than given an invented time.

use serde_json::{Map, Value};
use waybill_core::{ShipmentStatus as S, TrackingNumber};

use crate::carriers::{self, CarrierCode};
use crate::checkpoint::{clip, join_location};
use crate::codes::{self, Code, Mapped, code, no_status};
use crate::json::{self, nonempty};
use crate::sign;
use crate::{
    AuthError, Checkpoint, Context, Inbound, Outcome, ParseError, Provider, ProviderTime, Push,
    Reply,
};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "shippo-auth-signature";

/// The only push type that carries tracking.
pub const TRACK_UPDATED: &str = "track_updated";

/// Longest provider text kept in an event's details.
const MAX_EXTRA: usize = 256;

type Obj<'a> = json::Obj<'a, json::Text>;

/// Shippo's tracking statuses (`status`), used when an entry has no substatus.
pub const STATUSES: &[Code] = &[
    code(
        "PRE_TRANSIT",
        S::InfoReceived,
        "Label created; not yet dropped off or picked up",
    ),
    code(
        "TRANSIT",
        S::InTransit,
        "Scanned by the carrier, in transit",
    ),
    code("DELIVERED", S::Delivered, "Delivered"),
    code(
        "RETURNED",
        S::Returning,
        "On its way back to the sender, or returned",
    ),
    code(
        "FAILURE",
        S::Exception,
        "The carrier reports a delivery problem",
    ),
    no_status(
        "UNKNOWN",
        "Not found in the carrier's tracking system (yet)",
    ),
];

/// Shippo's substatus codes (`substatus.code`).
pub const SUBSTATUSES: &[Code] = &[
    code(
        "information_received",
        S::InfoReceived,
        "Information about the package received",
    ),
    code(
        "address_issue",
        S::Exception,
        "Address information is incorrect; contact the carrier",
    ),
    code(
        "contact_carrier",
        S::Exception,
        "Contact the carrier for more information",
    ),
    code(
        "delayed",
        S::InTransit,
        "Delivery of the package is delayed",
    ),
    code(
        "delivery_attempted",
        S::FailedAttempt,
        "Delivery attempted; contact the carrier",
    ),
    code(
        "delivery_rescheduled",
        S::InTransit,
        "Delivery has been rescheduled",
    ),
    code(
        "delivery_scheduled",
        S::InTransit,
        "Package is scheduled for delivery",
    ),
    code(
        "location_inaccessible",
        S::FailedAttempt,
        "Delivery location inaccessible to the carrier",
    ),
    code(
        "notice_left",
        S::FailedAttempt,
        "Carrier left a notice during an attempted delivery",
    ),
    code(
        "out_for_delivery",
        S::OutForDelivery,
        "Package is out for delivery",
    ),
    code(
        "package_accepted",
        S::PickedUp,
        "Accepted into the carrier network",
    ),
    code(
        "package_arrived",
        S::InTransit,
        "Arrived at an intermediate location",
    ),
    code(
        "package_damaged",
        S::Exception,
        "Package damaged; contact the carrier",
    ),
    code(
        "package_departed",
        S::InTransit,
        "Departed from an intermediate location",
    ),
    code("package_forwarded", S::InTransit, "Package forwarded"),
    code(
        "package_held",
        S::Exception,
        "Held at a carrier location; contact the carrier",
    ),
    code(
        "package_processed",
        S::InTransit,
        "Processed at an intermediate location",
    ),
    code(
        "package_processing",
        S::InTransit,
        "Processing at an intermediate location",
    ),
    code(
        "pickup_available",
        S::AvailableForPickup,
        "Available for pickup at a carrier location",
    ),
    code(
        "reschedule_delivery",
        S::FailedAttempt,
        "Contact the carrier to reschedule delivery",
    ),
    code("delivered", S::Delivered, "Package delivered"),
    code(
        "return_to_sender",
        S::Returning,
        "Package is to be returned to the sender",
    ),
    code("package_unclaimed", S::Exception, "Package unclaimed"),
    code(
        "package_undeliverable",
        S::Exception,
        "Package cannot be delivered",
    ),
    code("package_disposed", S::Exception, "Package disposed of"),
    code(
        "package_lost",
        S::Exception,
        "Package lost; contact the carrier",
    ),
    no_status("other", "Unrecognized carrier status"),
];

/// Checks `Shippo-Auth-Signature: t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn verify(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    let value = req
        .headers
        .get(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("Shippo-Auth-Signature"))?;
    let text = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the signature header is not visible ASCII"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in text.split(',') {
        let Some((key, val)) = part.split_once('=') else {
            return Err(AuthError::Malformed(
                "the signature header is not a list of key=value pairs",
            ));
        };
        match key.trim() {
            "t" if timestamp.is_none() => timestamp = Some(val.trim()),
            "t" => {
                return Err(AuthError::Malformed(
                    "the signature header has two t values",
                ));
            }
            "v1" => signatures.push(val.trim()),
            // Other schemes (a future `v2`) are not ours to judge.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(AuthError::Malformed("the signature header has no t"))?;
    let signed_at: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(AuthError::Malformed("t is not a Unix time in seconds"))?;
    if signatures.is_empty() {
        return Err(AuthError::Malformed("the signature header has no v1"));
    }
    if signatures
        .iter()
        .any(|s| s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(AuthError::Malformed(
            "v1 is not a hex HMAC-SHA256 (64 hex digits)",
        ));
    }
    let expected = sign::hex_lower(&sign::hmac_sha256(
        secret,
        &[timestamp.as_bytes(), b".", req.body],
    ));
    // Compare against every candidate, so the time taken does not say which one matched.
    let matched = signatures
        .iter()
        .fold(false, |acc, s| sign::ct_eq_ignore_case(s, &expected) | acc);
    if !matched {
        return Err(AuthError::Mismatch);
    }
    sign::check_freshness(signed_at, req.received_at)
}

/// Shippo wants a 2xx within three seconds; it retries 408, 429 and 5xx answers and gives
/// up on other 4xx, so a push that could not be stored gets 503.
pub fn reply(_req: &Inbound<'_>, outcome: &Outcome) -> Reply {
    Reply::plain(outcome)
}

pub fn parse(req: &Inbound<'_>, ctx: &Context) -> Result<Push, ParseError> {
    let body: Value = serde_json::from_slice(req.body).map_err(|e| ParseError::json(&e))?;
    let root = Obj::root(&body)?;
    let event = root
        .text("event")?
        .ok_or_else(|| ParseError::Missing("event".into()))?;
    if event != TRACK_UPDATED {
        return Err(ParseError::UnsupportedType(event));
    }
    if root.flag("test")? == Some(true) {
        return Ok(Push::default());
    }
    let data = root
        .object("data")?
        .ok_or_else(|| ParseError::Missing("data".into()))?;

    let number = data
        .text("tracking_number")?
        .ok_or_else(|| ParseError::Missing("data.tracking_number".into()))?;
    let tracking_number = TrackingNumber::parse(number.trim())
        .map_err(|e| ParseError::invalid("data.tracking_number", e))?;
    let carrier_code = data
        .text("carrier")?
        .and_then(nonempty)
        .ok_or_else(|| ParseError::Missing("data.carrier".into()))?;
    let carrier = carriers::slug(Provider::Shippo, CarrierCode::Text(&carrier_code))
        .map_err(|e| ParseError::invalid("data.carrier", e))?;

    let mut shared = Map::new();
    for key in ["transaction", "metadata"] {
        if let Some(v) = clip(data.text(key)?, MAX_EXTRA) {
            shared.insert(key.into(), v.into());
        }
    }
    crate::checkpoint::note_estimate(&mut shared, data.text("eta")?.as_deref());

    let mut entries = Vec::new();
    if let Some(history) = data.array("tracking_history")? {
        for (i, value) in history.iter().enumerate() {
            entries.push(Obj::at(value, format!("data.tracking_history[{i}]"))?);
        }
    }
    // Before API version 2018-02-08, `track_updated` carried a Transaction, whose
    // `tracking_status` is a bare status word; say so rather than "expected an object".
    let latest = match data.get("tracking_status") {
        Some(Value::String(_)) => {
            return Err(ParseError::invalid(
                "data.tracking_status",
                "found a status word, not a tracking status object: this is a Transaction \
                 (Shippo API versions before 2018-02-08), not a Track",
            ));
        }
        _ => data.object("tracking_status")?,
    };

    let mut push = Push::default();
    let count = entries.len();
    for (i, entry) in entries.into_iter().chain(latest).enumerate() {
        let is_latest = i == count;
        let (cp, unknown) = checkpoint(&entry, &carrier, &tracking_number, &shared, ctx)?;
        let event = cp.into_event(req.received_at);
        if is_latest && push.events.iter().any(|e| e.event_id == event.event_id) {
            continue;
        }
        if let Some(code) = unknown
            && !push.unknown_codes.contains(&code)
        {
            push.unknown_codes.push(code);
        }
        push.events.push(event);
    }
    Ok(push)
}

/// One tracking status entry, and the code it carries when the tables do not know it.
fn checkpoint(
    entry: &Obj<'_>,
    carrier: &waybill_core::Carrier,
    tracking_number: &TrackingNumber,
    shared: &Map<String, Value>,
    ctx: &Context,
) -> Result<(Checkpoint, Option<String>), ParseError> {
    let status = entry.text("status")?.and_then(nonempty);
    let substatus = entry.object("substatus")?;
    let (sub_code, sub_text, action_required) = match &substatus {
        Some(s) => (
            s.text("code")?.and_then(nonempty),
            s.text("text")?,
            s.flag("action_required")?,
        ),
        None => (None, None, None),
    };
    let (mapped, looked_up) = match (&sub_code, &status) {
        (Some(c), _) => (codes::lookup(SUBSTATUSES, c), Some(c.clone())),
        (None, Some(s)) => (codes::lookup(STATUSES, s), Some(s.clone())),
        (None, None) => (Mapped::Known(None), None),
    };
    let raw_status = match (&status, &sub_code) {
        (Some(s), Some(c)) => Some(format!("{s}/{c}")),
        (Some(s), None) => Some(s.clone()),
        (None, Some(c)) => Some(c.clone()),
        (None, None) => None,
    };
    let unknown = (mapped == Mapped::Unknown).then(|| looked_up.unwrap_or_default());

    let mut extra = shared.clone();
    let time = match entry.text("status_date")?.and_then(nonempty) {
        Some(t) => ProviderTime::parse(&t, &ctx.zone)
            .map_err(|e| ParseError::invalid(entry.field("status_date"), e))?,
        None => {
            let created = entry
                .text("object_created")?
                .and_then(nonempty)
                .ok_or_else(|| ParseError::Missing(entry.field("status_date")))?;
            extra.insert("time_source".into(), "object_created".into());
            ProviderTime::parse(&created, &ctx.zone)
                .map_err(|e| ParseError::invalid(entry.field("object_created"), e))?
        }
    };
    let location = match entry.object("location")? {
        Some(l) => join_location([
            l.text("city")?.as_deref(),
            l.text("state")?.as_deref(),
            l.text("zip")?.as_deref(),
            l.text("country")?.as_deref(),
        ]),
        None => None,
    };
    if let Some(id) = clip(entry.text("object_id")?, MAX_EXTRA) {
        extra.insert("object_id".into(), id.into());
    }
    if let Some(text) = clip(sub_text, MAX_EXTRA) {
        extra.insert("substatus_text".into(), text.into());
    }
    if let Some(flag) = action_required {
        extra.insert("action_required".into(), flag.into());
    }
    Ok((
        Checkpoint {
            provider: Provider::Shippo,
            carrier: carrier.clone(),
            tracking_number: tracking_number.clone(),
            order_id: None,
            kind: mapped.kind(),
            raw_status,
            time,
            location,
            description: entry.text("status_details")?,
            provider_event_id: None,
            extra,
        },
        unknown,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::{EventKind, Timestamp};

    fn parse_one(entry: Value) -> Push {
        let body = serde_json::json!({
            "event": "track_updated",
            "test": false,
            "data": {
                "carrier": "usps",
                "tracking_number": "9205590164917312751089",
                "tracking_history": [entry]
            }
        })
        .to_string();
        let headers = http::HeaderMap::new();
        let req = Inbound {
            headers: &headers,
            body: body.as_bytes(),
            path: "/v1/webhooks/shippo",
            received_at: Timestamp(0),
        };
        parse(&req, &Context::for_provider(Provider::Shippo)).unwrap()
    }

    fn entry(status: Option<&str>, sub: Option<&str>) -> Value {
        serde_json::json!({
            "status": status,
            "substatus": sub.map(|c| serde_json::json!({"code": c, "text": "t", "action_required": false})),
            "status_details": "d",
            "status_date": "2023-07-21T15:33:00Z",
            "object_id": "x"
        })
    }

    #[test]
    fn every_substatus_maps_as_its_row_says_through_parse() {
        for row in SUBSTATUSES {
            let push = parse_one(entry(Some("TRANSIT"), Some(row.code)));
            assert_eq!(
                push.events[0].kind,
                Mapped::Known(row.status).kind(),
                "{}",
                row.code
            );
            assert_eq!(
                push.events[0].raw_status.as_deref(),
                Some(format!("TRANSIT/{}", row.code).as_str())
            );
            assert!(push.unknown_codes.is_empty());
        }
    }

    #[test]
    fn every_status_maps_as_its_row_says_without_a_substatus() {
        for row in STATUSES {
            let push = parse_one(entry(Some(row.code), None));
            assert_eq!(
                push.events[0].kind,
                Mapped::Known(row.status).kind(),
                "{}",
                row.code
            );
            assert_eq!(push.events[0].raw_status.as_deref(), Some(row.code));
            assert!(push.unknown_codes.is_empty());
        }
    }

    #[test]
    fn an_unknown_substatus_is_unmapped_and_counted() {
        let push = parse_one(entry(Some("TRANSIT"), Some("teleported")));
        assert_eq!(push.events[0].kind, EventKind::Unmapped);
        assert_eq!(
            push.events[0].raw_status.as_deref(),
            Some("TRANSIT/teleported")
        );
        assert_eq!(push.unknown_codes, ["teleported"]);
        let push = parse_one(entry(Some("IN_ORBIT"), None));
        assert_eq!(push.unknown_codes, ["IN_ORBIT"]);
        let push = parse_one(entry(None, None));
        assert_eq!(push.events[0].kind, EventKind::Unmapped);
        assert!(push.unknown_codes.is_empty());
    }

    #[test]
    fn tables_have_no_duplicates_or_overlap() {
        codes::assert_unique(STATUSES);
        codes::assert_unique(SUBSTATUSES);
        for s in STATUSES {
            assert!(SUBSTATUSES.iter().all(|c| c.code != s.code));
        }
    }
}
