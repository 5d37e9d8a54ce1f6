//! Every provider end to end with its realistic fixtures
//! (`crates/waybill-providers/tests/fixtures/`): signed as the provider signs, answered as
//! the provider expects, linked to the order that claims the parcel (or that the push
//! names), idempotent on re-push, deaf to tampered bodies, and counting unknown codes.

use serde_json::{Value, json};
use waybill_providers::sign;

use crate::helpers::{ADMIN, Answer, INGEST, READ, TestApp, assert_problem, secret, spawn_app};

// --------------------------------------------------------------------------- fixtures

fn fixture(path: &str) -> String {
    let path = format!(
        "{}/../waybill-providers/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_str(&fixture(path)).unwrap()
}

fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

// ------------------------------------------------------------------ signed pushes

/// A push as the provider sends it: the body, byte for byte as signed, and its headers.
#[derive(Debug, Clone)]
struct SignedPush {
    provider: &'static str,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl SignedPush {
    async fn post(&self, app: &TestApp) -> Answer {
        let mut req = app
            .client
            .post(format!("{}/v1/webhooks/{}", app.base, self.provider))
            .header("content-type", self.content_type)
            .body(self.body.clone());
        for (name, value) in &self.headers {
            req = req.header(*name, value.as_str());
        }
        app.send(req).await
    }

    /// The same push, signature and all, with one byte of the body changed: the last
    /// character of the first occurrence of `needle` (a tracking number). Returns the
    /// push and what `needle` became.
    fn tampered(&self, needle: &str) -> (Self, String) {
        let at = self
            .body
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in the body"));
        let changed = tamper(needle);
        let mut body = self.body.clone();
        body.replace_range(at..at + needle.len(), &changed);
        assert_eq!(body.len(), self.body.len());
        let differing = body
            .bytes()
            .zip(self.body.bytes())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 1, "exactly one byte changed");
        let mut push = self.clone();
        push.body = body;
        (push, changed)
    }
}

/// `text` with its last character changed: a digit counts up, a letter changes case.
fn tamper(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let last = bytes.last_mut().expect("a non-empty needle");
    *last = match *last {
        b'9' => b'0',
        d @ b'0'..=b'8' => d + 1,
        c if c.is_ascii_alphabetic() => c ^ 0x20,
        other => panic!("cannot tamper with {:?}", other as char),
    };
    String::from_utf8(bytes).unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// AfterShip: `aftership-hmac-sha256` = base64(HMAC-SHA256(secret, raw body)).
fn aftership(body: impl Into<String>) -> SignedPush {
    let body = body.into();
    let mac = sign::hmac_sha256(secret("aftership").as_bytes(), &[body.as_bytes()]);
    SignedPush {
        provider: "aftership",
        content_type: "application/json",
        headers: vec![("aftership-hmac-sha256", sign::base64(&mac))],
        body,
    }
}

/// AfterShip's newer products send the same value in `as-signature-hmac-sha256`.
fn aftership_as_signature(body: impl Into<String>) -> SignedPush {
    let mut push = aftership(body);
    push.headers[0].0 = "as-signature-hmac-sha256";
    push
}

/// EasyPost, as its client libraries verify: `X-Hmac-Signature:
/// hmac-sha256-hex=<hex HMAC-SHA256(secret, raw body)>`.
fn easypost(body: impl Into<String>) -> SignedPush {
    let body = body.into();
    let mac = sign::hmac_sha256(secret("easypost").as_bytes(), &[body.as_bytes()]);
    SignedPush {
        provider: "easypost",
        content_type: "application/json",
        headers: vec![(
            "x-hmac-signature",
            format!("hmac-sha256-hex={}", sign::hex_lower(&mac)),
        )],
        body,
    }
}

/// EasyPost's timestamped scheme, signed now (or `at`): HMAC over `X-Timestamp` (RFC 2822) +
/// `POST` + `X-Path` + raw body, in `X-Hmac-Signature-V2`.
fn easypost_v2(body: impl Into<String>) -> SignedPush {
    easypost_v2_at(body, jiff::Timestamp::now())
}

fn easypost_v2_at(body: impl Into<String>, at: jiff::Timestamp) -> SignedPush {
    let body = body.into();
    let timestamp = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_string(&at)
        .unwrap();
    let path = "/v1/webhooks/easypost";
    let mac = sign::hmac_sha256(
        secret("easypost").as_bytes(),
        &[
            timestamp.as_bytes(),
            b"POST",
            path.as_bytes(),
            body.as_bytes(),
        ],
    );
    SignedPush {
        provider: "easypost",
        content_type: "application/json",
        headers: vec![
            ("x-timestamp", timestamp),
            ("x-path", path.to_owned()),
            (
                "x-hmac-signature-v2",
                format!("hmac-sha256-hex={}", sign::hex_lower(&mac)),
            ),
        ],
        body,
    }
}

/// Shippo: `Shippo-Auth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
/// "<t>.<raw body>")>`, signed at `t`.
fn shippo_at(body: impl Into<String>, t: i64) -> SignedPush {
    let body = body.into();
    let t = t.to_string();
    let mac = sign::hmac_sha256(
        secret("shippo").as_bytes(),
        &[t.as_bytes(), b".", body.as_bytes()],
    );
    SignedPush {
        provider: "shippo",
        content_type: "application/json",
        headers: vec![(
            "shippo-auth-signature",
            format!("t={t},v1={}", sign::hex_lower(&mac)),
        )],
        body,
    }
}

fn shippo(body: impl Into<String>) -> SignedPush {
    shippo_at(body, now_seconds())
}

/// 17TRACK: `sign` = hex SHA-256 of `<raw body>/<security key>`.
fn seventeen_track(body: impl Into<String>) -> SignedPush {
    let body = body.into();
    let digest = sign::sha256(&[body.as_bytes(), b"/", secret("17track").as_bytes()]);
    SignedPush {
        provider: "17track",
        content_type: "application/json",
        headers: vec![("sign", sign::hex_lower(&digest))],
        body,
    }
}

/// KDNiao push 101: a form with `RequestData` (the JSON), `DataSign` = base64 of the
/// lowercase hex MD5 of `RequestData` + AppKey, `RequestType` and `EBusinessID`.
fn kdniao(request_data: &str) -> SignedPush {
    let digest = sign::md5(&[request_data.as_bytes(), secret("kdniao").as_bytes()]);
    let data_sign = sign::base64(sign::hex_lower(&digest).as_bytes());
    let business_id: Value = serde_json::from_str(request_data).unwrap();
    let business_id = business_id["EBusinessID"].as_str().unwrap_or("").to_owned();
    SignedPush {
        provider: "kdniao",
        content_type: "application/x-www-form-urlencoded",
        headers: Vec::new(),
        body: form(&[
            ("RequestData", request_data),
            ("DataSign", &data_sign),
            ("RequestType", "101"),
            ("EBusinessID", &business_id),
        ]),
    }
}

/// Kuaidi100: a form with `param` (the JSON) and `sign` = uppercase hex MD5 of `param` +
/// salt.
fn kuaidi100(param: &str) -> SignedPush {
    let digest = sign::md5(&[param.as_bytes(), secret("kuaidi100").as_bytes()]);
    SignedPush {
        provider: "kuaidi100",
        content_type: "application/x-www-form-urlencoded",
        headers: Vec::new(),
        body: form(&[("param", param), ("sign", &sign::hex_upper(&digest))]),
    }
}

/// Asserts the answer each provider documents as success (`docs/providers/<name>.md`).
fn assert_acknowledged(push: &SignedPush, a: &Answer) {
    assert_eq!(a.status, 200, "{}: {}", push.provider, a.json);
    assert_eq!(a.content_type, "application/json", "{}", push.provider);
    match push.provider {
        "kuaidi100" => assert_eq!(
            a.json,
            json!({"result": true, "returnCode": "200", "message": "成功"})
        ),
        "kdniao" => {
            let data = form_urlencoded::parse(push.body.as_bytes())
                .find(|(k, _)| k == "RequestData")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            let data: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(a.json["EBusinessID"], data["EBusinessID"], "{}", a.json);
            assert_eq!(a.json["Success"], true, "{}", a.json);
            assert_eq!(a.json["Reason"], "", "{}", a.json);
            // When Waybill received it, in Beijing time, as KDNiao writes times.
            let update = a.json["UpdateTime"].as_str().unwrap();
            let at = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", update)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                .unwrap()
                .timestamp();
            let skew = (now_seconds() - at.as_second()).abs();
            assert!(skew <= 120, "UpdateTime {update} is {skew} s from now");
            assert_eq!(a.json.as_object().unwrap().len(), 4, "{}", a.json);
        }
        _ => assert_eq!(a.json, json!({"ok": true})),
    }
}

// ------------------------------------------------------------- orders and timelines

async fn create_order(app: &TestApp, order_id: &str) {
    let a = app
        .post_json(INGEST, "/v1/orders", &json!({"order_id": order_id}))
        .await;
    assert!(a.status == 201 || a.status == 200, "{}", a.json);
}

/// `POST /v1/orders/{order}/shipments`: the order claims the parcel. Returns the order.
async fn claim(app: &TestApp, order_id: &str, carrier: &str, number: &str) -> Value {
    let a = app
        .post_json(
            INGEST,
            &format!("/v1/orders/{order_id}/shipments"),
            &json!({"carrier": carrier, "tracking_number": number}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    a.json
}

/// The order as the API shows it, without its tracking link: the link's expiry moves
/// with the clock, so two reads a second apart differ there and nowhere else.
async fn order(app: &TestApp, order_id: &str) -> Value {
    let mut a = app.get(READ, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(a.status, 200, "{order_id}: {}", a.json);
    a.json.as_object_mut().unwrap().remove("tracking_url");
    a.json
}

async fn timeline(app: &TestApp, order_id: &str) -> Vec<Value> {
    let a = app
        .get(READ, &format!("/v1/orders/{order_id}/events"))
        .await;
    assert_eq!(a.status, 200, "{order_id}: {}", a.json);
    a.json["events"].as_array().unwrap().clone()
}

async fn quarantine(app: &TestApp) -> Value {
    let a = app.get(ADMIN, "/v1/quarantine").await;
    assert_eq!(a.status, 200, "{}", a.json);
    a.json["items"].clone()
}

/// The order's shipment with this tracking number.
fn shipment<'a>(order: &'a Value, number: &str) -> &'a Value {
    let found: Vec<&Value> = order["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["tracking_number"] == number)
        .collect();
    assert_eq!(found.len(), 1, "one shipment {number}: {order}");
    found[0]
}

/// The timeline's events from `provider`.
fn from_provider<'a>(events: &'a [Value], provider: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["details"]["provider"] == provider)
        .collect()
}

/// Asserts that the timeline holds exactly one event per checkpoint of the parcel, in
/// time order: `(raw_status, status)` each, `""` for an event without a raw code.
fn assert_checkpoints(
    events: &[Value],
    provider: &str,
    carrier: &str,
    number: &str,
    expected: &[(&str, &str)],
) {
    let ours = from_provider(events, provider);
    let got: Vec<(&str, &str)> = ours
        .iter()
        .map(|e| {
            (
                e["raw_status"].as_str().unwrap_or(""),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected, "{events:#?}");
    let mut ids = std::collections::HashSet::new();
    for e in &ours {
        assert_eq!(e["carrier"], carrier, "{e}");
        assert_eq!(e["tracking_number"], number, "{e}");
        assert!(e["event_id"].as_str().unwrap().starts_with("wbp_"), "{e}");
        assert!(ids.insert(e["event_id"].as_str().unwrap()), "twice: {e}");
        assert!(e["details"]["time"].is_string(), "the time as sent: {e}");
        assert_eq!(e["flagged"], false, "{e}");
    }
    let times: Vec<jiff::Timestamp> = ours
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "not in time order: {times:?}"
    );
}

/// Asserts that no push ever told Waybill about this parcel: claimed by a fresh order,
/// it brings no events.
async fn assert_unseen(app: &TestApp, carrier: &str, number: &str) {
    let probe = format!("probe-{carrier}-{number}");
    create_order(app, &probe).await;
    let claimed = claim(app, &probe, carrier, number).await;
    assert_eq!(claimed["status"], "created", "{claimed}");
    let events = timeline(app, &probe).await;
    assert_eq!(events.len(), 1, "only the order's creation: {events:#?}");
}

/// Step 3: the same signed push again changes nothing; the push with one byte of the
/// tracking number changed, under the old signature, is refused with 401 and changes
/// nothing either (no events, no quarantine, no parcel under the changed number).
async fn assert_repush_and_tamper_change_nothing(
    app: &TestApp,
    push: &SignedPush,
    order_id: &str,
    carrier: &str,
    number: &str,
) {
    let events = timeline(app, order_id).await;
    let before = order(app, order_id).await;
    let kept = quarantine(app).await;

    let again = push.post(app).await;
    assert_acknowledged(push, &again);
    assert_eq!(timeline(app, order_id).await, events, "re-push");
    assert_eq!(order(app, order_id).await, before, "re-push");

    let (tampered, changed) = push.tampered(number);
    let refused = tampered.post(app).await;
    assert_problem(&refused, 401, "does not match");
    assert!(
        refused.json["detail"]
            .as_str()
            .unwrap()
            .starts_with(push.provider),
        "{}",
        refused.json
    );
    assert_eq!(timeline(app, order_id).await, events, "tampered");
    assert_eq!(order(app, order_id).await, before, "tampered");
    assert_eq!(quarantine(app).await, kept, "a refusal leaves no trace");
    assert_unseen(app, carrier, &changed).await;
}

// --------------------------------------------------------------------------- metrics

/// `waybill_provider_unknown_codes_total{provider}` as `/metrics` (no key) shows it.
async fn unknown_codes_total(app: &TestApp, provider: &str) -> Option<f64> {
    let a = app
        .send(app.client.get(format!("{}/metrics", app.base)))
        .await;
    assert_eq!(a.status, 200);
    let text = a.json.as_str().expect("the text exposition format");
    let prefix = format!("waybill_provider_unknown_codes_total{{provider=\"{provider}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.trim().parse().unwrap())
}

/// Step 5: a push with an unknown code is acknowledged, counted in `/metrics` (which is
/// process-wide, so only an increase is asserted), and kept as an `unmapped` event.
async fn assert_unknown_code_counted(app: &TestApp, push: &SignedPush) {
    let before = unknown_codes_total(app, push.provider).await.unwrap_or(0.0);
    let a = push.post(app).await;
    assert_acknowledged(push, &a);
    let after = unknown_codes_total(app, push.provider)
        .await
        .unwrap_or_else(|| panic!("no unknown-code count for {}", push.provider));
    assert!(
        after >= before + 1.0,
        "{}: {before} → {after}",
        push.provider
    );
}

/// The one event with this raw code: unmapped, its code kept.
fn assert_unmapped(events: &[Value], raw_status: &str) {
    let found: Vec<&Value> = events
        .iter()
        .filter(|e| e["raw_status"] == raw_status)
        .collect();
    assert_eq!(found.len(), 1, "{raw_status}: {events:#?}");
    assert_eq!(found[0]["status"], "unmapped", "{}", found[0]);
}

// ------------------------------------------------------------------------- AfterShip

const AS_NUMBER: &str = "9400111899223817745123";

#[tokio::test]
async fn aftership_pushes_join_the_order_they_name() {
    let app = spawn_app().await;
    // The in-transit push names order 1001, which nothing has created yet.
    let in_transit = aftership(fixture("aftership/tracking_update_in_transit.json"));
    assert_acknowledged(&in_transit, &in_transit.post(&app).await);
    let o = order(&app, "1001").await;
    assert_eq!(o["status"], "in_transit", "{o}");
    assert_eq!(shipment(&o, AS_NUMBER)["carrier"], "usps");
    let events = timeline(&app, "1001").await;
    assert_eq!(events.len(), 4, "{events:#?}");

    // The later snapshot: only the two new checkpoints are added.
    let delivered = aftership(fixture("aftership/tracking_update_delivered.json"));
    assert_acknowledged(&delivered, &delivered.post(&app).await);
    let o = order(&app, "1001").await;
    assert_eq!(o["status"], "delivered", "{o}");
    assert_eq!(shipment(&o, AS_NUMBER)["status"], "delivered");
    let events = timeline(&app, "1001").await;
    assert_eq!(events.len(), 6, "{events:#?}");
    assert_checkpoints(
        &events,
        "aftership",
        "usps",
        AS_NUMBER,
        &[
            ("InfoReceived_001", "info_received"),
            ("InTransit_002", "picked_up"),
            ("InTransit_007", "in_transit"),
            ("InTransit_003", "in_transit"),
            ("OutForDelivery_001", "out_for_delivery"),
            ("Delivered_001", "delivered"),
        ],
    );
    // Each event keeps the id of the push that first carried it.
    assert_eq!(
        events[0]["details"]["provider_event_id"],
        "94dadd60-ed26-46d0-aa52-3ced925a50ff"
    );
    assert_eq!(
        events[5]["details"]["provider_event_id"],
        "5f1c7d2e-8b0a-4c8e-9d43-0a6f4b7e2c11"
    );
    // A time without an offset is UTC for AfterShip; one with an offset keeps it.
    assert_eq!(events[1]["occurred_at"], "2024-04-08T18:47:00Z");
    assert_eq!(events[1]["details"]["time"], "2024-04-08T18:47:00");
    assert_eq!(events[5]["occurred_at"], "2024-04-11T13:42:00-04:00");

    assert_repush_and_tamper_change_nothing(&app, &delivered, "1001", "usps", AS_NUMBER).await;
}

#[tokio::test]
async fn an_aftership_push_whose_order_id_is_not_an_id_waits_for_a_claim() {
    let app = spawn_app().await;
    // `order_id: "ord 77"` is not a valid order id: no link, no order. (Signed under the
    // header name of AfterShip's newer products.)
    let returned = aftership_as_signature(fixture("aftership/tracking_update_returned.json"));
    assert_acknowledged(&returned, &returned.post(&app).await);
    assert_eq!(app.get(READ, "/v1/orders/ord%2077").await.status, 404);

    create_order(&app, "sf-77").await;
    let claimed = claim(&app, "sf-77", "sf-express", "SF1402393423452").await;
    assert_eq!(claimed["status"], "returned", "{claimed}");
    let events = timeline(&app, "sf-77").await;
    assert_eq!(events.len(), 5, "created + four checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "aftership",
        "sf-express",
        "SF1402393423452",
        &[
            ("InTransit_002", "picked_up"),
            ("Exception_003", "exception"),
            ("Exception_010", "returning"),
            ("Exception_011", "returned"),
        ],
    );
    assert_repush_and_tamper_change_nothing(
        &app,
        &returned,
        "sf-77",
        "sf-express",
        "SF1402393423452",
    )
    .await;
}

#[tokio::test]
async fn an_aftership_tracking_without_checkpoints_creates_nothing() {
    let app = spawn_app().await;
    let push = aftership(fixture("aftership/tracking_update_no_checkpoints.json"));
    assert_acknowledged(&push, &push.post(&app).await);
    // Its tag is a summary, not a scan with a time: no event, so no order 2002 either.
    assert_eq!(app.get(READ, "/v1/orders/2002").await.status, 404);
    assert_unseen(&app, "ups", "1Z999AA10123456784").await;
    assert_eq!(quarantine(&app).await, json!([]));
}

#[tokio::test]
async fn aftership_unknown_subtag_is_unmapped_and_counted() {
    let app = spawn_app().await;
    let mut body = fixture_json("aftership/tracking_update_delivered.json");
    body["msg"]["checkpoints"][5]["subtag"] = json!("ZZZ_999");
    assert_unknown_code_counted(&app, &aftership(body.to_string())).await;
    let events = timeline(&app, "1001").await;
    assert_eq!(events.len(), 6);
    assert_unmapped(&events, "ZZZ_999");
    assert_eq!(order(&app, "1001").await["status"], "out_for_delivery");
}

// -------------------------------------------------------------------------- EasyPost

const EP_NUMBER: &str = "9405500207552011812894";

#[tokio::test]
async fn easypost_trackers_join_the_order_that_claims_the_parcel() {
    let app = spawn_app().await;
    let created = easypost(fixture("easypost/tracker_created.json"));
    assert_acknowledged(&created, &created.post(&app).await);

    create_order(&app, "ep-1").await;
    let claimed = claim(&app, "ep-1", "usps", EP_NUMBER).await;
    // A label the carrier knows of: the shipment is `info_received`, the order `shipped`.
    assert_eq!(shipment(&claimed, EP_NUMBER)["status"], "info_received");
    assert_eq!(claimed["status"], "shipped", "{claimed}");
    assert_eq!(timeline(&app, "ep-1").await.len(), 3);

    let updated = easypost(fixture("easypost/tracker_updated.json"));
    assert_acknowledged(&updated, &updated.post(&app).await);
    let o = order(&app, "ep-1").await;
    assert_eq!(o["status"], "delivered", "{o}");
    assert_eq!(shipment(&o, EP_NUMBER)["carrier"], "usps");
    let events = timeline(&app, "ep-1").await;
    assert_eq!(events.len(), 8, "created + seven checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "easypost",
        "usps",
        EP_NUMBER,
        &[
            ("pre_transit/status_update", "info_received"),
            ("pre_transit/label_created", "info_received"),
            ("in_transit/received_at_origin_facility", "picked_up"),
            ("in_transit/departed_facility", "in_transit"),
            ("in_transit/arrived_at_facility", "in_transit"),
            ("out_for_delivery/out_for_delivery", "out_for_delivery"),
            ("delivered/arrived_at_destination", "delivered"),
        ],
    );
    let last = from_provider(&events, "easypost")[6];
    assert_eq!(last["occurred_at"], "2023-12-27T09:58:00-05:00");
    assert_eq!(
        last["details"]["provider_event_id"],
        "evt_b91f7e30a43111eebf7a3f1b5c6e2d01"
    );
    assert_eq!(last["details"]["mode"], "test");

    // The timestamped scheme, signed now, is accepted for the same event; a body changed
    // under it is refused.
    let v2 = easypost_v2(fixture("easypost/tracker_updated.json"));
    assert_acknowledged(&v2, &v2.post(&app).await);
    assert_eq!(timeline(&app, "ep-1").await, events);
    let (tampered_v2, _) = v2.tampered(EP_NUMBER);
    assert_problem(&tampered_v2.post(&app).await, 401, "does not match");
    // Signed ten minutes ago: a replay.
    let stale = easypost_v2_at(
        fixture("easypost/tracker_updated.json"),
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600),
    );
    assert_problem(&stale.post(&app).await, 401, "tolerance");

    // Events of other kinds carry no tracking: acknowledged, nothing stored.
    let batch = easypost(fixture("easypost/batch_updated.json"));
    assert_acknowledged(&batch, &batch.post(&app).await);
    assert_eq!(timeline(&app, "ep-1").await, events);
    assert_eq!(quarantine(&app).await, json!([]));

    assert_repush_and_tamper_change_nothing(&app, &updated, "ep-1", "usps", EP_NUMBER).await;
}

#[tokio::test]
async fn an_easypost_failure_history_refines_broad_statuses() {
    let app = spawn_app().await;
    create_order(&app, "ep-ups").await;
    // Claimed before any push this time.
    claim(&app, "ep-ups", "ups", "1Z999AA10123456784").await;
    let push = easypost(fixture("easypost/tracker_failure.json"));
    assert_acknowledged(&push, &push.post(&app).await);
    assert_eq!(order(&app, "ep-ups").await["status"], "returning");
    let events = timeline(&app, "ep-ups").await;
    assert_eq!(events.len(), 5, "created + four checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "easypost",
        "ups",
        "1Z999AA10123456784",
        &[
            ("in_transit/received_at_origin_facility", "picked_up"),
            ("failure/delivery_exception", "failed_attempt"),
            ("failure/refused", "exception"),
            ("return_to_sender/return", "returning"),
        ],
    );
    assert_repush_and_tamper_change_nothing(&app, &push, "ep-ups", "ups", "1Z999AA10123456784")
        .await;
}

#[tokio::test]
async fn easypost_unknown_status_is_unmapped_and_counted() {
    let app = spawn_app().await;
    let mut body = fixture_json("easypost/tracker_updated.json");
    body["result"]["tracking_details"][6]["status"] = json!("ZZZ_999");
    assert_unknown_code_counted(&app, &easypost(body.to_string())).await;
    create_order(&app, "ep-2").await;
    let claimed = claim(&app, "ep-2", "usps", EP_NUMBER).await;
    assert_eq!(claimed["status"], "out_for_delivery", "{claimed}");
    let events = timeline(&app, "ep-2").await;
    assert_eq!(events.len(), 8);
    assert_unmapped(&events, "ZZZ_999/arrived_at_destination");
}

// ---------------------------------------------------------------------------- Shippo

const SH_NUMBER: &str = "9205590164917312751089";

#[tokio::test]
async fn shippo_tracks_join_the_order_that_claims_the_parcel() {
    let app = spawn_app().await;
    let transit = shippo(fixture("shippo/track_updated_transit.json"));
    assert_acknowledged(&transit, &transit.post(&app).await);

    create_order(&app, "sh-1").await;
    let claimed = claim(&app, "sh-1", "usps", SH_NUMBER).await;
    assert_eq!(claimed["status"], "in_transit", "{claimed}");
    // `tracking_status` repeats the last history entry: not a fifth event.
    assert_eq!(timeline(&app, "sh-1").await.len(), 5);

    let delivered = shippo(fixture("shippo/track_updated_delivered.json"));
    assert_acknowledged(&delivered, &delivered.post(&app).await);
    let o = order(&app, "sh-1").await;
    assert_eq!(o["status"], "delivered", "{o}");
    let events = timeline(&app, "sh-1").await;
    assert_eq!(events.len(), 7, "created + six checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "shippo",
        "usps",
        SH_NUMBER,
        &[
            ("PRE_TRANSIT/information_received", "info_received"),
            ("TRANSIT/package_accepted", "picked_up"),
            ("TRANSIT", "in_transit"),
            ("TRANSIT/package_arrived", "in_transit"),
            ("TRANSIT/out_for_delivery", "out_for_delivery"),
            ("DELIVERED/delivered", "delivered"),
        ],
    );
    let last = from_provider(&events, "shippo")[5];
    assert_eq!(last["occurred_at"], "2023-07-23T13:03:00Z");
    assert_eq!(last["location"], "Spotsylvania, VA, 22551, US");
    assert_eq!(last["details"]["metadata"], "Order 000123");

    // A correct signature made more than 300 s ago is a replay.
    let stale = shippo_at(
        fixture("shippo/track_updated_delivered.json"),
        now_seconds() - 600,
    );
    assert_problem(&stale.post(&app).await, 401, "tolerance");

    // Test-mode pushes are acknowledged and create nothing.
    let test_mode = shippo(fixture("shippo/track_updated_test_mode.json"));
    assert_acknowledged(&test_mode, &test_mode.post(&app).await);
    assert_unseen(&app, "shippo", "SHIPPO_TRANSIT").await;

    assert_eq!(timeline(&app, "sh-1").await, events);
    assert_repush_and_tamper_change_nothing(&app, &delivered, "sh-1", "usps", SH_NUMBER).await;
}

#[tokio::test]
async fn a_shippo_return_joins_the_order_that_claims_the_parcel() {
    let app = spawn_app().await;
    let push = shippo(fixture("shippo/track_updated_returned.json"));
    assert_acknowledged(&push, &push.post(&app).await);
    create_order(&app, "sh-dhl").await;
    let claimed = claim(&app, "sh-dhl", "dhl", "1234567890").await;
    // Shippo's RETURNED does not say the sender has it back: `returning`.
    assert_eq!(claimed["status"], "returning", "{claimed}");
    let events = timeline(&app, "sh-dhl").await;
    assert_eq!(events.len(), 5, "created + four checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "shippo",
        "dhl",
        "1234567890",
        &[
            ("PRE_TRANSIT/information_received", "info_received"),
            ("TRANSIT/package_accepted", "picked_up"),
            ("TRANSIT/delivery_attempted", "failed_attempt"),
            ("RETURNED/return_to_sender", "returning"),
        ],
    );
    assert_repush_and_tamper_change_nothing(&app, &push, "sh-dhl", "dhl", "1234567890").await;
}

#[tokio::test]
async fn shippo_unknown_substatus_is_unmapped_and_counted() {
    let app = spawn_app().await;
    let mut body = fixture_json("shippo/track_updated_delivered.json");
    body["data"]["tracking_history"][5]["substatus"]["code"] = json!("ZZZ_999");
    body["data"]["tracking_status"]["substatus"]["code"] = json!("ZZZ_999");
    assert_unknown_code_counted(&app, &shippo(body.to_string())).await;
    create_order(&app, "sh-2").await;
    let claimed = claim(&app, "sh-2", "usps", SH_NUMBER).await;
    assert_eq!(claimed["status"], "out_for_delivery", "{claimed}");
    let events = timeline(&app, "sh-2").await;
    assert_eq!(events.len(), 7);
    assert_unmapped(&events, "DELIVERED/ZZZ_999");
}

// --------------------------------------------------------------------------- 17TRACK

const ST_NUMBER: &str = "1Z2617V10397725789";

#[tokio::test]
async fn seventeen_track_pushes_join_the_order_that_claims_the_parcel() {
    let app = spawn_app().await;
    let earlier = seventeen_track(fixture("17track/tracking_updated_earlier.json"));
    assert_acknowledged(&earlier, &earlier.post(&app).await);

    create_order(&app, "st-1").await;
    let claimed = claim(&app, "st-1", "ups", ST_NUMBER).await;
    assert_eq!(claimed["status"], "in_transit", "{claimed}");
    assert_eq!(timeline(&app, "st-1").await.len(), 4);

    let updated = seventeen_track(fixture("17track/tracking_updated.json"));
    assert_acknowledged(&updated, &updated.post(&app).await);
    let o = order(&app, "st-1").await;
    assert_eq!(o["status"], "delivered", "{o}");
    let events = timeline(&app, "st-1").await;
    assert_eq!(events.len(), 6, "created + five checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "17track",
        "ups",
        ST_NUMBER,
        &[
            ("InfoReceived", "info_received"),
            ("InTransit_PickedUp", "picked_up"),
            ("InTransit_Other", "in_transit"),
            ("OutForDelivery_Other", "out_for_delivery"),
            ("Delivered_Other", "delivered"),
        ],
    );
    let last = from_provider(&events, "17track")[4];
    assert_eq!(last["occurred_at"], "2022-04-04T16:35:22-07:00");
    assert_eq!(last["details"]["tag"], "order-1042");
    assert_eq!(last["details"]["stage"], "Delivered");

    // TRACKING_STOPPED carries no history: acknowledged, nothing changes.
    let stopped = seventeen_track(fixture("17track/tracking_stopped.json"));
    assert_acknowledged(&stopped, &stopped.post(&app).await);
    assert_eq!(timeline(&app, "st-1").await, events);

    assert_repush_and_tamper_change_nothing(&app, &updated, "st-1", "ups", ST_NUMBER).await;
}

#[tokio::test]
async fn a_seventeen_track_cross_border_history_is_one_timeline_in_time_order() {
    let app = spawn_app().await;
    create_order(&app, "st-cn").await;
    // Claimed before any push this time.
    let claimed = claim(&app, "st-cn", "china-post", "RR123456789CN").await;
    assert_eq!(claimed["status"], "created");
    let push = seventeen_track(fixture("17track/tracking_updated_crossborder.json"));
    assert_acknowledged(&push, &push.post(&app).await);
    assert_eq!(order(&app, "st-cn").await["status"], "delivered");
    let events = timeline(&app, "st-cn").await;
    assert_eq!(events.len(), 8, "created + seven checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "17track",
        "china-post",
        "RR123456789CN",
        &[
            ("InfoReceived", "info_received"),
            ("InTransit_PickedUp", "picked_up"),
            ("InTransit_Departure", "in_transit"),
            ("InTransit_CustomsProcessing", "in_transit"),
            ("InTransit_Other", "in_transit"),
            ("OutForDelivery_Other", "out_for_delivery"),
            ("Delivered_Other", "delivered"),
        ],
    );
    // A raw time without a zone is Beijing time for 17TRACK.
    let pickup = from_provider(&events, "17track")[1];
    assert_eq!(pickup["occurred_at"], "2026-11-13T18:45:00+08:00");
    assert_eq!(pickup["details"]["time"], "2026-11-13 18:45:00");
    assert_eq!(pickup["details"]["provider_name"], "China Post");
    assert_repush_and_tamper_change_nothing(&app, &push, "st-cn", "china-post", "RR123456789CN")
        .await;
}

#[tokio::test]
async fn seventeen_track_unknown_sub_status_is_unmapped_and_counted() {
    let app = spawn_app().await;
    let mut body = fixture_json("17track/tracking_updated.json");
    body["data"]["track_info"]["tracking"]["providers"][0]["events"][0]["sub_status"] =
        json!("ZZZ_999");
    assert_unknown_code_counted(&app, &seventeen_track(body.to_string())).await;
    create_order(&app, "st-2").await;
    let claimed = claim(&app, "st-2", "ups", ST_NUMBER).await;
    assert_eq!(claimed["status"], "out_for_delivery", "{claimed}");
    let events = timeline(&app, "st-2").await;
    assert_eq!(events.len(), 6);
    assert_unmapped(&events, "ZZZ_999");
}

// ---------------------------------------------------------------------------- KDNiao

const KDN_ORDER: &str = "WB-20261125-0001";

#[tokio::test]
async fn kdniao_parcels_join_the_order_they_name_or_the_one_that_claims_them() {
    let app = spawn_app().await;
    let push = kdniao(&fixture("kdniao/push_101.json"));
    assert_acknowledged(&push, &push.post(&app).await);

    // The SF parcel names its order (`OrderCode`).
    let o = order(&app, KDN_ORDER).await;
    assert_eq!(o["status"], "out_for_delivery", "{o}");
    assert_eq!(shipment(&o, "SF1234567890123")["carrier"], "sf-express");
    let events = timeline(&app, KDN_ORDER).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    assert_checkpoints(
        &events,
        "kdniao",
        "sf-express",
        "SF1234567890123",
        &[
            ("1", "picked_up"),
            ("2", "in_transit"),
            ("201", "in_transit"),
            ("202", "out_for_delivery"),
        ],
    );
    assert_eq!(events[0]["occurred_at"], "2026-11-25T18:20:31+08:00");
    assert_eq!(events[0]["details"]["callback"], "order-0001");

    // The YTO parcel names none (`OrderCode: ""`): it waits for a claim. Its traces have
    // no `Action`; the newest takes the parcel's `StateEx` (301), outside `raw_status`.
    create_order(&app, "yto-1").await;
    let claimed = claim(&app, "yto-1", "yto", "YT9876543210987").await;
    assert_eq!(claimed["status"], "delivered", "{claimed}");
    let yto = timeline(&app, "yto-1").await;
    assert_eq!(yto.len(), 4, "created + three traces: {yto:#?}");
    assert_checkpoints(
        &yto,
        "kdniao",
        "yto",
        "YT9876543210987",
        &[("", "unmapped"), ("", "unmapped"), ("", "delivered")],
    );
    assert_eq!(
        from_provider(&yto, "kdniao")[2]["details"]["parcel_state"],
        "301"
    );

    // A parcel without traces ("三天无轨迹") is acknowledged and gives nothing.
    let empty = kdniao(&fixture("kdniao/push_no_traces.json"));
    assert_acknowledged(&empty, &empty.post(&app).await);
    assert_unseen(&app, "zto-express", "75300000000001").await;

    assert_repush_and_tamper_change_nothing(
        &app,
        &push,
        KDN_ORDER,
        "sf-express",
        "SF1234567890123",
    )
    .await;
    assert_eq!(timeline(&app, "yto-1").await, yto);
}

#[tokio::test]
async fn kdniao_unknown_action_is_unmapped_and_counted() {
    let app = spawn_app().await;
    let mut data = fixture_json("kdniao/push_101.json");
    data["Data"][0]["Traces"][3]["Action"] = json!("ZZZ_999");
    assert_unknown_code_counted(&app, &kdniao(&data.to_string())).await;
    let events = timeline(&app, KDN_ORDER).await;
    assert_eq!(events.len(), 4);
    assert_unmapped(&events, "ZZZ_999");
    assert_eq!(order(&app, KDN_ORDER).await["status"], "in_transit");
}

// ------------------------------------------------------------------------- Kuaidi100

const K100_NUMBER: &str = "75312345678901";

#[tokio::test]
async fn a_kuaidi100_carrier_correction_renames_the_shipment_and_keeps_its_events() {
    let app = spawn_app().await;
    let correction = fixture_json("kuaidi100/autocheck.json");
    assert_eq!(correction["comOld"], "yuantong");
    assert_eq!(correction["comNew"], "zhongtong");

    // Before the correction Kuaidi100 pushed the same history under the old carrier.
    let mut old = correction.clone();
    let root = old.as_object_mut().unwrap();
    root.insert("autoCheck".into(), json!("0"));
    root.insert("comOld".into(), json!(""));
    root.insert("comNew".into(), json!(""));
    old["lastResult"]["com"] = json!("yuantong");
    let before = kuaidi100(&old.to_string());
    assert_acknowledged(&before, &before.post(&app).await);

    create_order(&app, "k100-fix").await;
    let claimed = claim(&app, "k100-fix", "yto", K100_NUMBER).await;
    assert_eq!(shipment(&claimed, K100_NUMBER)["carrier"], "yto");
    assert_eq!(claimed["status"], "in_transit", "{claimed}");
    let events = timeline(&app, "k100-fix").await;
    assert_eq!(events.len(), 3, "created + two checkpoints: {events:#?}");
    assert_checkpoints(
        &events,
        "kuaidi100",
        "yto",
        K100_NUMBER,
        &[("", "unmapped"), ("", "in_transit")],
    );

    // The correction: yuantong → zhongtong.
    let fix = kuaidi100(&correction.to_string());
    assert_acknowledged(&fix, &fix.post(&app).await);
    let o = order(&app, "k100-fix").await;
    let s = shipment(&o, K100_NUMBER);
    assert_eq!(s["carrier"], "zto-express", "{o}");
    assert_eq!(s["status"], "in_transit", "{o}");
    assert_eq!(o["status"], "in_transit", "{o}");
    let after = timeline(&app, "k100-fix").await;
    let ids = |tl: &[Value]| -> Vec<String> {
        tl.iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&after), ids(&events), "the same events: {after:#?}");
    assert_eq!(after.len(), 3, "{after:#?}");
    // The old carrier no longer names a parcel of this order.
    assert_eq!(
        o["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["carrier"] == "yto")
            .count(),
        0,
        "{o}"
    );

    // Orders are found under the new carrier only, and the parcel is already this
    // order's under its new name.
    let listed = |carrier: &'static str| {
        let app = &app;
        async move {
            let a = app
                .get(READ, &format!("/v1/orders?carrier={carrier}"))
                .await;
            assert_eq!(a.status, 200, "{}", a.json);
            a.json["orders"].as_array().unwrap().len()
        }
    };
    assert_eq!(listed("zto-express").await, 1);
    assert_eq!(listed("yto").await, 0);
    let again = app
        .post_json(
            INGEST,
            "/v1/orders/k100-fix/shipments",
            &json!({"carrier": "zto-express", "tracking_number": K100_NUMBER}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.json);

    // Repeating the correction changes nothing; a new checkpoint under the new carrier
    // joins the same shipment.
    assert_acknowledged(&fix, &fix.post(&app).await);
    assert_eq!(timeline(&app, "k100-fix").await, after);
    let mut later = correction.clone();
    let data = later["lastResult"]["data"].as_array_mut().unwrap();
    data.insert(
        0,
        json!({"time": "2026-11-26 09:40:00", "ftime": "2026-11-26 09:40:00",
            "context": "【武汉市】快件已到达【武汉中心】", "statusCode": "1002"}),
    );
    let later = kuaidi100(&later.to_string());
    assert_acknowledged(&later, &later.post(&app).await);
    let o = order(&app, "k100-fix").await;
    assert_eq!(shipment(&o, K100_NUMBER)["carrier"], "zto-express");
    let last = timeline(&app, "k100-fix").await;
    assert_eq!(last.len(), 4, "{last:#?}");
    let newest = from_provider(&last, "kuaidi100")[2];
    assert_eq!(newest["raw_status"], "1002");
    assert_eq!(newest["carrier"], "zto-express");
    assert_eq!(newest["occurred_at"], "2026-11-26T09:40:00+08:00");

    assert_repush_and_tamper_change_nothing(&app, &later, "k100-fix", "zto-express", K100_NUMBER)
        .await;
}

#[tokio::test]
async fn kuaidi100_unknown_status_code_is_unmapped_and_counted() {
    let app = spawn_app().await;
    let mut param = fixture_json("kuaidi100/polling_resultv2.json");
    param["lastResult"]["data"][0]["statusCode"] = json!("ZZZ_999");
    assert_unknown_code_counted(&app, &kuaidi100(&param.to_string())).await;
    create_order(&app, "k100-2").await;
    let claimed = claim(&app, "k100-2", "zto-express", "78912345678901").await;
    assert_eq!(claimed["status"], "out_for_delivery", "{claimed}");
    let events = timeline(&app, "k100-2").await;
    assert_eq!(events.len(), 6, "{events:#?}");
    assert_unmapped(&events, "ZZZ_999");
    assert_checkpoints(
        &events,
        "kuaidi100",
        "zto-express",
        "78912345678901",
        &[
            ("103", "picked_up"),
            ("1002", "in_transit"),
            ("1001", "in_transit"),
            ("5", "out_for_delivery"),
            ("ZZZ_999", "unmapped"),
        ],
    );
}
