//! 17TRACK: fixtures built from 17TRACK's v2.2 webhook example, the `sign` scheme, the
//! mapping tables row by row, and fuzzing.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use waybill_core::{EventKind, ShipmentStatus as S, Timestamp};
use waybill_providers::codes::{assert_documented, assert_unique};
use waybill_providers::seventeen_track::{self, STAGES, STATUSES, SUB_STATUSES};
use waybill_providers::{AuthError, Context, Inbound, Outcome, ParseError, Provider, Push};

mod common;
use common::{Seg, details, node, paths, remove};

const UPDATED: &str = include_str!("fixtures/17track/tracking_updated.json");
const EARLIER: &str = include_str!("fixtures/17track/tracking_updated_earlier.json");
const CROSSBORDER: &str = include_str!("fixtures/17track/tracking_updated_crossborder.json");
const STOPPED: &str = include_str!("fixtures/17track/tracking_stopped.json");
const DOC: &str = include_str!("../../../docs/providers/17track.md");

const KEY: &str = "17track-security-key";
const NOW_SECONDS: i64 = 1_795_000_000;

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

fn inbound<'a>(h: &'a HeaderMap, body: &'a [u8]) -> Inbound<'a> {
    Inbound {
        headers: h,
        body,
        path: "/v1/webhooks/17track",
        received_at: Timestamp(NOW_SECONDS * 1_000_000),
    }
}

fn shanghai() -> Context {
    Context::for_provider(Provider::SeventeenTrack)
}

fn parse_in(body: &str, ctx: &Context) -> Result<Push, ParseError> {
    let h = HeaderMap::new();
    seventeen_track::parse(&inbound(&h, body.as_bytes()), ctx)
}

fn parse(body: &str) -> Result<Push, ParseError> {
    parse_in(body, &shanghai())
}

/// 17TRACK's `sign`: SHA-256 of `body + "/" + key`, hex, computed here with `sha2` directly.
fn sign(body: &[u8], key: &str) -> String {
    let mut h = Sha256::new();
    h.update(body);
    h.update(b"/");
    h.update(key.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn signed(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("sign", HeaderValue::from_str(value).unwrap());
    h
}

/// A change to a valid payload and the error it must give.
type Case = (Box<dyn Fn(&mut Value)>, ParseError);

// ---- fixtures ----------------------------------------------------------------------

#[test]
fn the_documented_ups_push_reads_oldest_first() {
    let push = parse(UPDATED).unwrap();
    assert!(push.unknown_codes.is_empty());
    let kinds: Vec<EventKind> = push.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Status(S::InfoReceived),
            EventKind::Status(S::PickedUp),
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
    assert_eq!(
        raw,
        [
            "InfoReceived",
            "InTransit_PickedUp",
            "InTransit_Other",
            "OutForDelivery_Other",
            "Delivered_Other"
        ]
    );
    for ev in &push.events {
        let t = ev.tracking.as_ref().unwrap();
        assert_eq!(t.carrier.as_str(), "ups");
        assert_eq!(t.tracking_number.as_str(), "1Z2617V10397725789");
        assert_eq!(ev.utc_offset_seconds, -7 * 3600);
        let d = details(ev);
        assert_eq!(d["provider"], "17track");
        assert_eq!(d["tag"], "order-1042");
        assert_eq!(d["provider_key"], 100002);
        assert_eq!(d["provider_name"], "UPS");
        assert_eq!(d["carrier_key"], 100002);
        assert!(d.get("provider_event_id").is_none());
    }
    let first = &push.events[0];
    assert_eq!(first.occurred_at.0, at("2022-03-29T05:43:08Z"));
    assert_eq!(first.location.as_deref(), Some("US"));
    assert_eq!(details(first)["time"], "2022-03-28T22:43:08-07:00");
    let last = &push.events[4];
    assert_eq!(last.occurred_at.0, at("2022-04-04T23:35:22Z"));
    assert_eq!(last.description.as_deref(), Some("DELIVERED"));
    assert_eq!(last.location.as_deref(), Some("GASQUET, CA, US"));
    assert_eq!(details(last)["stage"], "Delivered");
}

#[test]
fn a_cross_border_push_merges_its_carriers_in_time_order() {
    let push = parse(CROSSBORDER).unwrap();
    assert!(push.unknown_codes.is_empty());
    let got: Vec<(EventKind, i64, i32)> = push
        .events
        .iter()
        .map(|e| (e.kind, e.occurred_at.0, e.utc_offset_seconds))
        .collect();
    assert_eq!(
        got,
        [
            (
                EventKind::Status(S::InfoReceived),
                at("2026-11-12T02:02:00Z"),
                8 * 3600
            ),
            (
                EventKind::Status(S::PickedUp),
                at("2026-11-13T10:45:00Z"),
                8 * 3600
            ),
            (
                EventKind::Status(S::InTransit),
                at("2026-11-14T19:20:00Z"),
                8 * 3600
            ),
            (
                EventKind::Status(S::InTransit),
                at("2026-11-18T03:10:00Z"),
                -5 * 3600
            ),
            (
                EventKind::Status(S::InTransit),
                at("2026-11-18T19:30:00Z"),
                -5 * 3600
            ),
            (
                EventKind::Status(S::OutForDelivery),
                at("2026-11-20T12:01:00Z"),
                -5 * 3600
            ),
            (
                EventKind::Status(S::Delivered),
                at("2026-11-20T14:12:00Z"),
                -5 * 3600
            ),
        ]
    );
    for ev in &push.events {
        assert_eq!(ev.tracking.as_ref().unwrap().carrier.as_str(), "china-post");
    }
    // A stage-only event: the stage is the raw code; the translation stands in for the
    // empty description; the address for the empty location.
    let info = &push.events[0];
    assert_eq!(info.raw_status.as_deref(), Some("InfoReceived"));
    assert_eq!(
        info.description.as_deref(),
        Some("Electronic information received")
    );
    assert_eq!(info.location.as_deref(), Some("深圳市, 广东省, CN"));
    assert_eq!(details(info)["provider_key"], 3011);
    // time_raw without a zone: Beijing time, text kept.
    let picked = &push.events[1];
    assert_eq!(details(picked)["time"], "2026-11-13 18:45:00");
    assert_eq!(details(picked)["postal_code"], "518000");
    assert_eq!(
        picked.description.as_deref(),
        Some("【深圳市邮政速递物流】已收寄，揽投员：张三")
    );
    let departed = &push.events[2];
    assert_eq!(
        departed.description.as_deref(),
        Some("【上海国际】已离开，发往美国")
    );
    assert_eq!(
        details(departed)["description_translation"],
        "[Shanghai International] Departed, bound for the United States"
    );
    assert_eq!(details(departed)["translation_lang"], "en");
    assert_eq!(details(&push.events[6])["provider_key"], 21051);
}

#[test]
fn re_pushes_give_the_same_ids_and_longer_histories_add_to_them() {
    let earlier = parse(EARLIER).unwrap();
    assert_eq!(earlier, parse(EARLIER).unwrap());
    let later = parse(UPDATED).unwrap();
    assert_eq!(earlier.events.len(), 3);
    assert_eq!(later.events.len(), 5);
    let old: Vec<&str> = earlier.events.iter().map(|e| e.event_id.as_str()).collect();
    let new: Vec<&str> = later.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(&new[..3], &old[..]);
    let mut unique = new.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 5);
}

#[test]
fn an_event_reported_twice_is_one_event() {
    let mut v: Value = serde_json::from_str(UPDATED).unwrap();
    let providers = v["data"]["track_info"]["tracking"]["providers"]
        .as_array_mut()
        .unwrap();
    let copy = providers[0].clone();
    providers.push(copy);
    assert_eq!(parse(&v.to_string()).unwrap().events.len(), 5);
}

#[test]
fn stopped_tracking_is_an_empty_push_and_other_events_are_refused() {
    assert_eq!(parse(STOPPED).unwrap(), Push::default());
    let mut v: Value = serde_json::from_str(STOPPED).unwrap();
    v["event"] = json!("TRACKING_TELEPORTED");
    assert_eq!(
        parse(&v.to_string()).unwrap_err(),
        ParseError::UnsupportedType("TRACKING_TELEPORTED".into())
    );
    // No providers (a number 17TRACK has not found yet): nothing to record.
    let mut v: Value = serde_json::from_str(UPDATED).unwrap();
    v["data"]["track_info"]["tracking"]["providers"] = json!([]);
    assert_eq!(parse(&v.to_string()).unwrap(), Push::default());
}

#[test]
fn the_carrier_falls_back_to_the_reporting_provider() {
    let mut v: Value = serde_json::from_str(UPDATED).unwrap();
    v["data"]["carrier"] = json!(0);
    let push = parse(&v.to_string()).unwrap();
    assert_eq!(
        push.events[0].tracking.as_ref().unwrap().carrier.as_str(),
        "ups"
    );
    v["data"]["carrier"] = json!("21051");
    let push = parse(&v.to_string()).unwrap();
    assert_eq!(
        push.events[0].tracking.as_ref().unwrap().carrier.as_str(),
        "usps"
    );
    // A key the table lacks still makes a slug.
    v["data"]["carrier"] = json!(190999);
    let push = parse(&v.to_string()).unwrap();
    assert_eq!(
        push.events[0].tracking.as_ref().unwrap().carrier.as_str(),
        "17track-190999"
    );
    // The carrier is not part of the ids.
    assert_eq!(
        push.events[0].event_id,
        parse(UPDATED).unwrap().events[0].event_id
    );
}

#[test]
fn unreadable_payloads_name_the_field() {
    assert!(matches!(parse("{"), Err(ParseError::Syntax { .. })));
    assert!(matches!(parse("\"x\""), Err(ParseError::Invalid { field, .. }) if field == "body"));
    assert_eq!(
        parse("{}").unwrap_err(),
        ParseError::Missing("event".into())
    );
    let base: Value = serde_json::from_str(UPDATED).unwrap();
    let events = "data.track_info.tracking.providers[0].events";
    let cases: Vec<Case> = vec![
        (
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("data");
            }),
            ParseError::Missing("data".into()),
        ),
        (
            Box::new(|v| v["data"]["number"] = json!("  ")),
            ParseError::Missing("data.number".into()),
        ),
        (
            Box::new(|v| {
                v["data"]["carrier"] = Value::Null;
                v["data"]["track_info"]["tracking"]["providers"][0]["provider"] = Value::Null;
            }),
            ParseError::Missing("data.carrier".into()),
        ),
        (
            Box::new(|v| v["data"]["carrier"] = json!(-3)),
            ParseError::invalid("data.carrier", "not a carrier key"),
        ),
        (
            Box::new(|v| v["data"]["track_info"]["tracking"]["providers"] = json!({"a": 1})),
            ParseError::invalid(
                "data.track_info.tracking.providers",
                "expected an array, found an object",
            ),
        ),
        (
            Box::new(|v| {
                v["data"]["track_info"]["tracking"]["providers"][0]["events"][1]["sub_status"] =
                    json!(7)
            }),
            ParseError::invalid(
                format!("{events}[1].sub_status"),
                "expected a string, found a number",
            ),
        ),
        (
            Box::new(|v| {
                let e = &mut v["data"]["track_info"]["tracking"]["providers"][0]["events"][2];
                e["time_iso"] = Value::Null;
                e["time_utc"] = Value::Null;
                e["time_raw"] = Value::Null;
            }),
            ParseError::Missing(format!("{events}[2].time_iso")),
        ),
    ];
    for (mutate, expected) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        assert_eq!(parse(&v.to_string()).unwrap_err(), expected);
    }
    // A broken time_iso is read last (time_utc and time_raw come first), so it fails only
    // when it is all there is.
    let mut v = base;
    let e = &mut v["data"]["track_info"]["tracking"]["providers"][0]["events"][0];
    e["time_iso"] = json!("2022-04-04T99:00:00Z");
    e["time_utc"] = Value::Null;
    e["time_raw"] = Value::Null;
    assert!(matches!(
        parse(&v.to_string()),
        Err(ParseError::Invalid { field, .. }) if field == format!("{events}[0].time_iso")
    ));
}

// ---- time ----------------------------------------------------------------------------

fn one_event(fields: Value) -> String {
    let mut v: Value = serde_json::from_str(UPDATED).unwrap();
    let mut e = v["data"]["track_info"]["tracking"]["providers"][0]["events"][0].clone();
    for (k, val) in fields.as_object().unwrap() {
        e[k] = val.clone();
    }
    v["data"]["track_info"]["tracking"]["providers"][0]["events"] = json!([e]);
    v.to_string()
}

#[test]
fn wall_clock_times_are_read_in_the_configured_zone() {
    let raw_only = one_event(json!({
        "time_iso": null, "time_utc": null,
        "time_raw": {"date": "2026-11-27", "time": "10:02:00", "timezone": null}
    }));
    let cn = parse(&raw_only).unwrap();
    assert_eq!(cn.events[0].occurred_at.0, at("2026-11-27T02:02:00Z"));
    assert_eq!(cn.events[0].utc_offset_seconds, 8 * 3600);
    assert_eq!(details(&cn.events[0])["time"], "2026-11-27 10:02:00");
    let utc = parse_in(
        &raw_only,
        &Context {
            zone: jiff::tz::TimeZone::UTC,
        },
    )
    .unwrap();
    assert_eq!(utc.events[0].occurred_at.0, at("2026-11-27T10:02:00Z"));
    assert_eq!(utc.events[0].event_id, cn.events[0].event_id);

    // A time_raw zone that is an offset is used, and kept in the text.
    let with_zone = one_event(json!({
        "time_iso": null, "time_utc": null,
        "time_raw": {"date": "2026-11-27", "time": "10:02", "timezone": "UTC+9"}
    }));
    let t = &parse(&with_zone).unwrap().events[0];
    assert_eq!(t.occurred_at.0, at("2026-11-27T01:02:00Z"));
    assert_eq!(t.utc_offset_seconds, 9 * 3600);
    assert_eq!(details(t)["time"], "2026-11-27 10:02 UTC+9");

    // A zone name is not an offset: the configured zone decides, the text is kept aside.
    let named = one_event(json!({
        "time_iso": null, "time_utc": null,
        "time_raw": {"date": "2026/11/27", "time": "10:02:00", "timezone": "CST"}
    }));
    let t = &parse(&named).unwrap().events[0];
    assert_eq!(t.occurred_at.0, at("2026-11-27T02:02:00Z"));
    assert_eq!(details(t)["time_raw_timezone"], "CST");

    // time_iso without an offset, and nothing else.
    let naive =
        one_event(json!({"time_iso": "2026-11-27T10:02:00", "time_utc": null, "time_raw": null}));
    let t = &parse(&naive).unwrap().events[0];
    assert_eq!(t.occurred_at.0, at("2026-11-27T02:02:00Z"));
    assert_eq!(details(t)["time"], "2026-11-27T10:02:00");

    // time_iso without an offset loses to time_utc.
    let both =
        one_event(json!({"time_iso": "2026-11-27T10:02:00", "time_utc": "2026-11-27T15:02:00Z"}));
    let t = &parse(&both).unwrap().events[0];
    assert_eq!(t.occurred_at.0, at("2026-11-27T15:02:00Z"));
    assert_eq!(t.utc_offset_seconds, 0);
}

// ---- signature -----------------------------------------------------------------------

#[test]
fn the_sign_header_verifies() {
    let body = UPDATED.as_bytes();
    // Computed independently (Python: sha256(body + b"/" + key).hexdigest()).
    let documented = "e9ee57db2c998a80998234362cd20a229fd20e50a9007d6746fc1631129971b3";
    assert_eq!(sign(body, KEY), documented);
    let v = |h: &HeaderMap, key: &str, body: &[u8]| {
        seventeen_track::verify(key.as_bytes(), &inbound(h, body))
    };
    assert_eq!(v(&signed(documented), KEY, body), Ok(()));
    assert_eq!(v(&signed(&documented.to_uppercase()), KEY, body), Ok(()));

    assert_eq!(
        v(&signed(documented), "another key", body),
        Err(AuthError::Mismatch)
    );
    let mut changed = body.to_vec();
    changed[100] ^= 1;
    assert_eq!(
        v(&signed(documented), KEY, &changed),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        v(&HeaderMap::new(), KEY, body),
        Err(AuthError::Missing("sign"))
    );
    assert!(matches!(
        v(&signed("abc"), KEY, body),
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        v(&signed(&"g".repeat(64)), KEY, body),
        Err(AuthError::Malformed(_))
    ));
    // An HMAC or a digest of the body alone is not 17TRACK's scheme.
    let bare = format!("{:x}", Sha256::digest(body));
    assert_eq!(v(&signed(&bare), KEY, body), Err(AuthError::Mismatch));
}

// ---- mapping tables ------------------------------------------------------------------

#[test]
fn tables_match_the_doc() {
    assert_unique(STATUSES);
    assert_unique(SUB_STATUSES);
    assert_unique(STAGES);
    assert_documented(SUB_STATUSES, DOC, "### Sub-statuses");
    assert_documented(STATUSES, DOC, "### Main statuses");
    assert_documented(STAGES, DOC, "### Stages");
}

fn expected(row: &waybill_providers::codes::Code) -> EventKind {
    row.status.map_or(EventKind::Unmapped, EventKind::Status)
}

#[test]
fn every_sub_status_maps_as_documented() {
    for row in SUB_STATUSES {
        let push = parse(&one_event(
            json!({"sub_status": row.code, "stage": "Delivered"}),
        ))
        .unwrap();
        assert_eq!(push.events[0].kind, expected(row), "{}", row.code);
        assert_eq!(push.events[0].raw_status.as_deref(), Some(row.code));
        assert!(push.unknown_codes.is_empty());
    }
}

#[test]
fn every_stage_and_main_status_maps_as_documented() {
    for row in STAGES.iter().chain(STATUSES) {
        let push = parse(&one_event(json!({"sub_status": null, "stage": row.code}))).unwrap();
        let want = STAGES
            .iter()
            .find(|s| s.code == row.code)
            .map_or_else(|| expected(row), expected);
        assert_eq!(push.events[0].kind, want, "{}", row.code);
        assert_eq!(push.events[0].raw_status.as_deref(), Some(row.code));
        assert!(push.unknown_codes.is_empty());
    }
    // A main status sent as the sub-status reads by the main-status table.
    for row in STATUSES {
        let push = parse(&one_event(json!({"sub_status": row.code, "stage": null}))).unwrap();
        let want = SUB_STATUSES
            .iter()
            .find(|s| s.code == row.code)
            .map_or_else(|| expected(row), expected);
        assert_eq!(push.events[0].kind, want, "{}", row.code);
    }
}

#[test]
fn unknown_codes_are_kept_and_counted() {
    let push = parse(&one_event(
        json!({"sub_status": "Teleported_Away", "stage": "Delivered"}),
    ))
    .unwrap();
    assert_eq!(push.events[0].kind, EventKind::Unmapped);
    assert_eq!(
        push.events[0].raw_status.as_deref(),
        Some("Teleported_Away")
    );
    assert_eq!(push.unknown_codes, ["Teleported_Away"]);

    let push = parse(&one_event(json!({"sub_status": "Exception_Held"}))).unwrap();
    assert_eq!(push.events[0].kind, EventKind::Status(S::Exception));
    assert_eq!(push.unknown_codes, ["Exception_Held"]);

    let push = parse(&one_event(json!({"sub_status": null, "stage": "Wormhole"}))).unwrap();
    assert_eq!(push.events[0].kind, EventKind::Unmapped);
    assert_eq!(push.unknown_codes, ["Wormhole"]);

    let push = parse(&one_event(json!({"sub_status": "", "stage": null}))).unwrap();
    assert_eq!(push.events[0].kind, EventKind::Unmapped);
    assert_eq!(push.events[0].raw_status, None);
    assert!(push.unknown_codes.is_empty());
}

#[test]
fn replies() {
    let h = HeaderMap::new();
    let req = inbound(&h, b"");
    assert_eq!(seventeen_track::reply(&req, &Outcome::Ack).status, 200);
    let retry = seventeen_track::reply(&req, &Outcome::Retry("disk full".into()));
    assert_eq!(retry.status, 503);
    assert!(retry.body.contains("disk full"));
}

// ---- fuzzing -------------------------------------------------------------------------

/// Removes, nulls, retypes, inflates or duplicates the value at `path`.
fn mutate(v: &mut Value, path: &[Seg], how: u8, text: &str) {
    if path.is_empty() {
        *v = match how % 3 {
            0 => Value::Null,
            1 => json!(text),
            _ => json!([v.clone(), v.clone()]),
        };
        return;
    }
    if how.is_multiple_of(8) {
        remove(v, path);
        return;
    }
    let Some(target) = node(v, path) else { return };
    *target = match how % 8 {
        1 => Value::Null,
        2 => json!(text),
        3 => json!(text.repeat(4096)),
        4 => json!(u64::MAX),
        5 => json!(-7),
        6 => json!({"date": text, "time": text, "timezone": text}),
        _ => match target.take() {
            Value::Array(a) => Value::Array(a.iter().chain(a.iter()).cloned().collect()),
            other => json!([other.clone(), other]),
        },
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        sig in "\\PC{0,80}",
    ) {
        let mut h = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&sig) {
            h.insert("sign", value);
        }
        let req = inbound(&h, &body);
        let _ = seventeen_track::verify(KEY.as_bytes(), &req);
        let _ = seventeen_track::parse(&req, &shanghai());
    }

    #[test]
    fn mutated_payloads_parse_or_fail_cleanly(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>(), "\\PC{0,12}"), 1..5),
    ) {
        let mut v: Value = serde_json::from_str([UPDATED, EARLIER, CROSSBORDER, STOPPED][which]).unwrap();
        for (index, how, text) in edits {
            let path = index.get(&paths(&v)).clone();
            mutate(&mut v, &path, how, &text);
        }
        let body = v.to_string();
        match parse(&body) {
            Ok(push) => {
                prop_assert!(push.events.windows(2).all(|w| w[0].occurred_at <= w[1].occurred_at));
                for ev in &push.events {
                    prop_assert!(ev.event_id.starts_with("wbp_"));
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
