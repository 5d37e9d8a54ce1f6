//! Kuaidi100 subscription push: fixtures built from Kuaidi100's documented push, the
//! `sign` scheme computed independently of the module, the mapping table, and fuzzing.

use md5::{Digest as _, Md5};
use proptest::prelude::*;
use serde_json::{Value, json};
use waybill_core::{EventKind, ShipmentStatus, Timestamp};
use waybill_providers::codes::{self, assert_documented, assert_unique};
use waybill_providers::kuaidi100::{self, NAMES, TABLE};
use waybill_providers::{AuthError, Context, Inbound, Outcome, ParseError, Provider, Push};

mod common;
use common::{details, form, ids, micros, mutate_fixed};

const SALT: &str = "wb-test-salt-7Hq2";
const DOC: &str = include_str!("../../../docs/providers/kuaidi100.md");
const RECEIVED: Timestamp = Timestamp(1_795_745_000_000_000);

fn fixture(name: &str) -> String {
    common::fixture("kuaidi100", name)
}

/// `sign` as Kuaidi100 documents it: MD5 of `param` then the salt, 32 uppercase hex digits.
fn kuaidi100_sign(param: &str, salt: &str) -> String {
    let digest = Md5::new_with_prefix(param.as_bytes())
        .chain_update(salt.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

fn signed(param: &str) -> Vec<u8> {
    form(&[("param", param), ("sign", &kuaidi100_sign(param, SALT))])
}

fn inbound<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> Inbound<'a> {
    Inbound {
        headers,
        body,
        path: "/v1/webhooks/kuaidi100",
        received_at: RECEIVED,
    }
}

fn parse_param(param: &str) -> Result<Push, ParseError> {
    parse_in(param, &Context::for_provider(Provider::Kuaidi100))
}

fn parse_in(param: &str, ctx: &Context) -> Result<Push, ParseError> {
    let headers = http::HeaderMap::new();
    let body = signed(param);
    Provider::Kuaidi100.parse_push(&inbound(&headers, &body), ctx)
}

fn status(s: ShipmentStatus) -> EventKind {
    EventKind::Status(s)
}

// ---------------------------------------------------------------- fixtures

#[test]
fn resultv2_push_gives_one_event_per_checkpoint_oldest_first() {
    let push = parse_param(&fixture("polling_resultv2.json")).unwrap();
    assert!(push.unknown_codes.is_empty());
    assert_eq!(push.carrier_change, None);
    let evs = &push.events;
    assert_eq!(evs.len(), 5);

    let expect = [
        (
            "103",
            status(ShipmentStatus::PickedUp),
            "2026-11-26T09:30:11Z",
            "2026-11-26 17:30:11",
        ),
        (
            "1002",
            status(ShipmentStatus::InTransit),
            "2026-11-26T13:12:45Z",
            "2026-11-26 21:12:45",
        ),
        (
            "1001",
            status(ShipmentStatus::InTransit),
            "2026-11-26T19:41:07Z",
            "2026-11-27 03:41:07",
        ),
        (
            "5",
            status(ShipmentStatus::OutForDelivery),
            "2026-11-27T00:15:32Z",
            "2026-11-27 08:15:32",
        ),
        (
            "501",
            status(ShipmentStatus::AvailableForPickup),
            "2026-11-27T02:02:00Z",
            "2026-11-27 10:02:00",
        ),
    ];
    for (ev, (raw, kind, instant, text)) in evs.iter().zip(expect) {
        assert_eq!(ev.raw_status.as_deref(), Some(raw));
        assert_eq!(ev.kind, kind, "{raw}");
        assert_eq!(ev.occurred_at.0, micros(instant), "{raw}");
        assert_eq!(ev.utc_offset_seconds, 8 * 3600);
        assert_eq!(ev.received_at, RECEIVED);
        let tracking = ev.tracking.as_ref().unwrap();
        assert_eq!(tracking.carrier.as_str(), "zto-express");
        assert_eq!(tracking.tracking_number.as_str(), "78912345678901");
        assert_eq!(ev.order_id, None);
        let d = details(ev);
        assert_eq!(d["provider"], "kuaidi100");
        assert_eq!(d["time"], text);
        assert_eq!(d["subscription"], "polling");
    }
    // `location` is empty or null: the area name stands in.
    assert_eq!(evs[0].location.as_deref(), Some("浙江,杭州市,余杭区"));
    assert_eq!(evs[4].location.as_deref(), Some("广东,深圳市,南山区"));
    assert!(
        evs[4]
            .description
            .as_deref()
            .unwrap()
            .starts_with("【深圳市】快件已送达")
    );
    let d = details(&evs[4]);
    assert_eq!(d["status_name"], "投柜或驿站");
    assert_eq!(d["area_code"], "CN440305000000");
    assert!(d.get("parcel_state").is_none());
}

#[test]
fn without_codes_only_the_newest_checkpoint_takes_the_parcel_state() {
    let push = parse_param(&fixture("shutdown_basic.json")).unwrap();
    let evs = &push.events;
    assert_eq!(evs.len(), 3);
    assert!(push.unknown_codes.is_empty());
    for ev in &evs[..2] {
        assert_eq!(ev.kind, EventKind::Unmapped);
        assert_eq!(ev.raw_status, None);
        assert!(details(ev).get("parcel_state").is_none());
    }
    let newest = &evs[2];
    assert_eq!(newest.kind, status(ShipmentStatus::Delivered));
    assert_eq!(
        newest.raw_status, None,
        "the fallback code stays out of the id"
    );
    assert_eq!(details(newest)["parcel_state"], "3");
    assert_eq!(details(newest)["subscription"], "shutdown");
    assert_eq!(newest.occurred_at.0, micros("2026-11-28T06:21:09Z"));
    assert_eq!(newest.tracking.as_ref().unwrap().carrier.as_str(), "yto");
    assert_eq!(newest.location, None);
}

#[test]
fn status_names_map_through_the_name_table() {
    let push = parse_param(&fixture("polling_names.json")).unwrap();
    let got: Vec<(Option<&str>, EventKind)> = push
        .events
        .iter()
        .map(|e| (e.raw_status.as_deref(), e.kind))
        .collect();
    assert_eq!(
        got,
        [
            (Some("揽收"), status(ShipmentStatus::PickedUp)),
            (Some("在途"), status(ShipmentStatus::InTransit)),
            (Some("派件"), status(ShipmentStatus::OutForDelivery)),
        ]
    );
    assert_eq!(
        push.events[0].location.as_deref(),
        Some("北京,北京市,大兴区")
    );
    assert_eq!(push.events[1].location, None, "null area fields are absent");
    assert_eq!(
        push.events[2].tracking.as_ref().unwrap().carrier.as_str(),
        "jd"
    );
    // The newest has its own code: the parcel state is not used.
    assert!(details(&push.events[2]).get("parcel_state").is_none());
}

#[test]
fn a_corrected_carrier_is_a_carrier_change_and_the_events_use_the_new_one() {
    let push = parse_param(&fixture("autocheck.json")).unwrap();
    let change = push.carrier_change.as_ref().expect("carrier change");
    assert_eq!(change.tracking_number.as_str(), "75312345678901");
    assert_eq!(change.from.as_str(), "yto");
    assert_eq!(change.to.as_str(), "zto-express");
    assert_eq!(push.events.len(), 2);
    for ev in &push.events {
        assert_eq!(
            ev.tracking.as_ref().unwrap().carrier.as_str(),
            "zto-express"
        );
    }
    assert_eq!(push.events[1].kind, status(ShipmentStatus::InTransit));

    // The abort notice that announces the correction names no old carrier.
    let mut v: Value = serde_json::from_str(&fixture("autocheck.json")).unwrap();
    v["status"] = json!("abort");
    v["autoCheck"] = json!("0");
    v["comOld"] = json!("");
    v["lastResult"]["data"] = json!([]);
    let push = parse_param(&v.to_string()).unwrap();
    assert_eq!(push, Push::default());

    // autoCheck=1 with the same code twice is no change.
    let mut v: Value = serde_json::from_str(&fixture("autocheck.json")).unwrap();
    v["comOld"] = json!("zhongtong");
    assert_eq!(parse_param(&v.to_string()).unwrap().carrier_change, None);
}

#[test]
fn abort_and_shutdown_without_data_give_no_events_and_are_acknowledged() {
    assert_eq!(
        parse_param(&fixture("abort.json")).unwrap(),
        Push::default()
    );
    let bare = r#"{"status":"shutdown","message":""}"#;
    assert_eq!(parse_param(bare).unwrap(), Push::default());
    assert_eq!(
        parse_param(r#"{"status":"polling"}"#),
        Err(ParseError::Missing("param.lastResult".into()))
    );

    let headers = http::HeaderMap::new();
    let body = signed(&fixture("abort.json"));
    let reply = Provider::Kuaidi100.reply(&inbound(&headers, &body), &Outcome::Ack);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(
        reply.body,
        r#"{"result":true,"returnCode":"200","message":"成功"}"#
    );
}

#[test]
fn the_destination_history_joins_the_subscribed_parcel() {
    let push = parse_param(&fixture("intercom.json")).unwrap();
    assert_eq!(push.events.len(), 3);
    for ev in &push.events {
        let t = ev.tracking.as_ref().unwrap();
        assert_eq!(t.carrier.as_str(), "china-ems");
        assert_eq!(t.tracking_number.as_str(), "EA123456789CN");
    }
    assert_eq!(push.events[0].kind, status(ShipmentStatus::PickedUp));
    assert_eq!(push.events[1].kind, status(ShipmentStatus::InTransit));
    let dest = &push.events[2];
    // Its only checkpoint is the destination history's newest: it takes `state` 8.
    assert_eq!(dest.kind, status(ShipmentStatus::InTransit));
    assert_eq!(dest.location.as_deref(), Some("TOKYO"));
    let d = details(dest);
    assert_eq!(d["result"], "destResult");
    assert_eq!(d["result_com"], "japanposten");
    assert_eq!(d["parcel_state"], "8");
}

// ---------------------------------------------------------------- ids

#[test]
fn re_parsing_gives_the_same_ids_and_a_longer_history_keeps_the_old_ones() {
    let param = fixture("polling_resultv2.json");
    let first = parse_param(&param).unwrap();
    let again = parse_param(&param).unwrap();
    assert_eq!(ids(&first), ids(&again));
    let unique: std::collections::HashSet<_> = ids(&first).into_iter().collect();
    assert_eq!(unique.len(), 5);

    let mut v: Value = serde_json::from_str(&param).unwrap();
    v["status"] = json!("shutdown");
    v["lastResult"]["state"] = json!("304");
    v["lastResult"]["data"].as_array_mut().unwrap().insert(
        0,
        json!({"time": "2026-11-27 18:40:00", "ftime": "2026-11-27 18:40:00",
               "context": "【深圳市】快件已从丰巢柜取出签收", "status": "投柜或站签收",
               "statusCode": "304", "areaName": "广东,深圳市,南山区"}),
    );
    let later = parse_param(&v.to_string()).unwrap();
    assert_eq!(later.events.len(), 6);
    assert_eq!(ids(&later)[..5], ids(&first)[..]);
    assert_eq!(later.events[5].kind, status(ShipmentStatus::Delivered));
    assert!(!ids(&first).contains(&later.events[5].event_id));
}

#[test]
fn the_newest_checkpoint_keeps_its_id_when_it_becomes_an_older_one() {
    let param = fixture("shutdown_basic.json");
    let mut v: Value = serde_json::from_str(&param).unwrap();
    // The push before the last: two checkpoints, the newer one out for delivery.
    v["status"] = json!("polling");
    v["lastResult"]["state"] = json!("5");
    v["lastResult"]["data"].as_array_mut().unwrap().remove(0);
    let before = parse_param(&v.to_string()).unwrap();
    assert_eq!(
        before.events[1].kind,
        status(ShipmentStatus::OutForDelivery)
    );

    let after = parse_param(&param).unwrap();
    assert_eq!(ids(&after)[..2], ids(&before)[..]);
    assert_eq!(after.events[1].kind, EventKind::Unmapped);
}

#[test]
fn times_without_offset_are_read_in_the_configured_zone_and_kept_verbatim() {
    let param = fixture("polling_resultv2.json");
    let utc = Context {
        zone: jiff::tz::TimeZone::UTC,
    };
    let in_utc = parse_in(&param, &utc).unwrap();
    let in_shanghai = parse_param(&param).unwrap();
    let (a, b) = (&in_utc.events[4], &in_shanghai.events[4]);
    assert_eq!(a.occurred_at.0, micros("2026-11-27T10:02:00Z"));
    assert_eq!(a.utc_offset_seconds, 0);
    assert_eq!(b.occurred_at.0, micros("2026-11-27T02:02:00Z"));
    assert_eq!(details(a)["time"], "2026-11-27 10:02:00");
    assert_eq!(a.event_id, b.event_id, "the zone is not part of the id");

    // `ftime` stands in for a missing `time`.
    let mut v: Value = serde_json::from_str(&param).unwrap();
    v["lastResult"]["data"][0]["time"] = Value::Null;
    let push = parse_param(&v.to_string()).unwrap();
    assert_eq!(push.events[4].occurred_at.0, micros("2026-11-27T02:02:00Z"));

    v["lastResult"]["data"][0]["ftime"] = json!("soon");
    assert!(matches!(
        parse_param(&v.to_string()),
        Err(ParseError::Invalid { field, .. }) if field == "param.lastResult.data[0].ftime"
    ));
}

// ---------------------------------------------------------------- errors

#[test]
fn unreadable_payloads_name_the_field() {
    let param = fixture("polling_resultv2.json");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(&param).unwrap();
        f(&mut v);
        parse_param(&v.to_string())
    };
    let field_of = |r: Result<Push, ParseError>| match r {
        Err(ParseError::Invalid { field, .. }) => field,
        Err(ParseError::Missing(field)) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field_of(with(&|v| v["lastResult"]["nu"] = Value::Null)),
        "param.lastResult.nu"
    );
    assert_eq!(
        field_of(with(&|v| v["lastResult"]["nu"] = json!("A B"))),
        "param.lastResult.nu"
    );
    assert_eq!(
        field_of(with(&|v| v["lastResult"]["com"] = json!(""))),
        "param.lastResult.com"
    );
    assert_eq!(
        field_of(with(&|v| v["lastResult"]["com"] = json!("顺丰"))),
        "param.lastResult.com"
    );
    assert_eq!(
        field_of(with(&|v| v["lastResult"]["data"] = json!({"a": 1}))),
        "param.lastResult.data"
    );
    assert_eq!(
        field_of(with(&|v| v["lastResult"]["data"][2] = json!(7))),
        "param.lastResult.data[2]"
    );
    assert_eq!(
        field_of(with(
            &|v| v["lastResult"]["data"][3]["context"] = json!(["x"])
        )),
        "param.lastResult.data[3].context"
    );
    assert_eq!(
        field_of(with(&|v| {
            v["lastResult"]["data"][1]["time"] = Value::Null;
            v["lastResult"]["data"][1]["ftime"] = Value::Null;
        })),
        "param.lastResult.data[1].time"
    );
    assert_eq!(field_of(parse_param("[1]")), "param");

    assert!(matches!(
        parse_param("{not json"),
        Err(ParseError::Syntax { format: "JSON", .. })
    ));
    let headers = http::HeaderMap::new();
    let ctx = Context::for_provider(Provider::Kuaidi100);
    let no_param = form(&[("sign", "x")]);
    assert_eq!(
        Provider::Kuaidi100.parse_push(&inbound(&headers, &no_param), &ctx),
        Err(ParseError::Missing("the `param` form field".into()))
    );
}

#[test]
fn an_unknown_code_is_an_unmapped_event_with_its_raw_code() {
    let param = fixture("polling_resultv2.json");
    let mut v: Value = serde_json::from_str(&param).unwrap();
    v["lastResult"]["data"][1]["statusCode"] = json!("9999");
    v["lastResult"]["data"][2]["statusCode"] = Value::Null;
    v["lastResult"]["data"][2]["status"] = json!("飞行中");
    let push = parse_param(&v.to_string()).unwrap();
    assert_eq!(push.unknown_codes, ["飞行中", "9999"]);
    let by_raw = |raw: &str| {
        push.events
            .iter()
            .find(|e| e.raw_status.as_deref() == Some(raw))
            .unwrap()
    };
    assert_eq!(by_raw("9999").kind, EventKind::Unmapped);
    assert_eq!(by_raw("飞行中").kind, EventKind::Unmapped);

    // An unknown parcel state used as the newest checkpoint's fallback is counted too.
    let mut v: Value = serde_json::from_str(&fixture("shutdown_basic.json")).unwrap();
    v["lastResult"]["state"] = json!(77);
    let push = parse_param(&v.to_string()).unwrap();
    assert_eq!(push.unknown_codes, ["77"]);
    assert_eq!(push.events[2].kind, EventKind::Unmapped);
    assert_eq!(details(&push.events[2])["parcel_state"], "77");
}

// ---------------------------------------------------------------- signature

#[test]
fn a_correctly_signed_push_verifies() {
    let headers = http::HeaderMap::new();
    for name in [
        "polling_resultv2.json",
        "shutdown_basic.json",
        "abort.json",
        "intercom.json",
    ] {
        let body = signed(&fixture(name));
        assert_eq!(
            kuaidi100::verify(SALT.as_bytes(), &inbound(&headers, &body)),
            Ok(()),
            "{name}"
        );
    }
    // Lowercase hex is the same digest.
    let param = fixture("abort.json");
    let body = form(&[
        ("param", &param),
        ("sign", &kuaidi100_sign(&param, SALT).to_lowercase()),
    ]);
    assert_eq!(
        kuaidi100::verify(SALT.as_bytes(), &inbound(&headers, &body)),
        Ok(())
    );
    // A known digest: MD5("abc") = 900150983CD24FB0D6963F7D28E17F72.
    let body = form(&[("param", "a"), ("sign", "900150983CD24FB0D6963F7D28E17F72")]);
    assert_eq!(kuaidi100::verify(b"bc", &inbound(&headers, &body)), Ok(()));
}

#[test]
fn bad_signatures_are_refused_with_the_right_reason() {
    let headers = http::HeaderMap::new();
    let param = fixture("polling_resultv2.json");
    let check =
        |body: &[u8], secret: &str| kuaidi100::verify(secret.as_bytes(), &inbound(&headers, body));

    let body = signed(&param);
    assert_eq!(check(&body, "another-salt"), Err(AuthError::Mismatch));

    let tampered = param.replacen("78912345678901", "78912345678902", 1);
    let body = form(&[
        ("param", &tampered),
        ("sign", &kuaidi100_sign(&param, SALT)),
    ]);
    assert_eq!(check(&body, SALT), Err(AuthError::Mismatch));

    // One byte of the raw body changed.
    let mut body = signed(&param);
    let at = body.len() / 3;
    body[at] = if body[at] == b'0' { b'1' } else { b'0' };
    assert_eq!(check(&body, SALT), Err(AuthError::Mismatch));

    let body = form(&[("param", &param)]);
    assert!(matches!(check(&body, SALT), Err(AuthError::Missing(_))));

    for bad in [
        "",
        "XYZ",
        "900150983CD24FB0D6963F7D28E17F7",
        "900150983CD24FB0D6963F7D28E17F7G",
    ] {
        let body = form(&[("param", &param), ("sign", bad)]);
        assert!(
            matches!(check(&body, SALT), Err(AuthError::Malformed(_))),
            "{bad:?}"
        );
    }
    let body = form(&[("sign", &kuaidi100_sign("", SALT))]);
    assert!(matches!(check(&body, SALT), Err(AuthError::Malformed(_))));
    let sign = kuaidi100_sign(&param, SALT);
    let body = form(&[("param", &param), ("sign", &sign), ("param", "{}")]);
    assert!(matches!(check(&body, SALT), Err(AuthError::Malformed(_))));
}

// ---------------------------------------------------------------- mapping table

#[test]
fn the_table_is_unique_and_documented() {
    assert_unique(TABLE);
    assert_documented(TABLE, DOC, "### Status codes");
    let names = codes::markdown_rows(DOC, "### Checkpoint status names");
    let in_code: Vec<(String, Option<String>)> = NAMES
        .iter()
        .map(|(n, c)| (n.to_string(), Some(c.to_string())))
        .collect();
    assert_eq!(names, in_code);
}

fn one_checkpoint(entry: Value, state: Option<&str>) -> Push {
    let mut entry = entry;
    entry["time"] = json!("2026-11-27 10:02:00");
    entry["context"] = json!("x");
    let param = json!({"status": "polling", "lastResult": {"com": "zhongtong", "nu": "ZT1",
        "state": state, "data": [entry]}});
    parse_param(&param.to_string()).unwrap()
}

#[test]
fn every_code_maps_as_the_table_says() {
    for row in TABLE {
        let expected = row.status.map_or(EventKind::Unmapped, EventKind::Status);
        let own = one_checkpoint(json!({"statusCode": row.code}), None);
        assert_eq!(own.events[0].kind, expected, "statusCode {}", row.code);
        assert_eq!(own.events[0].raw_status.as_deref(), Some(row.code));
        assert!(own.unknown_codes.is_empty());
        // Numeric JSON codes read the same.
        let numeric = one_checkpoint(
            json!({"statusCode": row.code.parse::<u32>().unwrap()}),
            None,
        );
        assert_eq!(
            numeric.events[0].kind, expected,
            "numeric statusCode {}",
            row.code
        );
        // As the parcel state, for a checkpoint without a code of its own.
        let state = one_checkpoint(json!({}), Some(row.code));
        assert_eq!(state.events[0].kind, expected, "state {}", row.code);
    }
    for (name, c) in NAMES {
        let row = TABLE.iter().find(|r| r.code == *c).unwrap();
        let expected = row.status.map_or(EventKind::Unmapped, EventKind::Status);
        let push = one_checkpoint(json!({"status": name}), None);
        assert_eq!(push.events[0].kind, expected, "status name {name}");
    }
}

// ---------------------------------------------------------------- reply

#[test]
fn retry_is_a_503_in_kuaidi100_terms() {
    let headers = http::HeaderMap::new();
    let reply = kuaidi100::reply(
        &inbound(&headers, b""),
        &Outcome::Retry("store busy \"now\"".into()),
    );
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body,
        r#"{"result":false,"returnCode":"500","message":"store busy \"now\""}"#
    );
    let v: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(v["result"], false);
}

// ---------------------------------------------------------------- fuzzing

fn exercise(body: &[u8]) {
    let headers = http::HeaderMap::new();
    let req = inbound(&headers, body);
    let _ = kuaidi100::verify(SALT.as_bytes(), &req);
    let _ = kuaidi100::parse(&req, &Context::for_provider(Provider::Kuaidi100));
    let reply = kuaidi100::reply(&req, &Outcome::Retry("x".into()));
    assert_eq!(reply.status, 503);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&body);
    }

    #[test]
    fn arbitrary_param_text_never_panics(param in ".{0,512}", sign in "[0-9A-Fa-f]{0,40}") {
        exercise(&form(&[("param", &param), ("sign", &sign)]));
    }

    #[test]
    fn mutated_pushes_parse_or_fail_cleanly(
        fixture_index in 0usize..6,
        mutations in proptest::collection::vec((any::<usize>(), 0u8..11), 1..6),
    ) {
        let names = ["polling_resultv2.json", "shutdown_basic.json", "polling_names.json",
            "autocheck.json", "abort.json", "intercom.json"];
        let mut v: Value = serde_json::from_str(&fixture(names[fixture_index])).unwrap();
        for (target, op) in mutations {
            mutate_fixed(&mut v, target, op, true, "2026-13-45 99:99:99");
        }
        let param = v.to_string();
        let body = signed(&param);
        let headers = http::HeaderMap::new();
        let req = inbound(&headers, &body);
        prop_assert_eq!(kuaidi100::verify(SALT.as_bytes(), &req), Ok(()));
        match kuaidi100::parse(&req, &Context::for_provider(Provider::Kuaidi100)) {
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
