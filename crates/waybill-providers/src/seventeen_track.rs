//! 17TRACK API v2 webhook pushes (v2.2 and v2.4 share the format).
//!
//! 17TRACK pushes `{"event":"TRACKING_UPDATED","data":{"number","carrier","param","tag",
//! "track_info":{…}}}` whenever a registered number changes, with the whole history in
//! `track_info.tracking.providers[].events[]` (each carrier that handled the parcel, newest
//! event first). Every event becomes a checkpoint; the push is a snapshot, so ids are
//! derived from what 17TRACK said and a re-push changes nothing. Events are returned
//! oldest first across providers. `TRACKING_STOPPED` (17TRACK stopped tracking the number:
//! expired, stopped on request) carries no history and reads as an empty push.
//!
//! **Signature.** The `sign` header is the lowercase hex SHA-256 of `<raw body>/<security
//! key>`: a plain digest, not an HMAC, and without a timestamp, so 17TRACK's scheme cannot
//! refuse replays; re-pushed histories are harmless (same ids), which is what makes that
//! acceptable.
//!
//! **Status.** Each event's `sub_status` (30 documented codes) is mapped; events from
//! before 17TRACK classified them carry only a `stage` (a milestone such as `PickedUp`),
//! which is mapped instead. A sub-status the table does not know but whose prefix is a
//! main status (`Exception_Held`) takes that status and is counted as unknown. `raw_status`
//! is the code that decided.
//!
//! **Time.** `time_iso` carries the scan's own offset and is preferred; then `time_utc`;
//! then `time_raw` (`date`, `time`, and a `timezone` that may be empty: such a wall-clock
//! time is read in the configured zone, Beijing time by default). The text used is kept.
//!
//! The body is walked as a `serde_json::Value` rather than decoded into structs, so that a
//! field of the wrong type is reported with its full path (`…[3].datetime`) and everything
//! else is tolerated: unknown fields, nulls, absent optional parts.

use serde_json::{Map, Value};
use waybill_core::{EventKind, ShipmentStatus as S, TrackingEvent, TrackingNumber};

use crate::carriers::{self, CarrierCode};
use crate::checkpoint::{Checkpoint, join_location};
use crate::codes::{Code, Mapped, code, lookup, no_status};
use crate::json;
use crate::sign::{ct_eq_ignore_case, hex_lower, sha256};
use crate::{
    AuthError, Context, Inbound, Outcome, ParseError, Provider, ProviderTime, Push, Reply,
};

/// `latest_status.status`: the nine main statuses. Events are mapped by their sub-status;
/// this table reads a stage or an unknown sub-status by its main status.
#[rustfmt::skip]
pub const STATUSES: &[Code] = &[
    no_status("NotFound", "no tracking information found yet"),
    code("InfoReceived", S::InfoReceived, "the carrier has the order, not the parcel"),
    code("InTransit", S::InTransit, "in transit"),
    no_status("Expired", "no delivery after a long time; tracking expired"),
    code("AvailableForPickup", S::AvailableForPickup, "at the pickup point"),
    code("OutForDelivery", S::OutForDelivery, "out for delivery"),
    code("DeliveryFailure", S::FailedAttempt, "a delivery attempt failed"),
    code("Delivered", S::Delivered, "delivered"),
    code("Exception", S::Exception, "returned, held, lost or otherwise abnormal"),
];

/// `sub_status`, on every event and in `latest_status`.
#[rustfmt::skip]
pub const SUB_STATUSES: &[Code] = &[
    no_status("NotFound_Other", "the carrier returned no information"),
    no_status("NotFound_InvalidCode", "the tracking number is invalid"),
    code("InfoReceived", S::InfoReceived, "the carrier has the order information"),
    code("InTransit_PickedUp", S::PickedUp, "collected from the sender"),
    code("InTransit_Other", S::InTransit, "in transit, nothing more specific"),
    code("InTransit_Departure", S::InTransit, "left the origin country's port"),
    code("InTransit_Arrival", S::InTransit, "arrived at the destination country's port"),
    code("InTransit_CustomsProcessing", S::InTransit, "in customs clearance"),
    code("InTransit_CustomsReleased", S::InTransit, "customs clearance complete"),
    code("InTransit_CustomsRequiringInformation", S::Exception, "customs needs more information: held"),
    no_status("Expired_Other", "tracking expired"),
    code("AvailableForPickup_Other", S::AvailableForPickup, "at the pickup point"),
    code("OutForDelivery_Other", S::OutForDelivery, "out for delivery"),
    code("DeliveryFailure_Other", S::FailedAttempt, "delivery failed, other reason"),
    code("DeliveryFailure_NoBody", S::FailedAttempt, "delivery failed: recipient not reached"),
    code("DeliveryFailure_Security", S::FailedAttempt, "delivery failed: security, customs or fee issue"),
    code("DeliveryFailure_Rejected", S::Exception, "delivery failed: refused by the recipient"),
    code("DeliveryFailure_InvalidAddress", S::Exception, "delivery failed: wrong address"),
    code("Delivered_Other", S::Delivered, "delivered"),
    code("Exception_Other", S::Exception, "abnormal, other reason"),
    code("Exception_Returning", S::Returning, "on its way back to the sender"),
    code("Exception_Returned", S::Returned, "the sender has the parcel back"),
    code("Exception_NoBody", S::Exception, "recipient unknown, found before delivery"),
    code("Exception_Security", S::Exception, "security, customs or fee issue before delivery"),
    code("Exception_Damage", S::Exception, "damaged in transit"),
    code("Exception_Rejected", S::Exception, "refused before delivery"),
    code("Exception_Delayed", S::Exception, "delayed beyond the expected transit time"),
    code("Exception_Lost", S::Exception, "lost"),
    code("Exception_Destroyed", S::Exception, "destroyed"),
    code("Exception_Cancel", S::Cancelled, "the shipment was cancelled"),
];

/// An event's `stage`: the milestone it marks (`milestone[].key_stage`), read when the
/// event has no `sub_status`. A stage that is a main status name reads by [`STATUSES`].
#[rustfmt::skip]
pub const STAGES: &[Code] = &[
    code("InfoReceived", S::InfoReceived, "the carrier received the order"),
    code("PickedUp", S::PickedUp, "collected from the sender"),
    code("Departure", S::InTransit, "left the origin"),
    code("Arrival", S::InTransit, "arrived at the destination"),
    code("AvailableForPickup", S::AvailableForPickup, "at the pickup point"),
    code("OutForDelivery", S::OutForDelivery, "out for delivery"),
    code("Delivered", S::Delivered, "delivered"),
    code("Returning", S::Returning, "on its way back to the sender"),
    code("Returned", S::Returned, "back with the sender"),
];

const SIGN: &str = "sign";

type Obj<'a> = json::Obj<'a, json::Strings>;

pub fn verify(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    let received = match req.headers.get(SIGN) {
        None => return Err(AuthError::Missing(SIGN)),
        Some(v) => v
            .to_str()
            .map(str::trim)
            .map_err(|_| AuthError::Malformed("sign is not visible ASCII"))?,
    };
    if received.len() != 64 || !received.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Malformed("sign is not a 64-digit hex SHA-256"));
    }
    let expected = hex_lower(&sha256(&[req.body, b"/", secret]));
    if ct_eq_ignore_case(received, &expected) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

pub fn parse(req: &Inbound<'_>, ctx: &Context) -> Result<Push, ParseError> {
    let root: Value = serde_json::from_slice(req.body).map_err(|e| ParseError::json(&e))?;
    let push = Obj::root(&root)?;
    match push.req_str("event")? {
        "TRACKING_UPDATED" => {}
        "TRACKING_STOPPED" => return Ok(Push::default()),
        other => return Err(ParseError::UnsupportedType(other.to_owned())),
    }
    let Some(data) = push.object("data")? else {
        return Err(ParseError::Missing("data".into()));
    };
    let number = data.req_str("number")?;
    let tracking_number =
        TrackingNumber::parse(number.trim()).map_err(|e| ParseError::invalid("data.number", e))?;
    let track_info = data.object("track_info")?;
    let tracking = match &track_info {
        Some(info) => info.object("tracking")?,
        None => None,
    };
    let providers = match &tracking {
        Some(t) => t.array("providers")?.unwrap_or_default(),
        None => &[],
    };

    let carrier_key = match read_carrier_key(&data, "carrier")? {
        Some(key) if key > 0 => key,
        // 0 is 17TRACK's "not detected": fall back to the first carrier that reported.
        _ => first_provider_key(providers)?
            .ok_or_else(|| ParseError::Missing("data.carrier".into()))?,
    };
    let carrier = carriers::slug(Provider::SeventeenTrack, CarrierCode::Number(carrier_key))
        .map_err(|e| ParseError::invalid("data.carrier", e))?;

    let mut common = Map::new();
    common.insert("carrier_key".into(), carrier_key.into());
    // `time_metrics.estimated_delivery_date` gives a window; its end is the promise.
    if let Some(metrics) = track_info
        .as_ref()
        .map(|t| t.object("time_metrics"))
        .transpose()?
        .flatten()
        && let Some(window) = metrics.object("estimated_delivery_date")?
    {
        let end = window.str("to")?.or(window.str("from")?);
        crate::checkpoint::note_estimate(&mut common, end);
    }
    for key in ["tag", "param"] {
        if let Some(v) = data.str(key)?.filter(|v| !v.trim().is_empty()) {
            common.insert(key.into(), v.trim().into());
        }
    }

    let mut out = Push::default();
    let mut events: Vec<TrackingEvent> = Vec::new();
    for (p, item) in providers.iter().enumerate() {
        let entry = Obj::at(item, format!("data.track_info.tracking.providers[{p}]"))?;
        let mut extra = common.clone();
        if let Some(provider) = entry.object("provider")? {
            if let Some(key) = read_carrier_key(&provider, "key")? {
                extra.insert("provider_key".into(), key.into());
            }
            if let Some(name) = provider.str("name")?.filter(|n| !n.trim().is_empty()) {
                extra.insert("provider_name".into(), name.trim().into());
            }
        }
        let list = entry.array("events")?.unwrap_or_default();
        // 17TRACK lists a provider's events newest first.
        for (i, item) in list.iter().enumerate().rev() {
            let ev = Obj::at(item, entry.field(&format!("events[{i}]")))?;
            let checkpoint = read_event(&ev, &extra, ctx, &tracking_number, &carrier, &mut out)?;
            events.push(checkpoint.into_event(req.received_at));
        }
    }
    // Oldest first across providers; an event two providers both report is one event.
    events.sort_by_key(|e| e.occurred_at);
    let mut seen = std::collections::HashSet::new();
    events.retain(|e| seen.insert(e.event_id.clone()));
    out.events = events;
    Ok(out)
}

fn read_event(
    ev: &Obj<'_>,
    common: &Map<String, Value>,
    ctx: &Context,
    tracking_number: &TrackingNumber,
    carrier: &waybill_core::Carrier,
    out: &mut Push,
) -> Result<Checkpoint, ParseError> {
    let mut extra = common.clone();
    let sub_status = ev
        .str("sub_status")?
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let stage = ev.str("stage")?.map(str::trim).filter(|s| !s.is_empty());
    let (kind, raw_status, unknown) = map_code(sub_status, stage);
    if unknown && let Some(raw) = &raw_status {
        out.unknown_codes.push(raw.clone());
    }
    if sub_status.is_some()
        && let Some(stage) = stage
    {
        extra.insert("stage".into(), stage.into());
    }

    let time = event_time(ev, ctx, &mut extra)?;

    let address = ev.object("address")?;
    let location = match ev.str("location")?.filter(|l| !l.trim().is_empty()) {
        Some(l) => Some(l.trim().to_owned()),
        None => match &address {
            Some(a) => join_location([a.str("city")?, a.str("state")?, a.str("country")?]),
            None => None,
        },
    };
    if let Some(a) = &address
        && let Some(code) = a.str("postal_code")?.filter(|c| !c.trim().is_empty())
    {
        extra.insert("postal_code".into(), code.trim().into());
    }

    let mut description = ev.str("description")?.filter(|d| !d.trim().is_empty());
    if let Some(t) = ev.object("description_translation")?
        && let Some(text) = t.str("description")?.filter(|d| !d.trim().is_empty())
    {
        if description.is_none() {
            description = Some(text);
        } else {
            extra.insert("description_translation".into(), text.trim().into());
            if let Some(lang) = t.str("lang")?.filter(|l| !l.trim().is_empty()) {
                extra.insert("translation_lang".into(), lang.trim().into());
            }
        }
    }

    Ok(Checkpoint {
        provider: Provider::SeventeenTrack,
        carrier: carrier.clone(),
        tracking_number: tracking_number.clone(),
        order_id: None,
        kind,
        raw_status,
        time,
        location,
        description: description.map(str::to_owned),
        provider_event_id: None,
        extra,
    })
}

/// The canonical kind of an event, its `raw_status`, and whether the code is one the
/// tables do not know (counted in `unknown_codes`).
pub fn map_code(
    sub_status: Option<&str>,
    stage: Option<&str>,
) -> (EventKind, Option<String>, bool) {
    if let Some(sub) = sub_status {
        let raw = Some(sub.to_owned());
        return match lookup(SUB_STATUSES, sub) {
            Mapped::Known(s) => (Mapped::Known(s).kind(), raw, false),
            Mapped::Unknown => match lookup(STATUSES, sub) {
                // A main status sent as the sub-status: documented, just coarser.
                Mapped::Known(s) => (Mapped::Known(s).kind(), raw, false),
                Mapped::Unknown => {
                    let main = sub.split_once('_').map_or("", |(main, _)| main);
                    (lookup(STATUSES, main).kind(), raw, true)
                }
            },
        };
    }
    let Some(stage) = stage else {
        return (EventKind::Unmapped, None, false);
    };
    let mapped = match lookup(STAGES, stage) {
        Mapped::Unknown => lookup(STATUSES, stage),
        known @ Mapped::Known(_) => known,
    };
    (
        mapped.kind(),
        Some(stage.to_owned()),
        mapped == Mapped::Unknown,
    )
}

/// `time_iso` with an offset, else `time_utc`, else `time_raw`, else `time_iso` read as a
/// wall-clock time in the configured zone.
fn event_time(
    ev: &Obj<'_>,
    ctx: &Context,
    extra: &mut Map<String, Value>,
) -> Result<ProviderTime, ParseError> {
    let iso = ev.str("time_iso")?.filter(|t| !t.trim().is_empty());
    if let Some(iso) = iso
        && has_offset(iso)
    {
        return ProviderTime::parse(iso, &ctx.zone)
            .map_err(|e| ParseError::invalid(ev.field("time_iso"), e));
    }
    if let Some(utc) = ev.str("time_utc")?.filter(|t| !t.trim().is_empty()) {
        // UTC by name, even if the `Z` were missing.
        return ProviderTime::parse(utc, &jiff::tz::TimeZone::UTC)
            .map_err(|e| ParseError::invalid(ev.field("time_utc"), e));
    }
    if let Some(raw) = ev.object("time_raw")?
        && let Some(date) = raw.str("date")?.map(str::trim).filter(|d| !d.is_empty())
    {
        let time = raw.str("time")?.map(str::trim).filter(|t| !t.is_empty());
        let Some(time) = time else {
            return Err(ParseError::Missing(raw.field("time")));
        };
        let zone = raw
            .str("timezone")?
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let offset = zone.and_then(offset_text);
        if let (Some(z), None) = (zone, &offset) {
            extra.insert("time_raw_timezone".into(), z.into());
        }
        let text = format!("{date}T{time}{}", offset.as_deref().unwrap_or(""));
        let mut t = ProviderTime::parse(&text, &ctx.zone)
            .map_err(|e| ParseError::invalid(raw.path(), e))?;
        t.original = match zone {
            Some(z) => format!("{date} {time} {z}"),
            None => format!("{date} {time}"),
        };
        return Ok(t);
    }
    match iso {
        Some(iso) => ProviderTime::parse(iso, &ctx.zone)
            .map_err(|e| ParseError::invalid(ev.field("time_iso"), e)),
        None => Err(ParseError::Missing(ev.field("time_iso"))),
    }
}

fn has_offset(text: &str) -> bool {
    jiff::fmt::temporal::Pieces::parse(text.trim()).is_ok_and(|p| p.to_numeric_offset().is_some())
}

/// `+08:00`, `+0800`, `+8`, `UTC+8`, `GMT-05:30`, `Z`, `UTC` → `±HH:MM`; anything else
/// is not an offset.
fn offset_text(zone: &str) -> Option<String> {
    let z = zone.trim();
    let upper = z.to_ascii_uppercase();
    let rest = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper)
        .trim();
    if rest.is_empty() || rest == "Z" {
        return (upper != rest || rest == "Z").then(|| "+00:00".to_owned());
    }
    if !rest.is_ascii() {
        return None;
    }
    let (sign, digits) = match rest.as_bytes()[0] {
        b'+' => ('+', &rest[1..]),
        b'-' => ('-', &rest[1..]),
        _ => return None,
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "0"),
    };
    let ok = |s: &str, max: u32| {
        !s.is_empty()
            && s.len() <= 2
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.parse::<u32>().is_ok_and(|n| n <= max)
    };
    if !ok(h, 18) || !ok(m, 59) {
        return None;
    }
    Some(format!(
        "{sign}{:02}:{:02}",
        h.parse::<u32>().ok()?,
        m.parse::<u32>().ok()?
    ))
}

fn first_provider_key(providers: &[Value]) -> Result<Option<u32>, ParseError> {
    for (p, item) in providers.iter().enumerate() {
        let entry = Obj::at(item, format!("data.track_info.tracking.providers[{p}]"))?;
        if let Some(provider) = entry.object("provider")?
            && let Some(key) = read_carrier_key(&provider, "key")?
            && key > 0
        {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// A carrier key: a non-negative integer, also accepted as digits in a string.
fn read_carrier_key(obj: &Obj<'_>, key: &str) -> Result<Option<u32>, ParseError> {
    let bad = |why: &str| ParseError::invalid(obj.field(key), why);
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad("not a carrier key")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| bad("not a carrier key")),
        Some(other) => Err(obj.expected(key, "a number", other)),
    }
}

/// 17TRACK looks only at the status code: 200 marks the push delivered.
pub fn reply(_req: &Inbound<'_>, outcome: &Outcome) -> Reply {
    Reply::plain(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{assert_documented, assert_unique};

    const DOC: &str = include_str!("../../../docs/providers/17track.md");

    #[test]
    fn tables_are_unique_and_documented() {
        assert_unique(STATUSES);
        assert_unique(SUB_STATUSES);
        assert_unique(STAGES);
        assert_documented(STATUSES, DOC, "### Main statuses");
        assert_documented(SUB_STATUSES, DOC, "### Sub-statuses");
        assert_documented(STAGES, DOC, "### Stages");
        assert_eq!(STATUSES.len(), 9);
        assert_eq!(SUB_STATUSES.len(), 30);
    }

    #[test]
    fn every_sub_status_belongs_to_a_main_status() {
        for c in SUB_STATUSES {
            let main = c.code.split_once('_').map_or(c.code, |(m, _)| m);
            assert!(STATUSES.iter().any(|s| s.code == main), "{}", c.code);
        }
    }

    #[test]
    fn codes_fall_back_from_sub_status_to_stage() {
        let k = |sub, stage| map_code(sub, stage);
        assert_eq!(
            k(Some("InTransit_PickedUp"), Some("PickedUp")),
            (
                EventKind::Status(S::PickedUp),
                Some("InTransit_PickedUp".into()),
                false
            )
        );
        assert_eq!(
            k(None, Some("Departure")),
            (
                EventKind::Status(S::InTransit),
                Some("Departure".into()),
                false
            )
        );
        assert_eq!(
            k(None, Some("Exception")),
            (
                EventKind::Status(S::Exception),
                Some("Exception".into()),
                false
            )
        );
        assert_eq!(
            k(Some("Delivered"), None),
            (
                EventKind::Status(S::Delivered),
                Some("Delivered".into()),
                false
            )
        );
        assert_eq!(
            k(Some("Exception_Held"), None),
            (
                EventKind::Status(S::Exception),
                Some("Exception_Held".into()),
                true
            )
        );
        assert_eq!(
            k(Some("Teleported"), None),
            (EventKind::Unmapped, Some("Teleported".into()), true)
        );
        assert_eq!(
            k(None, Some("Warp")),
            (EventKind::Unmapped, Some("Warp".into()), true)
        );
        assert_eq!(k(None, None), (EventKind::Unmapped, None, false));
    }

    #[test]
    fn zone_texts_become_offsets() {
        for (text, want) in [
            ("+08:00", Some("+08:00")),
            ("+0800", Some("+08:00")),
            ("+8", Some("+08:00")),
            ("UTC+8", Some("+08:00")),
            ("GMT-05:30", Some("-05:30")),
            ("utc", Some("+00:00")),
            ("Z", Some("+00:00")),
            ("-07", Some("-07:00")),
            ("Asia/Shanghai", None),
            ("+99:00", None),
            ("+08:00:00", None),
            ("", None),
            ("+a€", None),
        ] {
            assert_eq!(offset_text(text).as_deref(), want, "{text:?}");
        }
        assert!(has_offset("2022-04-04T16:35:22-07:00"));
        assert!(has_offset("2022-04-04T23:35:22Z"));
        assert!(!has_offset("2022-04-04T16:35:22"));
        assert!(!has_offset("2022/04/04 16:35"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn zone_texts_never_panic(zone in "(UTC|GMT|utc)?[+-]?\\PC{0,6}") {
            if let Some(offset) = offset_text(&zone) {
                proptest::prop_assert_eq!(offset.len(), 6);
            }
            let _ = has_offset(&zone);
        }
    }
}
