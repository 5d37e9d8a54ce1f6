//! KDNiao tracking push (RequestType 101): fixtures built from KDNiao's documented push,
//! the DataSign scheme computed independently of the module, the mapping table, and
//! fuzzing.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use proptest::prelude::*;
use serde_json::{Value, json};
use waybill_core::{EventKind, ShipmentStatus, Timestamp};
use waybill_providers::codes::{assert_documented, assert_unique};
use waybill_providers::kdniao::{self, TABLE};
use waybill_providers::{AuthError, Context, Inbound, Outcome, ParseError, Provider, Push};

mod common;
use common::{details, form, ids, micros, mutate_fixed};

const APP_KEY: &str = "56da2cf8-c8a2-44b2-b6fa-476cd7d1ba17";
const DOC: &str = include_str!("../../../docs/providers/kdniao.md");
/// 2026-11-27T02:05:20Z, 10:05:20 in Beijing.
const RECEIVED: Timestamp = Timestamp(1_795_745_120_000_000);

fn fixture(name: &str) -> String {
    common::fixture("kdniao", name)
}

/// DataSign as KDNiao documents it: base64 of the lowercase hex MD5 of the request
/// content followed by the AppKey.
fn data_sign(request_data: &str, app_key: &str) -> String {
    let digest = Md5::new_with_prefix(request_data.as_bytes())
        .chain_update(app_key.as_bytes())
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    base64::engine::general_purpose::STANDARD.encode(hex)
}

fn signed(request_data: &str, request_type: &str) -> Vec<u8> {
    form(&[
        ("RequestData", request_data),
        ("DataSign", &data_sign(request_data, APP_KEY)),
        ("RequestType", request_type),
    ])
}

fn inbound<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> Inbound<'a> {
    Inbound {
        headers,
        body,
        path: "/v1/webhooks/kdniao",
        received_at: RECEIVED,
    }
}

fn parse_body(body: &[u8]) -> Result<Push, ParseError> {
    let headers = http::HeaderMap::new();
    Provider::Kdniao.parse_push(
        &inbound(&headers, body),
        &Context::for_provider(Provider::Kdniao),
    )
}

fn parse_data(request_data: &str) -> Result<Push, ParseError> {
    parse_body(&signed(request_data, "101"))
}

fn status(s: ShipmentStatus) -> EventKind {
    EventKind::Status(s)
}

// ---------------------------------------------------------------- fixtures

#[test]
fn every_trace_of_every_parcel_becomes_an_event() {
    let push = parse_data(&fixture("push_101.json")).unwrap();
    assert!(push.unknown_codes.is_empty());
    assert_eq!(push.carrier_change, None);
    assert_eq!(push.events.len(), 7);

    let sf = &push.events[..4];
    let expect = [
        (
            "1",
            status(ShipmentStatus::PickedUp),
            "2026-11-25T10:20:31Z",
            "杭州市",
        ),
        (
            "2",
            status(ShipmentStatus::InTransit),
            "2026-11-25T15:02:10Z",
            "杭州市",
        ),
        (
            "201",
            status(ShipmentStatus::InTransit),
            "2026-11-25T22:45:00Z",
            "深圳市",
        ),
        (
            "202",
            status(ShipmentStatus::OutForDelivery),
            "2026-11-27T00:30:00Z",
            "深圳市",
        ),
    ];
    for (ev, (raw, kind, instant, location)) in sf.iter().zip(expect) {
        assert_eq!(ev.raw_status.as_deref(), Some(raw));
        assert_eq!(ev.kind, kind, "{raw}");
        assert_eq!(ev.occurred_at.0, micros(instant), "{raw}");
        assert_eq!(ev.utc_offset_seconds, 8 * 3600);
        assert_eq!(ev.location.as_deref(), Some(location));
        assert_eq!(ev.received_at, RECEIVED);
        let t = ev.tracking.as_ref().unwrap();
        assert_eq!(t.carrier.as_str(), "sf-express");
        assert_eq!(t.tracking_number.as_str(), "SF1234567890123");
        assert_eq!(ev.order_id.as_ref().unwrap().as_str(), "WB-20261125-0001");
        let d = details(ev);
        assert_eq!(d["provider"], "kdniao");
        assert_eq!(d["callback"], "order-0001");
        assert!(d.get("parcel_state").is_none());
    }
    assert_eq!(details(&sf[0])["time"], "2026-11-25 18:20:31");
    assert_eq!(
        sf[1].description.as_deref(),
        Some("快件在【杭州萧山中转场】完成分拣，准备发往【深圳宝安中转场】")
    );

    // The YTO parcel has no Action per trace: only the newest takes StateEx.
    let yto = &push.events[4..];
    for ev in yto {
        let t = ev.tracking.as_ref().unwrap();
        assert_eq!(t.carrier.as_str(), "yto");
        assert_eq!(t.tracking_number.as_str(), "YT9876543210987");
        assert_eq!(ev.order_id, None, "an empty OrderCode names no order");
        assert_eq!(ev.raw_status, None);
    }
    assert_eq!(yto[0].kind, EventKind::Unmapped);
    assert_eq!(yto[1].kind, EventKind::Unmapped);
    assert_eq!(yto[2].kind, status(ShipmentStatus::Delivered));
    let d = details(&yto[2]);
    assert_eq!(d["parcel_state"], "301");
    assert_eq!(d["remark"], "本人签收");
    assert_eq!(yto[2].occurred_at.0, micros("2026-11-26T08:45:00Z"));
}

#[test]
fn the_basic_state_stands_in_when_there_is_no_state_ex() {
    let mut v: Value = serde_json::from_str(&fixture("push_101.json")).unwrap();
    v["Data"][1]["StateEx"] = Value::Null;
    let push = parse_data(&v.to_string()).unwrap();
    assert_eq!(push.events[6].kind, status(ShipmentStatus::Delivered));
    assert_eq!(details(&push.events[6])["parcel_state"], "3");
}

#[test]
fn a_parcel_without_traces_gives_no_events() {
    assert_eq!(
        parse_data(&fixture("push_no_traces.json")).unwrap(),
        Push::default()
    );
    assert_eq!(
        parse_data(r#"{"EBusinessID":"1","Data":[]}"#).unwrap(),
        Push::default()
    );
    assert_eq!(
        parse_data(r#"{"EBusinessID":"1"}"#),
        Err(ParseError::Missing("RequestData.Data".into()))
    );
}

#[test]
fn a_single_parcel_object_is_read_as_one() {
    let v: Value = serde_json::from_str(&fixture("push_101.json")).unwrap();
    let single = json!({"EBusinessID": "1237100", "Data": v["Data"][0]});
    let push = parse_data(&single.to_string()).unwrap();
    assert_eq!(push.events.len(), 4);
}

#[test]
fn other_push_types_are_unsupported() {
    let data = fixture("push_101.json");
    assert_eq!(
        parse_body(&signed(&data, "107")),
        Err(ParseError::UnsupportedType("107".into()))
    );
    let no_type = form(&[
        ("RequestData", &data),
        ("DataSign", &data_sign(&data, APP_KEY)),
    ]);
    assert_eq!(
        parse_body(&no_type),
        Err(ParseError::Missing("the `RequestType` form field".into()))
    );
    let no_data = form(&[("RequestType", "101")]);
    assert_eq!(
        parse_body(&no_data),
        Err(ParseError::Missing("the `RequestData` form field".into()))
    );
}

#[test]
fn doubly_encoded_request_data_is_decoded_and_verified() {
    let data = fixture("push_101.json");
    let once: String = form_urlencoded::byte_serialize(data.as_bytes()).collect();
    let body = form(&[
        ("RequestData", &once),
        ("DataSign", &data_sign(&data, APP_KEY)),
        ("RequestType", "101"),
    ]);
    let headers = http::HeaderMap::new();
    assert_eq!(
        kdniao::verify(APP_KEY.as_bytes(), &inbound(&headers, &body)),
        Ok(())
    );
    assert_eq!(parse_body(&body).unwrap().events.len(), 7);
}

// ---------------------------------------------------------------- ids

#[test]
fn re_parsing_gives_the_same_ids_and_a_longer_history_keeps_the_old_ones() {
    let data = fixture("push_101.json");
    let first = parse_data(&data).unwrap();
    assert_eq!(ids(&first), ids(&parse_data(&data).unwrap()));
    let unique: std::collections::HashSet<_> = ids(&first).into_iter().collect();
    assert_eq!(unique.len(), 7);

    let mut v: Value = serde_json::from_str(&data).unwrap();
    v["Data"][0]["State"] = json!("3");
    v["Data"][0]["StateEx"] = json!("311");
    v["Data"][0]["Traces"].as_array_mut().unwrap().push(json!({
        "AcceptTime": "2026-11-27 12:10:00",
        "AcceptStation": "快件已从丰巢柜取出，签收",
        "Location": "深圳市",
        "Action": "311"
    }));
    let later = parse_data(&v.to_string()).unwrap();
    assert_eq!(later.events.len(), 8);
    assert_eq!(ids(&later)[..4], ids(&first)[..4]);
    assert_eq!(ids(&later)[5..], ids(&first)[4..]);
    assert_eq!(later.events[4].kind, status(ShipmentStatus::Delivered));
    assert!(!ids(&first).contains(&later.events[4].event_id));
}

#[test]
fn the_newest_trace_keeps_its_id_when_it_becomes_an_older_one() {
    let data = fixture("push_101.json");
    let mut v: Value = serde_json::from_str(&data).unwrap();
    // The push before: the YTO parcel out for delivery, its last trace not yet there.
    v["Data"][1]["State"] = json!("2");
    v["Data"][1]["StateEx"] = json!("202");
    v["Data"][1]["Traces"].as_array_mut().unwrap().pop();
    let before = parse_data(&v.to_string()).unwrap();
    assert_eq!(
        before.events[5].kind,
        status(ShipmentStatus::OutForDelivery)
    );

    let after = parse_data(&data).unwrap();
    assert_eq!(ids(&after)[..6], ids(&before)[..]);
    assert_eq!(after.events[5].kind, EventKind::Unmapped);
}

#[test]
fn times_without_offset_are_read_in_the_configured_zone_and_kept_verbatim() {
    let body = signed(&fixture("push_101.json"), "101");
    let headers = http::HeaderMap::new();
    let utc = Context {
        zone: jiff::tz::TimeZone::UTC,
    };
    let push = kdniao::parse(&inbound(&headers, &body), &utc).unwrap();
    let ev = &push.events[3];
    assert_eq!(ev.occurred_at.0, micros("2026-11-27T08:30:00Z"));
    assert_eq!(ev.utc_offset_seconds, 0);
    assert_eq!(details(ev)["time"], "2026-11-27 08:30:00");
    assert_eq!(ev.event_id, parse_body(&body).unwrap().events[3].event_id);
}

// ---------------------------------------------------------------- errors

#[test]
fn unreadable_payloads_name_the_field() {
    let data = fixture("push_101.json");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(&data).unwrap();
        f(&mut v);
        parse_data(&v.to_string())
    };
    let field_of = |r: Result<Push, ParseError>| match r {
        Err(ParseError::Invalid { field, .. }) => field,
        Err(ParseError::Missing(field)) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field_of(with(&|v| v["Data"][1]["LogisticCode"] = Value::Null)),
        "RequestData.Data[1].LogisticCode"
    );
    assert_eq!(
        field_of(with(
            &|v| v["Data"][0]["LogisticCode"] = json!("9".repeat(65))
        )),
        "RequestData.Data[0].LogisticCode"
    );
    assert_eq!(
        field_of(with(&|v| v["Data"][0]["ShipperCode"] = json!(""))),
        "RequestData.Data[0].ShipperCode"
    );
    assert_eq!(
        field_of(with(&|v| v["Data"][0]["Traces"] = json!("none"))),
        "RequestData.Data[0].Traces"
    );
    assert_eq!(
        field_of(with(&|v| v["Data"][0]["Traces"][1] = json!(null))),
        "RequestData.Data[0].Traces[1]"
    );
    assert_eq!(
        field_of(with(
            &|v| v["Data"][0]["Traces"][2]["AcceptTime"] = json!("yesterday")
        )),
        "RequestData.Data[0].Traces[2].AcceptTime"
    );
    assert_eq!(
        field_of(with(
            &|v| v["Data"][1]["Traces"][0]["AcceptTime"] = Value::Null
        )),
        "RequestData.Data[1].Traces[0].AcceptTime"
    );
    assert_eq!(
        field_of(with(
            &|v| v["Data"][0]["Traces"][0]["AcceptStation"] = json!({"a": 1})
        )),
        "RequestData.Data[0].Traces[0].AcceptStation"
    );
    assert_eq!(
        field_of(with(&|v| v["Data"] = json!(5))),
        "RequestData.Data"
    );
    assert_eq!(
        field_of(with(&|v| v["Data"][0] = json!([]))),
        "RequestData.Data[0]"
    );
    assert_eq!(field_of(parse_data("[]")), "RequestData");
    assert!(matches!(
        parse_data("{oops"),
        Err(ParseError::Syntax { format: "JSON", .. })
    ));
    // An OrderCode that is no valid order id is ignored, not an error.
    let push = with(&|v| v["Data"][0]["OrderCode"] = json!("has space")).unwrap();
    assert_eq!(push.events[0].order_id, None);
}

#[test]
fn an_unknown_code_is_an_unmapped_event_with_its_raw_code() {
    let mut v: Value = serde_json::from_str(&fixture("push_101.json")).unwrap();
    v["Data"][0]["Traces"][1]["Action"] = json!(999);
    v["Data"][1]["StateEx"] = json!("888");
    let push = parse_data(&v.to_string()).unwrap();
    assert_eq!(push.unknown_codes, ["999", "888"]);
    assert_eq!(push.events[1].kind, EventKind::Unmapped);
    assert_eq!(push.events[1].raw_status.as_deref(), Some("999"));
    assert_eq!(push.events[6].kind, EventKind::Unmapped);
    assert_eq!(details(&push.events[6])["parcel_state"], "888");
}

// ---------------------------------------------------------------- signature

#[test]
fn a_correctly_signed_push_verifies() {
    let headers = http::HeaderMap::new();
    for name in ["push_101.json", "push_no_traces.json"] {
        let body = signed(&fixture(name), "101");
        assert_eq!(
            kdniao::verify(APP_KEY.as_bytes(), &inbound(&headers, &body)),
            Ok(()),
            "{name}"
        );
    }
    // Known value: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72, base64 of that hex.
    let sign = base64::engine::general_purpose::STANDARD.encode("900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(sign, "OTAwMTUwOTgzY2QyNGZiMGQ2OTYzZjdkMjhlMTdmNzI=");
    let body = form(&[
        ("RequestData", "a"),
        ("DataSign", &sign),
        ("RequestType", "101"),
    ]);
    assert_eq!(kdniao::verify(b"bc", &inbound(&headers, &body)), Ok(()));
    // Base64 of hex digits only ever uses letters, digits and `=`: URL encoding of the
    // form field cannot change it, and an unencoded one reads the same.
    let data = fixture("push_101.json");
    let sign = data_sign(&data, APP_KEY);
    assert!(sign.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'='));
    let raw = format!(
        "RequestData={}&DataSign={sign}&RequestType=101",
        form_urlencoded::byte_serialize(data.as_bytes()).collect::<String>(),
    );
    assert_eq!(
        kdniao::verify(APP_KEY.as_bytes(), &inbound(&headers, raw.as_bytes())),
        Ok(())
    );
}

#[test]
fn bad_signatures_are_refused_with_the_right_reason() {
    let headers = http::HeaderMap::new();
    let data = fixture("push_101.json");
    let check = |body: &[u8], key: &str| kdniao::verify(key.as_bytes(), &inbound(&headers, body));

    let body = signed(&data, "101");
    assert_eq!(check(&body, "another-app-key"), Err(AuthError::Mismatch));

    let tampered = data.replacen("SF1234567890123", "SF1234567890124", 1);
    let body = form(&[
        ("RequestData", &tampered),
        ("DataSign", &data_sign(&data, APP_KEY)),
    ]);
    assert_eq!(check(&body, APP_KEY), Err(AuthError::Mismatch));

    let mut body = signed(&data, "101");
    let at = body.len() / 2;
    body[at] = if body[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(check(&body, APP_KEY), Err(AuthError::Mismatch));

    let body = form(&[("RequestData", &data), ("RequestType", "101")]);
    assert!(matches!(check(&body, APP_KEY), Err(AuthError::Missing(_))));

    let short = base64::engine::general_purpose::STANDARD.encode("abc");
    let upper_raw = base64::engine::general_purpose::STANDARD.encode([0xffu8; 32]);
    for bad in ["", "not base64!", short.as_str(), upper_raw.as_str()] {
        let body = form(&[("RequestData", &data), ("DataSign", bad)]);
        assert!(
            matches!(check(&body, APP_KEY), Err(AuthError::Malformed(_))),
            "{bad:?}"
        );
    }
    let body = form(&[("DataSign", &data_sign(&data, APP_KEY))]);
    assert!(matches!(
        check(&body, APP_KEY),
        Err(AuthError::Malformed(_))
    ));
    let sign = data_sign(&data, APP_KEY);
    let body = form(&[
        ("RequestData", &data),
        ("DataSign", &sign),
        ("DataSign", &sign),
    ]);
    assert!(matches!(
        check(&body, APP_KEY),
        Err(AuthError::Malformed(_))
    ));
}

// ---------------------------------------------------------------- mapping table

#[test]
fn the_table_is_unique_and_documented() {
    assert_unique(TABLE);
    assert_documented(TABLE, DOC, "### Status codes");
}

fn one_trace(trace: Value, state_ex: Option<&str>) -> Push {
    let mut trace = trace;
    trace["AcceptTime"] = json!("2026-11-27 10:02:00");
    trace["AcceptStation"] = json!("x");
    let data = json!({"EBusinessID": "1", "Data": [{"ShipperCode": "ZTO", "LogisticCode": "ZT1",
        "StateEx": state_ex, "Traces": [trace]}]});
    parse_data(&data.to_string()).unwrap()
}

#[test]
fn every_code_maps_as_the_table_says() {
    for row in TABLE {
        let expected = row.status.map_or(EventKind::Unmapped, EventKind::Status);
        let own = one_trace(json!({"Action": row.code}), None);
        assert_eq!(own.events[0].kind, expected, "Action {}", row.code);
        assert_eq!(own.events[0].raw_status.as_deref(), Some(row.code));
        assert!(own.unknown_codes.is_empty());
        let numeric = one_trace(json!({"Action": row.code.parse::<u32>().unwrap()}), None);
        assert_eq!(
            numeric.events[0].kind, expected,
            "numeric Action {}",
            row.code
        );
        let state = one_trace(json!({}), Some(row.code));
        assert_eq!(state.events[0].kind, expected, "StateEx {}", row.code);
        assert!(state.unknown_codes.is_empty());
    }
}

// ---------------------------------------------------------------- reply

#[test]
fn the_answer_echoes_the_business_id_and_the_receipt_time() {
    let headers = http::HeaderMap::new();
    let body = signed(&fixture("push_101.json"), "101");
    let ack = kdniao::reply(&inbound(&headers, &body), &Outcome::Ack);
    assert_eq!(ack.status, 200);
    assert_eq!(ack.content_type, "application/json");
    assert_eq!(
        ack.body,
        r#"{"EBusinessID":"1237100","UpdateTime":"2026-11-27 10:05:20","Success":true,"Reason":""}"#
    );
    let retry = kdniao::reply(
        &inbound(&headers, &body),
        &Outcome::Retry("store busy".into()),
    );
    assert_eq!(retry.status, 503);
    assert_eq!(
        retry.body,
        r#"{"EBusinessID":"1237100","UpdateTime":"2026-11-27 10:05:20","Success":false,"Reason":"store busy"}"#
    );
    // Without RequestData the form field is echoed; without either, an empty id.
    let only_form = form(&[("EBusinessID", "42"), ("RequestType", "101")]);
    let v: Value =
        serde_json::from_str(&kdniao::reply(&inbound(&headers, &only_form), &Outcome::Ack).body)
            .unwrap();
    assert_eq!(v["EBusinessID"], "42");
    let v: Value =
        serde_json::from_str(&kdniao::reply(&inbound(&headers, b"\xff"), &Outcome::Ack).body)
            .unwrap();
    assert_eq!(v["EBusinessID"], "");
    assert_eq!(v["Success"], true);
}

// ---------------------------------------------------------------- fuzzing

fn exercise(body: &[u8]) {
    let headers = http::HeaderMap::new();
    let req = inbound(&headers, body);
    let _ = kdniao::verify(APP_KEY.as_bytes(), &req);
    let _ = kdniao::parse(&req, &Context::for_provider(Provider::Kdniao));
    let reply = kdniao::reply(&req, &Outcome::Ack);
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_str::<Value>(&reply.body).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&body);
    }

    #[test]
    fn arbitrary_fields_never_panic(data in ".{0,512}", sign in "[A-Za-z0-9+/= %]{0,60}", rt in "[0-9a-z%]{0,5}") {
        exercise(&form(&[("RequestData", &data), ("DataSign", &sign), ("RequestType", &rt)]));
    }

    #[test]
    fn mutated_pushes_parse_or_fail_cleanly(
        fixture_index in 0usize..2,
        mutations in proptest::collection::vec((any::<usize>(), 0u8..11), 1..6),
    ) {
        let names = ["push_101.json", "push_no_traces.json"];
        let mut v: Value = serde_json::from_str(&fixture(names[fixture_index])).unwrap();
        for (target, op) in mutations {
            mutate_fixed(&mut v, target, op, false, "2026-02-30 25:61:00");
        }
        let data = v.to_string();
        let body = signed(&data, "101");
        let headers = http::HeaderMap::new();
        let req = inbound(&headers, &body);
        prop_assert_eq!(kdniao::verify(APP_KEY.as_bytes(), &req), Ok(()));
        match kdniao::parse(&req, &Context::for_provider(Provider::Kdniao)) {
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
