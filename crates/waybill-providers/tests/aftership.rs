//! AfterShip tracking webhooks: fixtures built from AfterShip's documented payloads, the
//! signature scheme computed independently of the module, the mapping tables held to
//! `docs/providers/aftership.md`, and fuzzing.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::Value;
use sha2::Sha256;
use waybill_core::{EventKind, ShipmentStatus, Timestamp};
use waybill_providers::aftership::{self, SUBTAGS, TAGS};
use waybill_providers::codes;
use waybill_providers::{AuthError, Inbound, Outcome, ParseError, Provider, Push};

mod common;
use common::{ctx, details, ids, mutate_generated};

const IN_TRANSIT: &[u8] = include_bytes!("fixtures/aftership/tracking_update_in_transit.json");
const DELIVERED: &[u8] = include_bytes!("fixtures/aftership/tracking_update_delivered.json");
const RETURNED: &[u8] = include_bytes!("fixtures/aftership/tracking_update_returned.json");
const NO_CHECKPOINTS: &[u8] =
    include_bytes!("fixtures/aftership/tracking_update_no_checkpoints.json");
const DOC: &str = include_str!("../../../docs/providers/aftership.md");

const SECRET: &[u8] = b"aftership-webhook-secret-123";
/// 2024-04-10T10:41:40Z, shortly after the in-transit push's `ts`.
const RECEIVED: Timestamp = Timestamp(1_712_745_700_000_000);

fn inbound<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> Inbound<'a> {
    Inbound {
        headers,
        body,
        path: "/v1/webhooks/aftership",
        received_at: RECEIVED,
    }
}

fn parse_in(body: &[u8], zone: &str) -> Result<Push, ParseError> {
    let headers = http::HeaderMap::new();
    aftership::parse(&inbound(&headers, body), &ctx(zone))
}

fn parse(body: &[u8]) -> Push {
    parse_in(body, "UTC").unwrap()
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp(rfc3339.parse::<jiff::Timestamp>().unwrap().as_microsecond())
}

fn st(s: ShipmentStatus) -> EventKind {
    EventKind::Status(s)
}

/// Signs like AfterShip's documented samples: base64(HMAC-SHA256(secret, raw body)).
fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn signed(header: &str, value: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
        http::HeaderValue::from_str(value).unwrap(),
    );
    h
}

type Edit = Box<dyn Fn(&mut Value)>;

fn with_body(base: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(base).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

// --- fixtures ---------------------------------------------------------------------------

#[test]
fn an_in_transit_push_becomes_one_event_per_checkpoint_in_order() {
    let push = parse(IN_TRANSIT);
    assert!(push.unknown_codes.is_empty());
    assert!(push.carrier_change.is_none());
    let kinds: Vec<EventKind> = push.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            st(ShipmentStatus::InfoReceived),
            st(ShipmentStatus::PickedUp),
            st(ShipmentStatus::InTransit),
            st(ShipmentStatus::InTransit),
        ]
    );
    let raw: Vec<&str> = push
        .events
        .iter()
        .map(|e| e.raw_status.as_deref().unwrap())
        .collect();
    assert_eq!(
        raw,
        [
            "InfoReceived_001",
            "InTransit_002",
            "InTransit_007",
            "InTransit_003"
        ]
    );
    for ev in &push.events {
        let t = ev.tracking.as_ref().unwrap();
        assert_eq!(t.carrier.as_str(), "usps");
        assert_eq!(t.tracking_number.as_str(), "9400111899223817745123");
        assert_eq!(ev.order_id.as_ref().unwrap().as_str(), "1001");
        assert_eq!(ev.received_at, RECEIVED);
        assert!(ev.event_id.starts_with("wbp_"));
        let d = details(ev);
        assert_eq!(d["provider"], "aftership");
        assert_eq!(
            d["provider_event_id"],
            "94dadd60-ed26-46d0-aa52-3ced925a50ff"
        );
        assert_eq!(d["tracking_id"], "0b02015fc7fd4f3c8d5490cece4d124d");
        assert_eq!(d["slug"], "usps");
    }

    let e = &push.events;
    // With an offset: taken as given.
    assert_eq!(e[0].occurred_at, at("2024-04-08T17:12:00Z"));
    assert_eq!(e[0].utc_offset_seconds, -7 * 3600);
    // Without one: the carrier's wall clock, read in the configured zone (UTC here).
    assert_eq!(e[1].occurred_at, at("2024-04-08T18:47:00Z"));
    assert_eq!(e[1].utc_offset_seconds, 0);
    assert_eq!(details(&e[1])["time"], "2024-04-08T18:47:00");
    assert_eq!(e[2].occurred_at, at("2024-04-09T09:15:00Z"));
    assert_eq!(e[3].occurred_at, at("2024-04-10T10:30:00Z"));
    assert_eq!(e[3].utc_offset_seconds, -4 * 3600);

    // `location` when AfterShip gives one; otherwise city, state, postal code, country.
    assert_eq!(
        e[0].location.as_deref(),
        Some("Los Angeles, CA, 90001, United States")
    );
    assert_eq!(e[1].location.as_deref(), Some("Los Angeles, CA 90052"));
    assert_eq!(
        e[2].location.as_deref(),
        Some("Los Angeles, CA, 90052, United States")
    );
    assert_eq!(
        e[3].location.as_deref(),
        Some("New York NY Distribution Center")
    );
    assert_eq!(
        e[0].description.as_deref(),
        Some("Shipping Label Created, USPS Awaiting Item")
    );
    let d0 = details(&e[0]);
    assert_eq!(d0["subtag_message"], "Info Received");
    assert_eq!(d0["raw_tag"], "GX");
    assert_eq!(d0["source"], "carrier");
}

#[test]
fn times_without_an_offset_are_read_in_the_configured_zone() {
    let push = parse_in(IN_TRANSIT, "America/Los_Angeles").unwrap();
    let e = &push.events[1];
    assert_eq!(e.occurred_at, at("2024-04-09T01:47:00Z"));
    assert_eq!(e.utc_offset_seconds, -7 * 3600);
    assert_eq!(details(e)["time"], "2024-04-08T18:47:00");
    // Times with an offset do not move.
    assert_eq!(push.events[0].occurred_at, at("2024-04-08T17:12:00Z"));
    // The zone is not part of the id: the same checkpoint read elsewhere is the same event.
    assert_eq!(ids(&push), ids(&parse(IN_TRANSIT)));

    let cn = parse_in(RETURNED, "Asia/Shanghai").unwrap();
    assert_eq!(cn.events[0].occurred_at, at("2024-05-01T06:02:00Z"));
    assert_eq!(cn.events[0].utc_offset_seconds, 8 * 3600);
    assert_eq!(details(&cn.events[0])["time"], "2024-05-01T14:02:00");
}

#[test]
fn a_return_goes_refused_returning_returned() {
    let push = parse_in(RETURNED, "Asia/Shanghai").unwrap();
    let kinds: Vec<EventKind> = push.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            st(ShipmentStatus::PickedUp),
            st(ShipmentStatus::Exception),
            st(ShipmentStatus::Returning),
            st(ShipmentStatus::Returned),
        ]
    );
    let t = push.events[0].tracking.as_ref().unwrap();
    assert_eq!(t.carrier.as_str(), "sf-express");
    assert_eq!(t.tracking_number.as_str(), "SF1402393423452");
    // `ord 77` is not a valid order id: no link, but the push is still read.
    assert!(push.events.iter().all(|e| e.order_id.is_none()));
    assert_eq!(
        push.events[0].location.as_deref(),
        Some("深圳市, 广东省, China")
    );
    assert_eq!(push.events[1].location.as_deref(), Some("北京市 朝阳区"));
    assert_eq!(
        push.events[1].description.as_deref(),
        Some("客户拒收，快件将退回")
    );
}

#[test]
fn a_tracking_without_checkpoints_yields_no_events() {
    let push = parse(NO_CHECKPOINTS);
    assert!(push.events.is_empty());
    assert!(push.unknown_codes.is_empty());
    // Nor does one whose `checkpoints` is absent or null.
    for edit in [
        |v: &mut Value| {
            v["msg"].as_object_mut().unwrap().remove("checkpoints");
        },
        |v: &mut Value| v["msg"]["checkpoints"] = Value::Null,
    ] {
        assert!(parse(&with_body(NO_CHECKPOINTS, edit)).events.is_empty());
    }
}

// --- idempotency ------------------------------------------------------------------------

#[test]
fn re_parsing_a_push_gives_the_same_ids() {
    assert_eq!(ids(&parse(IN_TRANSIT)), ids(&parse(IN_TRANSIT)));
    // A retry of the same push received later is still the same events.
    let headers = http::HeaderMap::new();
    let mut later = inbound(&headers, IN_TRANSIT);
    later.received_at = Timestamp(RECEIVED.0 + 3_600_000_000);
    let again = aftership::parse(&later, &ctx("UTC")).unwrap();
    assert_eq!(ids(&again), ids(&parse(IN_TRANSIT)));
}

#[test]
fn a_longer_history_keeps_the_old_ids_and_adds_new_ones() {
    let before = ids(&parse(IN_TRANSIT));
    let after = parse(DELIVERED);
    let after_ids = ids(&after);
    assert_eq!(after_ids.len(), 6);
    assert_eq!(&after_ids[..4], &before[..]);
    assert!(before.iter().all(|id| after_ids.contains(id)));
    assert_eq!(after.events[4].kind, st(ShipmentStatus::OutForDelivery));
    assert_eq!(after.events[5].kind, st(ShipmentStatus::Delivered));
    assert_eq!(after.events[5].occurred_at, at("2024-04-11T17:42:00Z"));
    // All ids in one push are distinct.
    let mut sorted = after_ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), after_ids.len());
    // The new push's id is recorded, the checkpoint ids do not depend on it.
    assert_eq!(
        details(&after.events[0])["provider_event_id"],
        "5f1c7d2e-8b0a-4c8e-9d43-0a6f4b7e2c11"
    );
}

// --- codes --------------------------------------------------------------------------------

#[test]
fn the_tables_are_documented_row_by_row() {
    codes::assert_unique(TAGS);
    codes::assert_unique(SUBTAGS);
    codes::assert_documented(TAGS, DOC, "### Tags");
    codes::assert_documented(SUBTAGS, DOC, "### Subtags");
}

#[test]
fn every_documented_tag_and_its_required_subtags_are_in_the_tables() {
    for tag in [
        "Pending",
        "InfoReceived",
        "InTransit",
        "OutForDelivery",
        "AttemptFail",
        "Delivered",
        "AvailableForPickup",
        "Exception",
        "Expired",
    ] {
        assert!(TAGS.iter().any(|c| c.code == tag), "{tag}");
    }
    let mut required: Vec<String> = vec![
        "InfoReceived_001".into(),
        "AvailableForPickup_001".into(),
        "Expired_001".into(),
    ];
    required.extend((1..=9).map(|i| format!("InTransit_{i:03}")));
    required.extend([1, 3, 4].map(|i| format!("OutForDelivery_{i:03}")));
    required.extend((1..=3).map(|i| format!("AttemptFail_{i:03}")));
    required.extend((1..=4).map(|i| format!("Delivered_{i:03}")));
    required.extend((1..=13).map(|i| format!("Exception_{i:03}")));
    required.extend((1..=6).map(|i| format!("Pending_{i:03}")));
    for code in &required {
        assert!(SUBTAGS.iter().any(|c| c.code == code), "{code}");
    }
    let find = |c: &str| SUBTAGS.iter().find(|r| r.code == c).unwrap().status;
    assert_eq!(find("Exception_010"), Some(ShipmentStatus::Returning));
    assert_eq!(find("Exception_011"), Some(ShipmentStatus::Returned));
    assert_eq!(find("Exception_020"), Some(ShipmentStatus::Cancelled));
}

#[test]
fn every_row_maps_as_documented_through_a_parsed_push() {
    // One push carrying every code, as tag-only and as subtag checkpoints.
    let mut checkpoints = Vec::new();
    for row in TAGS {
        checkpoints.push(serde_json::json!({
            "checkpoint_time": "2024-04-10T08:00:00Z", "tag": row.code, "subtag": null
        }));
    }
    for row in SUBTAGS {
        checkpoints.push(serde_json::json!({
            "checkpoint_time": "2024-04-10T08:00:00Z", "tag": "Exception", "subtag": row.code
        }));
    }
    let body = with_body(IN_TRANSIT, |v| {
        v["msg"]["checkpoints"] = Value::Array(checkpoints)
    });
    let push = parse(&body);
    assert!(push.unknown_codes.is_empty());
    for (ev, row) in push.events.iter().zip(TAGS.iter().chain(SUBTAGS)) {
        assert_eq!(ev.raw_status.as_deref(), Some(row.code));
        let expected = row.status.map_or(EventKind::Unmapped, EventKind::Status);
        assert_eq!(ev.kind, expected, "{}", row.code);
    }
    assert_eq!(push.events.len(), TAGS.len() + SUBTAGS.len());
}

#[test]
fn an_unknown_code_is_kept_unmapped_and_counted() {
    let body = with_body(IN_TRANSIT, |v| {
        v["msg"]["checkpoints"][1]["subtag"] = "InTransit_077".into();
        v["msg"]["checkpoints"][2]["subtag"] = "InTransit_077".into();
        v["msg"]["checkpoints"][3]["subtag"] = Value::Null;
        v["msg"]["checkpoints"][3]["tag"] = "Teleported".into();
    });
    let push = parse(&body);
    assert_eq!(push.events[1].kind, EventKind::Unmapped);
    assert_eq!(push.events[1].raw_status.as_deref(), Some("InTransit_077"));
    assert_eq!(push.events[3].kind, EventKind::Unmapped);
    assert_eq!(push.events[3].raw_status.as_deref(), Some("Teleported"));
    assert_eq!(push.unknown_codes, ["InTransit_077", "Teleported"]);
    // The known ones around them are unaffected.
    assert_eq!(push.events[0].kind, st(ShipmentStatus::InfoReceived));
}

// --- push types and refusals ----------------------------------------------------------------

#[test]
fn edd_revisions_and_pending_alerts_carry_the_same_tracking() {
    for event in ["edd_revise", "tracking_pending_time"] {
        let body = with_body(IN_TRANSIT, |v| v["event"] = event.into());
        let push = parse(&body);
        assert_eq!(ids(&push), ids(&parse(IN_TRANSIT)), "{event}");
    }
}

#[test]
fn other_push_types_are_unsupported() {
    let body = with_body(IN_TRANSIT, |v| v["event"] = "return.approved".into());
    assert_eq!(
        parse_in(&body, "UTC"),
        Err(ParseError::UnsupportedType("return.approved".into()))
    );
    let body = with_body(IN_TRANSIT, |v| {
        v.as_object_mut().unwrap().remove("event");
    });
    assert_eq!(
        parse_in(&body, "UTC"),
        Err(ParseError::Missing("event".into()))
    );
}

#[test]
fn unreadable_payloads_name_the_field() {
    assert!(matches!(
        parse_in(b"{not json", "UTC"),
        Err(ParseError::Syntax { format: "JSON", .. })
    ));
    assert!(matches!(
        parse_in(b"[1,2]", "UTC"),
        Err(ParseError::Invalid { field, .. }) if field == "body"
    ));
    let cases: Vec<(Edit, ParseError)> = vec![
        (
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("msg");
            }),
            ParseError::Missing("msg".into()),
        ),
        (
            Box::new(|v| {
                v["msg"].as_object_mut().unwrap().remove("tracking_number");
            }),
            ParseError::Missing("msg.tracking_number".into()),
        ),
        (
            Box::new(|v| v["msg"]["slug"] = "".into()),
            ParseError::Missing("msg.slug".into()),
        ),
        (
            Box::new(|v| {
                v["msg"]["checkpoints"][2]
                    .as_object_mut()
                    .unwrap()
                    .remove("checkpoint_time");
                v["msg"]["checkpoints"][2]
                    .as_object_mut()
                    .unwrap()
                    .remove("created_at");
            }),
            ParseError::Missing("msg.checkpoints[2].checkpoint_time".into()),
        ),
    ];
    for (edit, expected) in cases {
        assert_eq!(parse_in(&with_body(IN_TRANSIT, edit), "UTC"), Err(expected));
    }
    let invalid =
        |edit: fn(&mut Value), field: &str| match parse_in(&with_body(IN_TRANSIT, edit), "UTC") {
            Err(ParseError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        };
    invalid(
        |v| v["msg"]["tracking_number"] = true.into(),
        "msg.tracking_number",
    );
    invalid(
        |v| v["msg"]["tracking_number"] = "has space".into(),
        "msg.tracking_number",
    );
    invalid(
        |v| v["msg"]["checkpoints"] = "none".into(),
        "msg.checkpoints",
    );
    invalid(
        |v| v["msg"]["checkpoints"][1] = 7.into(),
        "msg.checkpoints[1]",
    );
    invalid(
        |v| v["msg"]["checkpoints"][0]["checkpoint_time"] = "yesterday".into(),
        "msg.checkpoints[0].checkpoint_time",
    );
    invalid(
        |v| v["msg"]["checkpoints"][3]["message"] = serde_json::json!({"a": 1}),
        "msg.checkpoints[3].message",
    );
}

#[test]
fn a_checkpoint_without_its_time_falls_back_to_when_aftership_recorded_it() {
    let body = with_body(IN_TRANSIT, |v| {
        v["msg"]["checkpoints"][2]["checkpoint_time"] = Value::Null;
    });
    let push = parse(&body);
    let e = &push.events[2];
    assert_eq!(e.occurred_at, at("2024-04-09T09:30:02Z"));
    let d = details(e);
    assert_eq!(d["time_source"], "created_at");
    assert_eq!(d["time"], "2024-04-09T09:30:02+00:00");
}

// --- signature ----------------------------------------------------------------------------

#[test]
fn a_correctly_signed_push_verifies_under_either_header() {
    let sig = signature(SECRET, IN_TRANSIT);
    for header in [
        "aftership-hmac-sha256",
        "Aftership-Hmac-Sha256",
        "as-signature-hmac-sha256",
    ] {
        let headers = signed(header, &sig);
        assert_eq!(
            aftership::verify(SECRET, &inbound(&headers, IN_TRANSIT)),
            Ok(()),
            "{header}"
        );
    }
}

#[test]
fn forged_or_damaged_signatures_are_refused() {
    let sig = signature(SECRET, IN_TRANSIT);
    let headers = signed("aftership-hmac-sha256", &sig);
    assert_eq!(
        aftership::verify(b"another secret", &inbound(&headers, IN_TRANSIT)),
        Err(AuthError::Mismatch)
    );
    let mut changed = IN_TRANSIT.to_vec();
    let i = changed.iter().position(|b| *b == b'9').unwrap();
    changed[i] = b'8';
    assert_eq!(
        aftership::verify(SECRET, &inbound(&headers, &changed)),
        Err(AuthError::Mismatch)
    );
    let none = http::HeaderMap::new();
    assert_eq!(
        aftership::verify(SECRET, &inbound(&none, IN_TRANSIT)),
        Err(AuthError::Missing("aftership-hmac-sha256"))
    );
    // A hex digest, a truncated digest, not base64 at all, an empty value.
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(IN_TRANSIT);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for bad in [hex.as_str(), &sig[..20], "not base64 at all!", ""] {
        let headers = signed("aftership-hmac-sha256", bad);
        assert!(
            matches!(
                aftership::verify(SECRET, &inbound(&headers, IN_TRANSIT)),
                Err(AuthError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn the_answer_is_a_2xx_or_a_retry() {
    let headers = http::HeaderMap::new();
    let req = inbound(&headers, IN_TRANSIT);
    assert_eq!(aftership::reply(&req, &Outcome::Ack).status, 200);
    let retry = aftership::reply(&req, &Outcome::Retry("store busy".into()));
    assert_eq!(retry.status, 503);
    assert!(retry.body.contains("store busy"));
    // The provider dispatch agrees.
    assert_eq!(Provider::AfterShip.reply(&req, &Outcome::Ack).status, 200);
}

// --- fuzzing --------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_in(&body, "UTC");
        let headers = signed("aftership-hmac-sha256", "AAAA");
        let _ = aftership::verify(SECRET, &inbound(&headers, &body));
        let none = http::HeaderMap::new();
        let _ = aftership::verify(SECRET, &inbound(&none, &body));
    }

    #[test]
    fn arbitrary_signature_headers_never_panic(value in "[ -~]{0,80}") {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            let mut headers = http::HeaderMap::new();
            headers.insert("aftership-hmac-sha256", v);
            let r = aftership::verify(SECRET, &inbound(&headers, IN_TRANSIT));
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn mutated_payloads_parse_or_are_refused_without_panicking(
        base in prop::sample::select(vec![IN_TRANSIT, DELIVERED, RETURNED, NO_CHECKPOINTS]),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0u8..10, any::<i64>(), "\\PC{0,24}"),
            1..4,
        ),
    ) {
        let mut v: Value = serde_json::from_slice(base).unwrap();
        let long_text = "界".repeat(40_000);
        for (pick, how, n, text) in &edits {
            mutate_generated(&mut v, *pick, *how, *n, text, &long_text, 7.0);
        }
        let body = serde_json::to_vec(&v).unwrap();
        if let Ok(push) = parse_in(&body, "Asia/Shanghai") {
            for ev in &push.events {
                prop_assert!(ev.event_id.starts_with("wbp_"));
                prop_assert!(ev.raw_status.as_ref().is_none_or(|r| r.len() <= 128));
                prop_assert!(ev.location.as_ref().is_none_or(|l| l.len() <= 2048));
            }
            for code in &push.unknown_codes {
                prop_assert!(push.events.iter().any(|e| e.kind == EventKind::Unmapped
                    && e.raw_status.as_deref().is_some_and(|r| code.starts_with(r))));
            }
        }
    }
}
