//! AfterShip tracking webhooks (`tracking_update`, `edd_revise`, `tracking_pending_time`).
//!
//! AfterShip posts `{event, event_id, is_tracking_first_tag, msg, ts}` where `msg` is the
//! whole Tracking object, checkpoints included. So every push is a snapshot: each
//! checkpoint becomes one event with a derived id, and a re-push only adds what is new.
//!
//! **Signature.** Base64 of HMAC-SHA256 over the raw body, keyed with the webhook secret
//! as given. Tracking sends it in `aftership-hmac-sha256`; AfterShip's newer products send
//! the same value in `as-signature-hmac-sha256`, which is accepted too, since both are the
//! same scheme under the same secret. Nothing in it is timestamped, so there is no replay
//! window to check: `ts` is unsigned and AfterShip retries for about 68 hours, so refusing
//! old `ts` values would drop genuine retries. `event_id` is the idempotency handle.
//!
//! **Codes.** A checkpoint's `subtag` (`InTransit_003`) is finer than its `tag`
//! (`InTransit`), so it is looked up first; the tag only when the subtag is absent. The
//! raw code kept is whichever was looked up. A subtag the table does not know stays
//! `unmapped` rather than falling back to its tag: a new subtag may mean something its tag
//! does not (AfterShip files cancellations and returns under `Exception`).
//!
//! **Times.** `checkpoint_time` is the carrier's local time and often has no offset; such
//! a time is read in the configured zone and its text is kept. When a checkpoint has no
//! `checkpoint_time`, its `created_at` (when AfterShip recorded it, always UTC) stands in,
//! flagged in the event's details; with neither, the push is refused rather than given an
//! invented time. A tracking with a tag but no checkpoints yields no events, for the same
//! reason: its tag is a summary, not a scan with a time.
//!
//! **Fields across API versions.** The country is `country_iso3`/`country_name` in older
//! versions and `country_region`/`country_region_name` in newer ones; the postal code is
//! `zip`, or `postal_code` from 2026-01. Both spellings are read.

use base64::Engine as _;
use serde_json::{Map, Value};
use waybill_core::{OrderId, ShipmentStatus as S, TrackingNumber};

use crate::carriers::{self, CarrierCode};
use crate::checkpoint::{clip, join_location};
use crate::codes::{self, Code, Mapped, code, no_status};
use crate::json::{self, nonempty};
use crate::sign;
use crate::{
    AuthError, Checkpoint, Context, Inbound, Outcome, ParseError, Provider, ProviderTime, Push,
    Reply,
};

/// The signature headers, in the order they are looked for.
pub const SIGNATURE_HEADERS: [&str; 2] = ["aftership-hmac-sha256", "as-signature-hmac-sha256"];

/// The push types that carry a Tracking in `msg`.
pub const EVENTS: [&str; 3] = ["tracking_update", "edd_revise", "tracking_pending_time"];

/// Longest provider text kept in an event's details.
const MAX_EXTRA: usize = 256;

type Obj<'a> = json::Obj<'a, json::Text>;

/// AfterShip's delivery statuses (`tag`), used when a checkpoint has no subtag.
pub const TAGS: &[Code] = &[
    no_status(
        "Pending",
        "New shipment pending tracking, or no tracking information yet",
    ),
    code(
        "InfoReceived",
        S::InfoReceived,
        "Carrier has the shipper's request and is about to pick up",
    ),
    code(
        "InTransit",
        S::InTransit,
        "Accepted or picked up; on the way",
    ),
    code("OutForDelivery", S::OutForDelivery, "About to be delivered"),
    code(
        "AttemptFail",
        S::FailedAttempt,
        "Delivery attempted but failed",
    ),
    code("Delivered", S::Delivered, "Delivered"),
    code(
        "AvailableForPickup",
        S::AvailableForPickup,
        "At a pickup point, waiting for collection",
    ),
    code(
        "Exception",
        S::Exception,
        "Customs hold, undelivered, returned or other exception",
    ),
    no_status("Expired", "No tracking information for 30 days since added"),
];

/// AfterShip's delivery sub-statuses (`subtag`).
pub const SUBTAGS: &[Code] = &[
    code("Delivered_001", S::Delivered, "Delivered"),
    code("Delivered_002", S::Delivered, "Picked up by the customer"),
    code("Delivered_003", S::Delivered, "Signed for by the customer"),
    code(
        "Delivered_004",
        S::Delivered,
        "Delivered, cash on delivery collected",
    ),
    code("Delivered_005", S::Delivered, "Delivered to a neighbour"),
    code(
        "AvailableForPickup_001",
        S::AvailableForPickup,
        "At a pickup point, waiting for collection",
    ),
    code("Exception_001", S::Exception, "Shipping exception"),
    code("Exception_002", S::Exception, "Customer moved"),
    code("Exception_003", S::Exception, "Customer refused delivery"),
    code("Exception_004", S::Exception, "Delayed: customs clearance"),
    code("Exception_005", S::Exception, "Delayed: external factors"),
    code("Exception_006", S::Exception, "Held for payment"),
    code("Exception_007", S::Exception, "Incorrect address"),
    code(
        "Exception_008",
        S::Exception,
        "Pickup missed: not collected by the customer",
    ),
    code(
        "Exception_009",
        S::Exception,
        "Rejected by the carrier (noncompliant)",
    ),
    code("Exception_010", S::Returning, "Returning to sender"),
    code(
        "Exception_011",
        S::Returned,
        "Returned: received back by the sender",
    ),
    code("Exception_012", S::Exception, "Shipment damaged"),
    code("Exception_013", S::Exception, "Shipment lost"),
    code(
        "Exception_016",
        S::Exception,
        "Delayed: processing issue in the carrier network",
    ),
    code("Exception_017", S::Exception, "Delayed: extreme weather"),
    code(
        "Exception_018",
        S::Exception,
        "On hold: incorrect or missing documents",
    ),
    code("Exception_019", S::Exception, "Delayed: late flight"),
    code(
        "Exception_020",
        S::Cancelled,
        "Shipment cancelled (voided by the sender or carrier)",
    ),
    code(
        "Exception_021",
        S::Exception,
        "Shipment disposed (destroyed or discarded)",
    ),
    code(
        "AttemptFail_001",
        S::FailedAttempt,
        "Failed attempt; the courier usually leaves a notice",
    ),
    code(
        "AttemptFail_002",
        S::FailedAttempt,
        "Addressee not available",
    ),
    code("AttemptFail_003", S::FailedAttempt, "Business closed"),
    code("InTransit_001", S::InTransit, "On the way"),
    code(
        "InTransit_002",
        S::PickedUp,
        "Acceptance scan: accepted by the carrier",
    ),
    code(
        "InTransit_003",
        S::InTransit,
        "Arrival scan at a hub or sorting center",
    ),
    code(
        "InTransit_004",
        S::InTransit,
        "Arrived in the destination country",
    ),
    code("InTransit_005", S::InTransit, "Customs clearance completed"),
    code("InTransit_006", S::InTransit, "Handed over to customs"),
    code("InTransit_007", S::InTransit, "Departure scan"),
    code(
        "InTransit_008",
        S::InTransit,
        "Problem resolved, moving again",
    ),
    code(
        "InTransit_009",
        S::InTransit,
        "Forwarded to a different delivery address",
    ),
    code(
        "InfoReceived_001",
        S::InfoReceived,
        "Carrier has the shipper's request and is about to pick up",
    ),
    code("OutForDelivery_001", S::OutForDelivery, "Out for delivery"),
    code(
        "OutForDelivery_002",
        S::AvailableForPickup,
        "Legacy: at a sorting center, available for pickup",
    ),
    code(
        "OutForDelivery_003",
        S::OutForDelivery,
        "Customer contacted before the final delivery",
    ),
    code(
        "OutForDelivery_004",
        S::OutForDelivery,
        "Delivery appointment scheduled",
    ),
    no_status(
        "Pending_001",
        "No information from the carrier yet, or not tracked yet",
    ),
    no_status("Pending_002", "Pending: carrier account not connected"),
    code("Pending_003", S::InfoReceived, "Pending: label created"),
    no_status("Pending_004", "Pending (AfterShip pending reason 4)"),
    no_status("Pending_005", "Pending (AfterShip pending reason 5)"),
    no_status("Pending_006", "Pending (AfterShip pending reason 6)"),
    no_status("Expired_001", "No tracking information for 30 days"),
];

/// Checks `aftership-hmac-sha256` (or `as-signature-hmac-sha256`): base64 HMAC-SHA256 of
/// the raw body.
pub fn verify(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    let Some(value) = SIGNATURE_HEADERS.iter().find_map(|h| req.headers.get(*h)) else {
        return Err(AuthError::Missing(SIGNATURE_HEADERS[0]));
    };
    let text = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the signature header is not visible ASCII"))?;
    let received = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| AuthError::Malformed("the signature is not base64"))?;
    if received.len() != 32 {
        return Err(AuthError::Malformed(
            "the signature is not a base64 HMAC-SHA256 (32 bytes)",
        ));
    }
    let expected = sign::hmac_sha256(secret, &[req.body]);
    if sign::ct_eq(&received, &expected) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// AfterShip only looks at the status code: any 2xx stops its retries.
pub fn reply(_req: &Inbound<'_>, outcome: &Outcome) -> Reply {
    Reply::plain(outcome)
}

pub fn parse(req: &Inbound<'_>, ctx: &Context) -> Result<Push, ParseError> {
    let body: Value = serde_json::from_slice(req.body).map_err(|e| ParseError::json(&e))?;
    let root = Obj::root(&body)?;
    let event = root
        .text("event")?
        .ok_or_else(|| ParseError::Missing("event".into()))?;
    if !EVENTS.contains(&event.as_str()) {
        return Err(ParseError::UnsupportedType(event));
    }
    let event_id = root.text("event_id")?.and_then(nonempty);
    let msg = root
        .object("msg")?
        .ok_or_else(|| ParseError::Missing("msg".into()))?;

    let number = msg
        .text("tracking_number")?
        .ok_or_else(|| ParseError::Missing("msg.tracking_number".into()))?;
    let tracking_number = TrackingNumber::parse(number.trim())
        .map_err(|e| ParseError::invalid("msg.tracking_number", e))?;
    let slug = msg
        .text("slug")?
        .and_then(nonempty)
        .ok_or_else(|| ParseError::Missing("msg.slug".into()))?;
    let carrier = carriers::slug(Provider::AfterShip, CarrierCode::Text(&slug))
        .map_err(|e| ParseError::invalid("msg.slug", e))?;
    // Merchants put all sorts of things in `order_id`; one that is not a valid order id
    // is simply not a link, not a reason to refuse the push.
    let order_id = msg
        .text("order_id")?
        .and_then(nonempty)
        .and_then(|o| OrderId::parse(&o).ok());
    let tracking_id = msg.text("id")?.and_then(nonempty);
    let estimate = msg.text("expected_delivery")?.and_then(nonempty);

    let mut push = Push::default();
    let Some(checkpoints) = msg.array("checkpoints")? else {
        return Ok(push);
    };
    for (i, value) in checkpoints.iter().enumerate() {
        let cp = Obj::at(value, format!("msg.checkpoints[{i}]"))?;
        let subtag = cp.text("subtag")?.and_then(nonempty);
        let tag = cp.text("tag")?.and_then(nonempty);
        let (raw_status, mapped) = match (subtag, tag) {
            (Some(s), _) => {
                let m = codes::lookup(SUBTAGS, &s);
                (Some(s), m)
            }
            (None, Some(t)) => {
                let m = codes::lookup(TAGS, &t);
                (Some(t), m)
            }
            // Nothing to look up, so nothing unknown to count either.
            (None, None) => (None, Mapped::Known(None)),
        };
        if mapped == Mapped::Unknown {
            let raw = raw_status.clone().unwrap_or_default();
            if !push.unknown_codes.contains(&raw) {
                push.unknown_codes.push(raw);
            }
        }

        let mut extra = Map::new();
        crate::checkpoint::note_estimate(&mut extra, estimate.as_deref());
        let time = match cp.text("checkpoint_time")?.and_then(nonempty) {
            Some(t) => ProviderTime::parse(&t, &ctx.zone)
                .map_err(|e| ParseError::invalid(cp.field("checkpoint_time"), e))?,
            None => {
                let created = cp
                    .text("created_at")?
                    .and_then(nonempty)
                    .ok_or_else(|| ParseError::Missing(cp.field("checkpoint_time")))?;
                extra.insert("time_source".into(), "created_at".into());
                ProviderTime::parse(&created, &ctx.zone)
                    .map_err(|e| ParseError::invalid(cp.field("created_at"), e))?
            }
        };

        let location = match cp.text("location")?.and_then(nonempty) {
            Some(l) => Some(l),
            None => {
                let city = cp.text("city")?;
                let state = cp.text("state")?;
                let postal = first(cp.text("postal_code")?, cp.text("zip")?);
                let country = first(
                    first(cp.text("country_region_name")?, cp.text("country_name")?),
                    first(cp.text("country_region")?, cp.text("country_iso3")?),
                );
                join_location([
                    city.as_deref(),
                    state.as_deref(),
                    postal.as_deref(),
                    country.as_deref(),
                ])
            }
        };

        for (key, field) in [
            ("subtag_message", "subtag_message"),
            ("raw_tag", "raw_tag"),
            ("slug", "slug"),
            ("source", "source"),
        ] {
            if let Some(v) = clip(cp.text(field)?, MAX_EXTRA) {
                extra.insert(key.into(), v.into());
            }
        }
        if let Some(id) = &tracking_id {
            extra.insert("tracking_id".into(), clip_str(id).into());
        }

        push.events.push(
            Checkpoint {
                provider: Provider::AfterShip,
                carrier: carrier.clone(),
                tracking_number: tracking_number.clone(),
                order_id: order_id.clone(),
                kind: mapped.kind(),
                raw_status,
                time,
                location,
                description: cp.text("message")?,
                provider_event_id: event_id.clone(),
                extra,
            }
            .into_event(req.received_at),
        );
    }
    Ok(push)
}

fn first(a: Option<String>, b: Option<String>) -> Option<String> {
    a.and_then(nonempty).or_else(|| b.and_then(nonempty))
}

fn clip_str(s: &str) -> String {
    clip(Some(s.to_owned()), MAX_EXTRA).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::{EventKind, Timestamp};

    fn inbound<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> Inbound<'a> {
        Inbound {
            headers,
            body,
            path: "/v1/webhooks/aftership",
            received_at: Timestamp(1_712_741_700_000_000),
        }
    }

    fn one_checkpoint(tag: Option<&str>, subtag: Option<&str>) -> Vec<u8> {
        serde_json::json!({
            "event": "tracking_update",
            "event_id": "e1",
            "msg": {
                "tracking_number": "1Z999",
                "slug": "ups",
                "checkpoints": [{
                    "checkpoint_time": "2024-04-10T08:00:00Z",
                    "tag": tag,
                    "subtag": subtag,
                    "message": "scan"
                }]
            }
        })
        .to_string()
        .into_bytes()
    }

    fn kind_of(tag: Option<&str>, subtag: Option<&str>) -> (EventKind, Push) {
        let headers = http::HeaderMap::new();
        let body = one_checkpoint(tag, subtag);
        let push = parse(
            &inbound(&headers, &body),
            &Context::for_provider(Provider::AfterShip),
        )
        .unwrap();
        (push.events[0].kind, push)
    }

    #[test]
    fn every_subtag_maps_as_its_row_says_through_parse() {
        for row in SUBTAGS {
            let (kind, push) = kind_of(Some("Exception"), Some(row.code));
            assert_eq!(kind, Mapped::Known(row.status).kind(), "{}", row.code);
            assert_eq!(push.events[0].raw_status.as_deref(), Some(row.code));
            assert!(push.unknown_codes.is_empty());
        }
    }

    #[test]
    fn every_tag_maps_as_its_row_says_when_there_is_no_subtag() {
        for row in TAGS {
            for subtag in [None, Some(""), Some("  ")] {
                let (kind, push) = kind_of(Some(row.code), subtag);
                assert_eq!(kind, Mapped::Known(row.status).kind(), "{}", row.code);
                assert_eq!(push.events[0].raw_status.as_deref(), Some(row.code));
                assert!(push.unknown_codes.is_empty());
            }
        }
    }

    #[test]
    fn an_unknown_subtag_is_unmapped_even_under_a_known_tag() {
        let (kind, push) = kind_of(Some("InTransit"), Some("InTransit_099"));
        assert_eq!(kind, EventKind::Unmapped);
        assert_eq!(push.unknown_codes, vec!["InTransit_099".to_owned()]);
        assert_eq!(push.events[0].raw_status.as_deref(), Some("InTransit_099"));
    }

    #[test]
    fn a_checkpoint_without_codes_is_unmapped_and_not_counted() {
        let (kind, push) = kind_of(None, None);
        assert_eq!(kind, EventKind::Unmapped);
        assert!(push.unknown_codes.is_empty());
        assert_eq!(push.events[0].raw_status, None);
    }

    #[test]
    fn tables_have_no_duplicates_and_no_overlap() {
        codes::assert_unique(TAGS);
        codes::assert_unique(SUBTAGS);
        for t in TAGS {
            assert!(SUBTAGS.iter().all(|s| s.code != t.code));
        }
        // Every documented tag has at least one subtag family in the table.
        for t in TAGS {
            assert!(
                SUBTAGS
                    .iter()
                    .any(|s| s.code.starts_with(&format!("{}_", t.code))),
                "{}",
                t.code
            );
        }
    }
}
