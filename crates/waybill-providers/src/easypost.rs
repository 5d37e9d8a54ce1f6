//! EasyPost webhooks: an `Event` whose `result` is a `Tracker`.
//!
//! EasyPost posts one `Event` per change (`{"id":"evt_…","object":"Event","description":
//! "tracker.updated","mode":"production","result":{Tracker}}`). The Tracker carries the
//! parcel's whole history in `tracking_details`, oldest first, so every push is a snapshot:
//! each detail becomes one checkpoint whose id is derived from what EasyPost said, and a
//! re-pushed history changes nothing. `Event.id` is kept as the provider event id.
//!
//! EasyPost delivers every event of the account to each webhook unless the webhook filters
//! them (batches, insurance, refunds, …). Those carry no tracking data, and acknowledging
//! them loses nothing, so any description outside `tracker.*` reads as an empty push.
//!
//! **Signature.** `X-Hmac-Signature: hmac-sha256-hex=<hex>` is HMAC-SHA256 of the raw body
//! keyed with the webhook secret, as EasyPost's client libraries compute it; the libraries
//! NFKD-normalize the secret first, which leaves an ASCII secret unchanged, so the
//! configured secret is used as its bytes (it must already be in NFKD form). EasyPost's
//! support article on HMAC validation adds a timestamped scheme (`X-Timestamp` in RFC 2822
//! form, `X-Path`, `X-Hmac-Signature-V2`): when that header is present it alone decides,
//! because falling back to the body-only signature would give up its replay protection.
//! The v2 message is `X-Timestamp` + `POST` + `X-Path` + body; the article could only be
//! read in part, so that construction follows the integrations built against it (see
//! `docs/providers/easypost.md`).
//!
//! **Status.** A detail has a `status` (10 values) and a `status_detail` (28 values). The
//! status decides; for the broad statuses (`unknown`, `in_transit`, `out_for_delivery`,
//! `failure`) a detail that names a canonical status refines it: `failure` +
//! `delivery_exception` is a failed attempt, `in_transit` + `received_at_origin_facility`
//! a pick-up, `in_transit` + `return` a return under way. `raw_status` is
//! `status/status_detail`.
//!
//! The body is walked as a `serde_json::Value` rather than decoded into structs, so that a
//! field of the wrong type is reported with its full path (`…[3].datetime`) and everything
//! else is tolerated: unknown fields, nulls, absent optional parts.

use serde_json::{Map, Value};
use waybill_core::{EventKind, ShipmentStatus as S, TrackingNumber};

use crate::carriers::{self, CarrierCode};
use crate::checkpoint::{Checkpoint, join_location};
use crate::codes::{Code, Mapped, code, lookup, no_status};
use crate::json;
use crate::sign::{check_freshness, ct_eq_ignore_case, hex_lower, hmac_sha256};
use crate::{
    AuthError, Context, Inbound, Outcome, ParseError, Provider, ProviderTime, Push, Reply,
};

/// `Tracker.status` and `TrackingDetail.status`.
#[rustfmt::skip]
pub const STATUSES: &[Code] = &[
    no_status("unknown", "EasyPost has no status for the parcel yet"),
    code("pre_transit", S::InfoReceived, "label created, the carrier has not scanned it"),
    code("in_transit", S::InTransit, "on the way"),
    code("out_for_delivery", S::OutForDelivery, "on the vehicle for delivery"),
    code("delivered", S::Delivered, "delivered"),
    code("available_for_pickup", S::AvailableForPickup, "waiting at a pickup point"),
    code("return_to_sender", S::Returning, "being sent back to the sender"),
    code("failure", S::Exception, "the carrier reports a failure (lost, damaged, undeliverable…)"),
    code("cancelled", S::Cancelled, "cancelled"),
    no_status("error", "EasyPost could not retrieve tracking from the carrier"),
];

/// `status_detail`. A row with a status refines the broad statuses ([`REFINABLE`]); a row
/// without one leaves the status as it is.
#[rustfmt::skip]
pub const STATUS_DETAILS: &[Code] = &[
    no_status("address_correction", "the carrier corrected the address"),
    no_status("arrived_at_destination", "arrived in the destination area"),
    no_status("arrived_at_facility", "arrived at a carrier facility"),
    code("arrived_at_pickup_location", S::AvailableForPickup, "arrived at the pickup location"),
    no_status("awaiting_information", "the carrier is waiting for information"),
    code("cancelled", S::Cancelled, "cancelled"),
    code("damaged", S::Exception, "reported damaged"),
    no_status("delayed", "delayed"),
    code("delivery_exception", S::FailedAttempt, "a delivery attempt failed"),
    no_status("departed_facility", "left a carrier facility"),
    no_status("departed_origin_facility", "left the origin facility"),
    no_status("expired", "tracking expired"),
    no_status("failure", "generic failure; the status says more"),
    code("held", S::Exception, "held by the carrier or customs"),
    no_status("in_transit", "in transit"),
    code("label_created", S::InfoReceived, "label created"),
    code("lost", S::Exception, "reported lost"),
    no_status("missorted", "missorted, being rerouted"),
    no_status("out_for_delivery", "out for delivery"),
    no_status("received_at_destination_facility", "received at the destination facility"),
    code("received_at_origin_facility", S::PickedUp, "the carrier has the parcel at the origin"),
    code("refused", S::Exception, "refused by the recipient"),
    code("return", S::Returning, "being returned to the sender"),
    no_status("status_update", "a scan without further detail"),
    no_status("transferred_to_destination_carrier", "handed to the destination carrier"),
    code("transit_exception", S::Exception, "a problem in transit"),
    no_status("unknown", "no detail"),
    no_status("weather_delay", "delayed by weather"),
];

/// The statuses a `status_detail` may refine. The others are precise already (or, like
/// `delivered`, final), so their detail is kept in `raw_status` only.
pub const REFINABLE: &[&str] = &["unknown", "in_transit", "out_for_delivery", "failure"];

type Obj<'a> = json::Obj<'a, json::Strings>;

const SIG: &str = "X-Hmac-Signature";
const SIG_V2: &str = "X-Hmac-Signature-V2";
const TIMESTAMP: &str = "X-Timestamp";
const PATH: &str = "X-Path";
const PREFIX: &str = "hmac-sha256-hex=";

pub fn verify(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    if req.headers.contains_key(SIG_V2) {
        return verify_v2(secret, req);
    }
    let received = header(req, SIG)?;
    let hex = digest_hex(received, true)?;
    let expected = hex_lower(&hmac_sha256(secret, &[req.body]));
    if ct_eq_ignore_case(hex, &expected) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The timestamped scheme: HMAC over `timestamp + "POST" + path + body`. Webhooks are
/// always POSTed, so the method is not a header. `X-Path` is taken as signed rather than
/// compared with our own path, which a proxy in front of Waybill may have rewritten.
fn verify_v2(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    let received = header(req, SIG_V2)?;
    let timestamp = header(req, TIMESTAMP)?;
    let path = header(req, PATH)?;
    let hex = digest_hex(received, false)?;
    let signed_at = signed_at(timestamp)?;
    let expected = hex_lower(&hmac_sha256(
        secret,
        &[timestamp.as_bytes(), b"POST", path.as_bytes(), req.body],
    ));
    if !ct_eq_ignore_case(hex, &expected) {
        return Err(AuthError::Mismatch);
    }
    check_freshness(signed_at, req.received_at)
}

fn header<'a>(req: &Inbound<'a>, name: &'static str) -> Result<&'a str, AuthError> {
    match req.headers.get(name) {
        None => Err(AuthError::Missing(name)),
        Some(v) => v
            .to_str()
            .map(str::trim)
            .map_err(|_| AuthError::Malformed("a signature header is not visible ASCII")),
    }
}

/// The hex digest out of `hmac-sha256-hex=<hex>`; the v2 header is also accepted bare.
fn digest_hex(value: &str, prefix_required: bool) -> Result<&str, AuthError> {
    let hex = match value.get(..PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(PREFIX) => &value[PREFIX.len()..],
        _ if prefix_required => {
            return Err(AuthError::Malformed(
                "expected hmac-sha256-hex=<hex digest>",
            ));
        }
        _ => value,
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Malformed("the digest is not 64 hex digits"));
    }
    Ok(hex)
}

/// `Tue, 19 Aug 2025 20:37:09 -0000` (RFC 2822, as documented); RFC 3339 is accepted too.
fn signed_at(text: &str) -> Result<i64, AuthError> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .or_else(|_| text.parse::<jiff::Timestamp>())
        .map(|ts| ts.as_second())
        .map_err(|_| AuthError::Malformed("X-Timestamp is not an RFC 2822 time"))
}

pub fn parse(req: &Inbound<'_>, ctx: &Context) -> Result<Push, ParseError> {
    let root: Value = serde_json::from_slice(req.body).map_err(|e| ParseError::json(&e))?;
    let event = Obj::root(&root)?;
    let description = event.req_str("description")?;
    if !description.starts_with("tracker.") {
        return Ok(Push::default());
    }
    let event_id = event.str("id")?.map(str::to_owned);
    let mode = event.str("mode")?;
    let Some(tracker) = event.object("result")? else {
        return Err(ParseError::Missing("result".into()));
    };
    if let Some(object) = tracker.str("object")?
        && object != "Tracker"
    {
        return Err(ParseError::invalid(
            "result.object",
            format!("{object:?} is not a Tracker"),
        ));
    }

    let number = tracker.req_str("tracking_code")?;
    let tracking_number = TrackingNumber::parse(number.trim())
        .map_err(|e| ParseError::invalid("result.tracking_code", e))?;
    let carrier_code = tracker.req_str("carrier")?;
    let carrier = carriers::slug(Provider::EasyPost, CarrierCode::Text(carrier_code))
        .map_err(|e| ParseError::invalid("result.carrier", e))?;

    let mut common = Map::new();
    if let Some(id) = tracker.str("id")? {
        common.insert("easypost_tracker_id".into(), id.into());
    }
    if let Some(mode) = mode {
        common.insert("mode".into(), mode.into());
    }
    if let Some(is_return) = tracker.get("is_return").and_then(Value::as_bool) {
        common.insert("is_return".into(), is_return.into());
    }
    crate::checkpoint::note_estimate(&mut common, tracker.str("est_delivery_date")?);

    let mut push = Push::default();
    let tracking_details = tracker.array("tracking_details")?.unwrap_or_default();
    for (i, item) in tracking_details.iter().enumerate() {
        let detail = Obj::at(item, format!("result.tracking_details[{i}]"))?;
        let status = detail
            .str("status")?
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let status_detail = detail
            .str("status_detail")?
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let (kind, raw_status, unknown) = map_status(status, status_detail);
        if unknown && let Some(raw) = &raw_status {
            push.unknown_codes.push(raw.clone());
        }

        let time_text = detail.req_str("datetime")?;
        let time = ProviderTime::parse(time_text, &ctx.zone)
            .map_err(|e| ParseError::invalid(detail.field("datetime"), e))?;

        let mut extra = common.clone();
        let location = match detail.object("tracking_location")? {
            Some(loc) => {
                if let Some(zip) = loc.str("zip")?.filter(|z| !z.trim().is_empty()) {
                    extra.insert("zip".into(), zip.trim().into());
                }
                join_location([loc.str("city")?, loc.str("state")?, loc.str("country")?])
            }
            None => None,
        };
        // `message` is the carrier's scan text; `description` is usually empty, and kept
        // aside when it says something else.
        let message = detail.str("message")?.filter(|m| !m.trim().is_empty());
        let other = detail.str("description")?.filter(|d| !d.trim().is_empty());
        let description = match (message, other) {
            (Some(m), Some(d)) => {
                if m.trim() != d.trim() {
                    extra.insert("easypost_description".into(), d.trim().into());
                }
                Some(m)
            }
            (m, d) => m.or(d),
        };
        for key in ["source", "carrier_code"] {
            if let Some(v) = detail.str(key)?.filter(|v| !v.trim().is_empty()) {
                extra.insert(key.into(), v.trim().into());
            }
        }

        let checkpoint = Checkpoint {
            provider: Provider::EasyPost,
            carrier: carrier.clone(),
            tracking_number: tracking_number.clone(),
            order_id: None,
            kind,
            raw_status,
            time,
            location,
            description: description.map(str::to_owned),
            provider_event_id: event_id.clone(),
            extra,
        };
        let event = checkpoint.into_event(req.received_at);
        // A scan listed twice is one checkpoint.
        if !push.events.iter().any(|e| e.event_id == event.event_id) {
            push.events.push(event);
        }
    }
    Ok(push)
}

/// The canonical kind of one detail, its `raw_status`, and whether a code in it is not in
/// the tables (counted in `unknown_codes`).
///
/// An unknown status makes the event `unmapped`. An unknown detail under a known status
/// is counted but does not discard what the status says.
pub fn map_status(status: Option<&str>, detail: Option<&str>) -> (EventKind, Option<String>, bool) {
    let raw = match (status, detail) {
        (Some(s), Some(d)) => Some(format!("{s}/{d}")),
        (Some(s), None) => Some(s.to_owned()),
        (None, Some(d)) => Some(format!("/{d}")),
        (None, None) => None,
    };
    let Some(status) = status else {
        let unknown = detail.is_some_and(|d| lookup(STATUS_DETAILS, d) == Mapped::Unknown);
        return (EventKind::Unmapped, raw, unknown);
    };
    let by_status = lookup(STATUSES, status);
    let by_detail = detail.map(|d| lookup(STATUS_DETAILS, d));
    let unknown = by_status == Mapped::Unknown || by_detail == Some(Mapped::Unknown);
    let kind = match (by_status, by_detail) {
        (Mapped::Unknown, _) => EventKind::Unmapped,
        (_, Some(Mapped::Known(Some(refined)))) if REFINABLE.contains(&status) => {
            EventKind::Status(refined)
        }
        (mapped, _) => mapped.kind(),
    };
    (kind, raw, unknown)
}

/// EasyPost only looks at the status: any 2xx stops its retries.
pub fn reply(_req: &Inbound<'_>, outcome: &Outcome) -> Reply {
    Reply::plain(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{assert_documented, assert_unique};

    const DOC: &str = include_str!("../../../docs/providers/easypost.md");

    #[test]
    fn tables_are_unique_and_documented() {
        assert_unique(STATUSES);
        assert_unique(STATUS_DETAILS);
        assert_documented(STATUSES, DOC, "### Statuses");
        assert_documented(STATUS_DETAILS, DOC, "### Status details");
        for s in REFINABLE {
            assert!(STATUSES.iter().any(|c| c.code == *s), "{s}");
        }
    }

    #[test]
    fn the_status_decides_and_broad_statuses_are_refined() {
        let k = |s, d| map_status(Some(s), d).0;
        assert_eq!(
            k("in_transit", Some("arrived_at_facility")),
            EventKind::Status(S::InTransit)
        );
        assert_eq!(
            k("failure", Some("delivery_exception")),
            EventKind::Status(S::FailedAttempt)
        );
        assert_eq!(k("failure", Some("lost")), EventKind::Status(S::Exception));
        assert_eq!(k("failure", None), EventKind::Status(S::Exception));
        assert_eq!(
            k("return_to_sender", Some("return")),
            EventKind::Status(S::Returning)
        );
        // A precise status is not overridden by its detail.
        assert_eq!(
            k("delivered", Some("damaged")),
            EventKind::Status(S::Delivered)
        );
        assert_eq!(
            k("pre_transit", Some("cancelled")),
            EventKind::Status(S::InfoReceived)
        );
        assert_eq!(k("error", Some("lost")), EventKind::Unmapped);
    }

    #[test]
    fn unknown_codes_are_flagged() {
        let (kind, raw, unknown) = map_status(Some("teleported"), Some("status_update"));
        assert_eq!(
            (kind, raw.as_deref(), unknown),
            (EventKind::Unmapped, Some("teleported/status_update"), true)
        );
        let (kind, raw, unknown) = map_status(Some("in_transit"), Some("wormhole"));
        assert_eq!(
            (kind, raw.as_deref(), unknown),
            (
                EventKind::Status(S::InTransit),
                Some("in_transit/wormhole"),
                true
            )
        );
        assert_eq!(map_status(None, None), (EventKind::Unmapped, None, false));
    }

    #[test]
    fn digests_are_read_strictly() {
        let hex = "ab".repeat(32);
        assert!(digest_hex(&format!("hmac-sha256-hex={hex}"), true).is_ok());
        assert!(digest_hex(&format!("HMAC-SHA256-HEX={hex}"), true).is_ok());
        assert!(digest_hex(&hex, false).is_ok());
        assert!(matches!(
            digest_hex(&hex, true),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            digest_hex("hmac-sha256-hex=zz", true),
            Err(AuthError::Malformed(_))
        ));
        assert_eq!(
            signed_at("Tue, 19 Aug 2025 20:37:09 -0000").unwrap(),
            1_755_635_829
        );
        assert!(signed_at("yesterday").is_err());
    }
}
