//! EasyPost: fixtures built from EasyPost's documentation examples, the signature schemes,
//! the mapping tables row by row, and fuzzing.

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Sha256;
use waybill_core::{EventKind, ShipmentStatus as S, Timestamp};
use waybill_providers::codes::{assert_documented, assert_unique};
use waybill_providers::easypost::{self, REFINABLE, STATUS_DETAILS, STATUSES};
use waybill_providers::{AuthError, Context, Inbound, Outcome, ParseError, Provider, Push};

mod common;
use common::{Seg, details, node, paths, remove};

const CREATED: &str = include_str!("fixtures/easypost/tracker_created.json");
const UPDATED: &str = include_str!("fixtures/easypost/tracker_updated.json");
const FAILURE: &str = include_str!("fixtures/easypost/tracker_failure.json");
const BATCH: &str = include_str!("fixtures/easypost/batch_updated.json");
const DOC: &str = include_str!("../../../docs/providers/easypost.md");

const SECRET: &str = "whsec_waybill_test";
/// Wed, 27 Dec 2023 15:02:12 UTC.
const NOW_SECONDS: i64 = 1_703_689_332;
const NOW_RFC2822: &str = "Wed, 27 Dec 2023 15:02:12 -0000";
const PATH: &str = "/v1/webhooks/easypost";

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn inbound<'a>(h: &'a HeaderMap, body: &'a [u8], now_seconds: i64) -> Inbound<'a> {
    Inbound {
        headers: h,
        body,
        path: PATH,
        received_at: Timestamp(now_seconds * 1_000_000),
    }
}

fn utc() -> Context {
    Context::for_provider(Provider::EasyPost)
}

fn parse(body: &str) -> Result<Push, ParseError> {
    let h = HeaderMap::new();
    easypost::parse(&inbound(&h, body.as_bytes(), NOW_SECONDS), &utc())
}

/// HMAC-SHA256 hex, computed with the `hmac` crate directly, as EasyPost's libraries do.
fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A change to a valid payload and the error it must give.
type Case = (Box<dyn Fn(&mut Value)>, ParseError);

// ---- fixtures ----------------------------------------------------------------------

#[test]
fn a_delivered_tracker_reads_checkpoint_by_checkpoint() {
    let push = parse(UPDATED).unwrap();
    assert!(push.unknown_codes.is_empty());
    let kinds: Vec<EventKind> = push.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Status(S::InfoReceived),
            EventKind::Status(S::InfoReceived),
            EventKind::Status(S::PickedUp),
            EventKind::Status(S::InTransit),
            EventKind::Status(S::InTransit),
            EventKind::Status(S::OutForDelivery),
            EventKind::Status(S::Delivered),
        ]
    );
    let raw: Vec<&str> = push
        .events
        .iter()
        .map(|e| e.raw_status.as_deref().unwrap())
        .collect();
    assert_eq!(raw[0], "pre_transit/status_update");
    assert_eq!(raw[2], "in_transit/received_at_origin_facility");
    assert_eq!(raw[6], "delivered/arrived_at_destination");

    for ev in &push.events {
        let t = ev.tracking.as_ref().unwrap();
        assert_eq!(t.carrier.as_str(), "usps");
        assert_eq!(t.tracking_number.as_str(), "9405500207552011812894");
        assert!(ev.order_id.is_none());
        assert_eq!(ev.received_at, Timestamp(NOW_SECONDS * 1_000_000));
        let d = details(ev);
        assert_eq!(d["provider"], "easypost");
        assert_eq!(
            d["provider_event_id"],
            "evt_b91f7e30a43111eebf7a3f1b5c6e2d01"
        );
        assert_eq!(
            d["easypost_tracker_id"],
            "trk_3898303eff624097a516ab324bb133f3"
        );
        assert_eq!(d["mode"], "test");
    }

    // Times: `Z` and local offsets, taken as given.
    let first = &push.events[0];
    assert_eq!(first.occurred_at.0, at("2023-12-24T00:07:43Z"));
    assert_eq!(first.utc_offset_seconds, 0);
    assert_eq!(first.location, None);
    assert_eq!(
        first.description.as_deref(),
        Some("Pre-Shipment Info Sent to USPS")
    );
    let picked = &push.events[2];
    assert_eq!(picked.occurred_at.0, at("2023-12-25T00:02:00Z"));
    assert_eq!(picked.utc_offset_seconds, -6 * 3600);
    assert_eq!(picked.location.as_deref(), Some("HOUSTON, TX, US"));
    assert_eq!(details(picked)["zip"], "77063");
    assert_eq!(details(picked)["carrier_code"], "03");
    assert_eq!(details(picked)["time"], "2023-12-24T18:02:00-06:00");
    let delivered = &push.events[6];
    assert_eq!(delivered.occurred_at.0, at("2023-12-27T14:58:00Z"));
    assert_eq!(delivered.utc_offset_seconds, -5 * 3600);
    assert_eq!(delivered.location.as_deref(), Some("CHARLESTON, SC, US"));
    assert_eq!(
        delivered.description.as_deref(),
        Some("Delivered, In/At Mailbox")
    );
    assert!(
        details(delivered)["easypost_description"]
            .as_str()
            .unwrap()
            .starts_with("Your item was delivered")
    );
    // Oldest first, as EasyPost lists them.
    assert!(
        push.events
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at)
    );
}

#[test]
fn failures_and_returns_are_refined_by_their_detail() {
    let push = parse(FAILURE).unwrap();
    let kinds: Vec<EventKind> = push.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Status(S::PickedUp),
            EventKind::Status(S::FailedAttempt),
            EventKind::Status(S::Exception),
            EventKind::Status(S::Returning),
        ]
    );
    let t = push.events[0].tracking.as_ref().unwrap();
    assert_eq!(t.carrier.as_str(), "ups");
    assert_eq!(t.tracking_number.as_str(), "1Z999AA10123456784");
    assert_eq!(
        push.events[1].raw_status.as_deref(),
        Some("failure/delivery_exception")
    );
    assert_eq!(push.events[1].location.as_deref(), Some("BROOKLYN, NY, US"));
    assert_eq!(push.events[0].utc_offset_seconds, -8 * 3600);
}

#[test]
fn re_pushes_give_the_same_ids_and_longer_histories_add_to_them() {
    let created = parse(CREATED).unwrap();
    let again = parse(CREATED).unwrap();
    assert_eq!(created, again);
    let updated = parse(UPDATED).unwrap();
    assert_eq!(created.events.len(), 2);
    assert_eq!(updated.events.len(), 7);
    let old: Vec<&str> = created.events.iter().map(|e| e.event_id.as_str()).collect();
    let new: Vec<&str> = updated.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(&new[..2], &old[..]);
    let mut unique = new.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), new.len());
    // The push id differs (it is kept in details) but is not part of the event id.
    assert_ne!(
        details(&created.events[0])["provider_event_id"],
        details(&updated.events[0])["provider_event_id"]
    );
}

#[test]
fn non_tracker_events_are_empty_pushes() {
    assert_eq!(parse(BATCH).unwrap(), Push::default());
    let mut ev: Value = serde_json::from_str(UPDATED).unwrap();
    ev["description"] = json!("insurance.purchased");
    assert_eq!(parse(&ev.to_string()).unwrap(), Push::default());
}

#[test]
fn unreadable_payloads_name_the_field() {
    assert!(matches!(parse("not json"), Err(ParseError::Syntax { .. })));
    assert!(matches!(parse("[1,2]"), Err(ParseError::Invalid { field, .. }) if field == "body"));
    let base: Value = serde_json::from_str(UPDATED).unwrap();
    let cases: Vec<Case> = vec![
        (
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("description");
            }),
            ParseError::Missing("description".into()),
        ),
        (
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("result");
            }),
            ParseError::Missing("result".into()),
        ),
        (
            Box::new(|v| v["result"]["tracking_code"] = Value::Null),
            ParseError::Missing("result.tracking_code".into()),
        ),
        (
            Box::new(|v| v["result"]["carrier"] = json!("")),
            ParseError::Missing("result.carrier".into()),
        ),
        (
            Box::new(|v| v["result"]["tracking_details"][3]["datetime"] = json!(12)),
            ParseError::invalid(
                "result.tracking_details[3].datetime",
                "expected a string, found a number",
            ),
        ),
    ];
    for (mutate, expected) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        assert_eq!(parse(&v.to_string()).unwrap_err(), expected);
    }
    let mut v = base.clone();
    v["result"]["tracking_details"][1]["datetime"] = json!("soon");
    assert!(matches!(
        parse(&v.to_string()),
        Err(ParseError::Invalid { field, .. }) if field == "result.tracking_details[1].datetime"
    ));
    let mut v = base.clone();
    v["result"]["tracking_code"] = json!("has space");
    assert!(matches!(
        parse(&v.to_string()),
        Err(ParseError::Invalid { field, .. }) if field == "result.tracking_code"
    ));
    let mut v = base;
    v["result"]["object"] = json!("Shipment");
    assert!(matches!(
        parse(&v.to_string()),
        Err(ParseError::Invalid { field, .. }) if field == "result.object"
    ));
}

// ---- time ----------------------------------------------------------------------------

#[test]
fn times_without_an_offset_are_read_in_the_configured_zone() {
    let mut v: Value = serde_json::from_str(CREATED).unwrap();
    v["result"]["tracking_details"][1]["datetime"] = json!("2023-12-24 12:44:43");
    let body = v.to_string();
    let h = HeaderMap::new();
    let req = inbound(&h, body.as_bytes(), NOW_SECONDS);

    let utc_push = easypost::parse(&req, &utc()).unwrap();
    assert_eq!(utc_push.events[1].occurred_at.0, at("2023-12-24T12:44:43Z"));
    assert_eq!(utc_push.events[1].utc_offset_seconds, 0);

    let chicago = Context {
        zone: jiff::tz::TimeZone::get("America/Chicago").unwrap(),
    };
    let local = easypost::parse(&req, &chicago).unwrap();
    assert_eq!(local.events[1].occurred_at.0, at("2023-12-24T18:44:43Z"));
    assert_eq!(local.events[1].utc_offset_seconds, -6 * 3600);
    assert_eq!(details(&local.events[1])["time"], "2023-12-24 12:44:43");
    // The zone is not part of the id.
    assert_eq!(local.events[1].event_id, utc_push.events[1].event_id);
}

// ---- signatures ----------------------------------------------------------------------

#[test]
fn the_library_signature_verifies() {
    let body = UPDATED.as_bytes();
    // Computed independently (Python: hmac.new(NFKD(secret), body, sha256).hexdigest()).
    let documented = "8e4d84e1b911d6e88c57d40cfdf9e8674f0a5dd3bd22d202bc2620f2ee3be020";
    assert_eq!(hmac_hex(SECRET.as_bytes(), body), documented);
    let h = headers(&[("x-hmac-signature", &format!("hmac-sha256-hex={documented}"))]);
    assert_eq!(
        easypost::verify(SECRET.as_bytes(), &inbound(&h, body, NOW_SECONDS)),
        Ok(())
    );
    // Hex case does not matter; a far-off clock does not either (nothing is timestamped).
    let upper = headers(&[(
        "X-Hmac-Signature",
        &format!("hmac-sha256-hex={}", documented.to_uppercase()),
    )]);
    assert_eq!(
        easypost::verify(SECRET.as_bytes(), &inbound(&upper, body, 0)),
        Ok(())
    );
}

#[test]
fn library_signature_refusals() {
    let body = UPDATED.as_bytes();
    let good = format!("hmac-sha256-hex={}", hmac_hex(SECRET.as_bytes(), body));
    let h = headers(&[("x-hmac-signature", &good)]);
    let v = |secret: &str, h: &HeaderMap, body: &[u8]| {
        easypost::verify(secret.as_bytes(), &inbound(h, body, NOW_SECONDS))
    };

    assert_eq!(v("another secret", &h, body), Err(AuthError::Mismatch));
    let mut changed = body.to_vec();
    changed[40] ^= 1;
    assert_eq!(v(SECRET, &h, &changed), Err(AuthError::Mismatch));
    assert_eq!(
        v(SECRET, &HeaderMap::new(), body),
        Err(AuthError::Missing("X-Hmac-Signature"))
    );
    let bare = headers(&[("x-hmac-signature", &hmac_hex(SECRET.as_bytes(), body))]);
    assert!(matches!(
        v(SECRET, &bare, body),
        Err(AuthError::Malformed(_))
    ));
    let short = headers(&[("x-hmac-signature", "hmac-sha256-hex=abc123")]);
    assert!(matches!(
        v(SECRET, &short, body),
        Err(AuthError::Malformed(_))
    ));
    let mut latin = HeaderMap::new();
    latin.insert(
        "x-hmac-signature",
        HeaderValue::from_bytes(b"hmac-sha256-hex=\xe9").unwrap(),
    );
    assert!(matches!(
        v(SECRET, &latin, body),
        Err(AuthError::Malformed(_))
    ));
}

fn v2_headers(sig: &str, ts: &str, path: &str) -> HeaderMap {
    headers(&[
        ("x-hmac-signature-v2", sig),
        ("x-timestamp", ts),
        ("x-path", path),
    ])
}

#[test]
fn the_timestamped_signature_verifies_within_the_tolerance() {
    let body = UPDATED.as_bytes();
    let message = [NOW_RFC2822.as_bytes(), b"POST", PATH.as_bytes(), body].concat();
    let digest = hmac_hex(SECRET.as_bytes(), &message);
    // Computed independently in Python over the same concatenation.
    assert_eq!(
        digest,
        "bf36928c5f7e1650e2e3826f896fea542412b90630a9802bd304cde0466a0339"
    );
    let h = v2_headers(&format!("hmac-sha256-hex={digest}"), NOW_RFC2822, PATH);
    let v = |h: &HeaderMap, body: &[u8], now: i64| {
        easypost::verify(SECRET.as_bytes(), &inbound(h, body, now))
    };

    assert_eq!(v(&h, body, NOW_SECONDS), Ok(()));
    assert_eq!(v(&h, body, NOW_SECONDS + 300), Ok(()));
    assert_eq!(v(&h, body, NOW_SECONDS - 300), Ok(()));
    assert!(matches!(
        v(&h, body, NOW_SECONDS + 301),
        Err(AuthError::Stale {
            skew_seconds: 301,
            tolerance_seconds: 300
        })
    ));
    // Bare hex is accepted too.
    assert_eq!(
        v(&v2_headers(&digest, NOW_RFC2822, PATH), body, NOW_SECONDS),
        Ok(())
    );

    // Refusals.
    assert_eq!(
        easypost::verify(b"wrong", &inbound(&h, body, NOW_SECONDS)),
        Err(AuthError::Mismatch)
    );
    let mut changed = body.to_vec();
    changed[7] ^= 1;
    assert_eq!(v(&h, &changed, NOW_SECONDS), Err(AuthError::Mismatch));
    let other_path = v2_headers(
        &format!("hmac-sha256-hex={digest}"),
        NOW_RFC2822,
        "/elsewhere",
    );
    assert_eq!(v(&other_path, body, NOW_SECONDS), Err(AuthError::Mismatch));
    let no_ts = headers(&[("x-hmac-signature-v2", &digest), ("x-path", PATH)]);
    assert_eq!(
        v(&no_ts, body, NOW_SECONDS),
        Err(AuthError::Missing("X-Timestamp"))
    );
    let no_path = headers(&[
        ("x-hmac-signature-v2", &digest),
        ("x-timestamp", NOW_RFC2822),
    ]);
    assert_eq!(
        v(&no_path, body, NOW_SECONDS),
        Err(AuthError::Missing("X-Path"))
    );
    assert!(matches!(
        v(
            &v2_headers(&digest, "last tuesday", PATH),
            body,
            NOW_SECONDS
        ),
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        v(
            &v2_headers("hmac-sha256-hex=00", NOW_RFC2822, PATH),
            body,
            NOW_SECONDS
        ),
        Err(AuthError::Malformed(_))
    ));
    // A stale timestamp re-signed by an attacker is not possible without the secret; a
    // replay that keeps the old v2 headers and adds a valid body-only signature is refused.
    let mut replay = v2_headers(&format!("hmac-sha256-hex={digest}"), NOW_RFC2822, PATH);
    replay.insert(
        "x-hmac-signature",
        HeaderValue::from_str(&format!(
            "hmac-sha256-hex={}",
            hmac_hex(SECRET.as_bytes(), body)
        ))
        .unwrap(),
    );
    assert!(matches!(
        v(&replay, body, NOW_SECONDS + 3600),
        Err(AuthError::Stale { .. })
    ));
}

// ---- mapping tables ------------------------------------------------------------------

#[test]
fn tables_match_the_doc() {
    assert_unique(STATUSES);
    assert_unique(STATUS_DETAILS);
    assert_documented(STATUSES, DOC, "### Statuses");
    assert_documented(STATUS_DETAILS, DOC, "### Status details");
    assert_eq!(STATUSES.len(), 10);
    assert_eq!(STATUS_DETAILS.len(), 28);
}

/// A tracker.updated push with one detail carrying these codes.
fn one_detail(status: &str, status_detail: Option<&str>) -> String {
    let mut v: Value = serde_json::from_str(CREATED).unwrap();
    let d = &mut v["result"]["tracking_details"];
    let mut first = d[0].clone();
    first["status"] = json!(status);
    first["status_detail"] = json!(status_detail);
    *d = json!([first]);
    v.to_string()
}

#[test]
fn every_status_maps_as_documented() {
    for row in STATUSES {
        // `status_update` names no status, so the status alone decides.
        let push = parse(&one_detail(row.code, Some("status_update"))).unwrap();
        let ev = &push.events[0];
        let expected = row.status.map_or(EventKind::Unmapped, EventKind::Status);
        assert_eq!(ev.kind, expected, "{}", row.code);
        assert_eq!(
            ev.raw_status.as_deref(),
            Some(format!("{}/status_update", row.code).as_str())
        );
        assert!(push.unknown_codes.is_empty());
        // Without a detail the raw code is the status alone.
        let bare = parse(&one_detail(row.code, None)).unwrap();
        assert_eq!(bare.events[0].kind, expected, "{}", row.code);
        assert_eq!(bare.events[0].raw_status.as_deref(), Some(row.code));
    }
}

#[test]
fn every_status_detail_refines_as_documented() {
    for row in STATUS_DETAILS {
        for status in STATUSES.iter().map(|c| c.code) {
            let push = parse(&one_detail(status, Some(row.code))).unwrap();
            let base = easypost_status(status);
            let expected = match row.status {
                Some(refined) if REFINABLE.contains(&status) => EventKind::Status(refined),
                _ => base,
            };
            assert_eq!(push.events[0].kind, expected, "{status}/{}", row.code);
            assert!(push.unknown_codes.is_empty());
        }
    }
}

fn easypost_status(code: &str) -> EventKind {
    STATUSES
        .iter()
        .find(|c| c.code == code)
        .and_then(|c| c.status)
        .map_or(EventKind::Unmapped, EventKind::Status)
}

#[test]
fn unknown_codes_are_kept_and_counted() {
    let push = parse(&one_detail("teleported", Some("status_update"))).unwrap();
    assert_eq!(push.events[0].kind, EventKind::Unmapped);
    assert_eq!(
        push.events[0].raw_status.as_deref(),
        Some("teleported/status_update")
    );
    assert_eq!(push.unknown_codes, ["teleported/status_update"]);

    // An unknown detail keeps its status's meaning but is counted.
    let push = parse(&one_detail("in_transit", Some("wormhole"))).unwrap();
    assert_eq!(push.events[0].kind, EventKind::Status(S::InTransit));
    assert_eq!(push.unknown_codes, ["in_transit/wormhole"]);

    // No status at all: unmapped, nothing to count.
    let push = parse(&one_detail("", None)).unwrap();
    assert_eq!(push.events[0].kind, EventKind::Unmapped);
    assert_eq!(push.events[0].raw_status, None);
    assert!(push.unknown_codes.is_empty());
}

#[test]
fn replies() {
    let h = HeaderMap::new();
    let req = inbound(&h, b"", NOW_SECONDS);
    let ack = easypost::reply(&req, &Outcome::Ack);
    assert_eq!(ack.status, 200);
    let retry = easypost::reply(&req, &Outcome::Retry("store busy".into()));
    assert_eq!(retry.status, 503);
    assert!(retry.body.contains("store busy"));
}

// ---- fuzzing -------------------------------------------------------------------------

fn mutate(v: &mut Value, path: &[Seg], how: u8, text: &str) {
    if path.is_empty() {
        // The root itself.
        *v = match how % 3 {
            0 => Value::Null,
            1 => json!(text),
            _ => json!([v.clone(), v.clone()]),
        };
        return;
    }
    if how.is_multiple_of(7) {
        remove(v, path);
        return;
    }
    let Some(target) = node(v, path) else { return };
    *target = match how % 7 {
        1 => Value::Null,
        2 => json!(text),
        3 => json!(text.repeat(4096)),
        4 => json!(-1.5e300),
        5 => json!({"x": [true, false]}),
        _ => match target.take() {
            Value::Array(a) => Value::Array(a.iter().chain(a.iter()).cloned().collect()),
            other => json!([other.clone(), other]),
        },
    };
}

fn fixtures() -> Vec<Value> {
    [CREATED, UPDATED, FAILURE, BATCH]
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        sig in "\\PC{0,100}",
        ts in "\\PC{0,40}",
        v2 in any::<bool>(),
    ) {
        let mut h = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&sig) {
            h.insert(if v2 { "x-hmac-signature-v2" } else { "x-hmac-signature" }, value);
        }
        if let Ok(value) = HeaderValue::from_str(&ts) {
            h.insert("x-timestamp", value.clone());
            h.insert("x-path", value);
        }
        let req = inbound(&h, &body, NOW_SECONDS);
        let _ = easypost::verify(SECRET.as_bytes(), &req);
        let _ = easypost::parse(&req, &utc());
    }

    #[test]
    fn mutated_payloads_parse_or_fail_cleanly(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>(), "\\PC{0,12}"), 1..5),
    ) {
        let mut v = fixtures().swap_remove(which);
        for (index, how, text) in edits {
            let path = index.get(&paths(&v)).clone();
            mutate(&mut v, &path, how, &text);
        }
        let body = v.to_string();
        let h = HeaderMap::new();
        match easypost::parse(&inbound(&h, body.as_bytes(), NOW_SECONDS), &utc()) {
            Ok(push) => {
                for ev in &push.events {
                    prop_assert!(ev.event_id.starts_with("wbp_"));
                    prop_assert!(ev.tracking.is_some());
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
