//! `POST /v1/webhooks/{provider}` end to end: signatures, answers, quarantine, linking.

use serde_json::{Value, json};
use waybill_providers::sign;
use waybill_server::Limits;
use waybill_server::intake::Webhooks;

use crate::helpers::{
    ADMIN, INGEST, READ, TestApp, assert_problem, secret, spawn_app, spawn_app_full,
};

/// A Kuaidi100 push signed as Kuaidi100 signs it: uppercase hex MD5 of `param` + salt.
fn kuaidi100_form(param: &str, salt: &str) -> String {
    let sign = sign::hex_upper(&sign::md5(&[param.as_bytes(), salt.as_bytes()]));
    form_urlencoded::Serializer::new(String::new())
        .append_pair("param", param)
        .append_pair("sign", &sign)
        .finish()
}

async fn post_form(app: &TestApp, provider: &str, body: String) -> crate::helpers::Answer {
    app.send(
        app.client
            .post(format!("{}/v1/webhooks/{provider}", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

fn kuaidi100_param(number: &str, checkpoints: &[(&str, &str, &str)]) -> String {
    // Newest first, as Kuaidi100 lists them.
    let data: Vec<Value> = checkpoints
        .iter()
        .rev()
        .map(|(time, context, code)| {
            json!({"context": context, "time": time, "ftime": time, "status": "在途", "statusCode": code})
        })
        .collect();
    json!({
        "status": "polling", "billstatus": "got", "message": "",
        "lastResult": {"message": "ok", "state": "0", "status": "200", "condition": "F00",
            "ischeck": "0", "com": "zhongtong", "nu": number, "data": data}
    })
    .to_string()
}

#[tokio::test]
async fn unknown_and_switched_off_providers_are_refused() {
    let app = spawn_app_full(Limits::default(), Webhooks::default()).await;
    let a = post_form(&app, "fedex", "x=1".into()).await;
    assert_problem(&a, 404, "unknown provider");
    let param = kuaidi100_param("ZT1", &[("2026-11-27 10:02:00", "已揽收", "1")]);
    let off = post_form(&app, "kuaidi100", kuaidi100_form(&param, "anything")).await;
    assert_problem(&off, 401, "no secret is configured");
}

#[tokio::test]
async fn a_bad_signature_leaves_no_trace() {
    let app = spawn_app().await;
    let param = kuaidi100_param("ZT1", &[("2026-11-27 10:02:00", "已揽收", "1")]);
    let wrong = post_form(&app, "kuaidi100", kuaidi100_form(&param, "not-the-salt")).await;
    assert_problem(&wrong, 401, "kuaidi100");
    let missing = post_form(&app, "kuaidi100", format!("param={}", urlencode(&param))).await;
    assert_problem(&missing, 401, "sign");
    // Nothing was stored: no quarantine, and the parcel is unknown when an order claims it.
    let q = app.get(ADMIN, "/v1/quarantine").await;
    assert_eq!(q.json["items"], json!([]));
    app.post_json(INGEST, "/v1/orders", &json!({"order_id": "o1"}))
        .await;
    let linked = app
        .post_json(
            INGEST,
            "/v1/orders/o1/shipments",
            &json!({"carrier": "zto-express", "tracking_number": "ZT1"}),
        )
        .await;
    assert_eq!(linked.status, 201);
    let tl = app.get(READ, "/v1/orders/o1/events").await;
    assert_eq!(
        tl.json["events"].as_array().unwrap().len(),
        1,
        "only the order's creation"
    );
}

async fn timeline(app: &TestApp) -> Vec<Value> {
    let tl = app.get(READ, "/v1/orders/shop-9/events").await;
    tl.json["events"].as_array().unwrap().clone()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_push_before_the_order_joins_it_and_repushes_change_nothing() {
    let app = spawn_app().await;
    let salt = secret("kuaidi100");
    let first = [
        ("2026-11-27 10:02:00", "【深圳市】 中通快递 已揽收", "1"),
        ("2026-11-27 18:30:00", "快件已发往 杭州转运中心", "0"),
    ];
    let param = kuaidi100_param("ZT778", &first);
    let a = post_form(&app, "kuaidi100", kuaidi100_form(&param, &salt)).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(
        a.json,
        json!({"result": true, "returnCode": "200", "message": "成功"})
    );

    app.post_json(INGEST, "/v1/orders", &json!({"order_id": "shop-9"}))
        .await;
    let linked = app
        .post_json(
            INGEST,
            "/v1/orders/shop-9/shipments",
            &json!({"carrier": "zto-express", "tracking_number": "ZT778"}),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.json);
    assert_eq!(linked.json["status"], "in_transit");
    let events = timeline(&app).await;
    assert_eq!(events.len(), 3, "created + two checkpoints");
    let pickup = events.iter().find(|e| e["status"] == "picked_up").unwrap();
    assert_eq!(pickup["status"], "picked_up");
    assert_eq!(pickup["occurred_at"], "2026-11-27T10:02:00+08:00");
    assert_eq!(pickup["details"]["time"], "2026-11-27 10:02:00");

    // The same history again: nothing new. A longer one: only the new checkpoint.
    post_form(&app, "kuaidi100", kuaidi100_form(&param, &salt)).await;
    assert_eq!(timeline(&app).await.len(), 3);
    let mut longer = first.to_vec();
    longer.push(("2026-11-28 09:00:00", "快件正在派送", "5"));
    let param = kuaidi100_param("ZT778", &longer);
    post_form(&app, "kuaidi100", kuaidi100_form(&param, &salt)).await;
    assert_eq!(timeline(&app).await.len(), 4);
    let order = app.get(READ, "/v1/orders/shop-9").await;
    assert_eq!(order.json["status"], "out_for_delivery");
    // A history that shrinks deletes nothing.
    let param = kuaidi100_param("ZT778", &first[..1]);
    post_form(&app, "kuaidi100", kuaidi100_form(&param, &salt)).await;
    assert_eq!(timeline(&app).await.len(), 4);
}

#[tokio::test]
async fn an_unreadable_push_is_quarantined_acknowledged_and_replayable() {
    let app = spawn_app().await;
    let salt = secret("kuaidi100");
    let a = post_form(&app, "kuaidi100", kuaidi100_form("{not json", &salt)).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["result"], true, "kept, so Kuaidi100 need not retry");
    let q = app.get(ADMIN, "/v1/quarantine").await;
    let items = q.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", q.json);
    assert_eq!(items[0]["provider"], "kuaidi100");
    assert!(items[0]["body"].as_str().unwrap().contains("param="));
    assert!(!items[0]["reason"].as_str().unwrap().is_empty());
    assert_eq!(
        items[0]["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(app.get(READ, "/v1/quarantine").await.status, 403);

    let id = items[0]["id"].as_i64().unwrap();
    let replay = app
        .post_json(ADMIN, &format!("/v1/quarantine/{id}/replay"), &json!({}))
        .await;
    assert_eq!(replay.status, 422, "still unreadable: {}", replay.json);
    let missing = app
        .post_json(ADMIN, "/v1/quarantine/999/replay", &json!({}))
        .await;
    assert_problem(&missing, 404, "999");
    assert_eq!(app.get(ADMIN, "/v1/quarantine?limit=0").await.status, 400);
    let one = app.get(ADMIN, &format!("/v1/quarantine/{id}")).await;
    assert_eq!(
        one.json["body_bytes"],
        one.json["body"].as_str().unwrap().len()
    );
    let anonymous = app
        .send(
            app.client
                .post(format!("{}/v1/quarantine/abc/replay", app.base)),
        )
        .await;
    assert_problem(&anonymous, 401, "");
    let not_a_number = app
        .post_json(ADMIN, "/v1/quarantine/abc/replay", &json!({}))
        .await;
    assert_problem(&not_a_number, 404, "abc");
}

#[tokio::test]
async fn cloudevents_take_an_ingest_key_or_a_standard_webhooks_signature() {
    let app = spawn_app().await;
    let ce = json!({
        "specversion": "1.0", "id": "42", "source": "/wms", "type": "parcel.scan",
        "data": {"carrier": "ups", "tracking_number": "1Z42", "status": "picked_up",
            "occurred_at": "2026-11-27T10:00:00Z"}
    })
    .to_string();
    let post = |key: Option<&str>, extra: &[(&str, String)], body: String| {
        let mut req = app
            .client
            .post(format!("{}/v1/webhooks/cloudevents", app.base))
            .header("content-type", "application/cloudevents+json")
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        for (h, v) in extra {
            req = req.header(*h, v.clone());
        }
        app.send(req)
    };
    assert_eq!(post(None, &[], ce.clone()).await.status, 401);
    let a = post(Some(INGEST), &[], ce.clone()).await;
    assert_eq!(
        a.json["accepted"], 1,
        "an unlinked parcel is kept: {}",
        a.json
    );

    let mut hooks = Webhooks::default();
    hooks
        .set_secret("cloudevents", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let signed = spawn_app_full(Limits::default(), hooks).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sig = waybill_providers::standard_webhooks::sign(
        b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_1",
        now,
        ce.as_bytes(),
    );
    let headers = [
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", sig),
    ];
    let send = |body: String| {
        let mut req = signed
            .client
            .post(format!("{}/v1/webhooks/cloudevents", signed.base))
            .header("content-type", "application/cloudevents+json")
            .body(body);
        for (h, v) in &headers {
            req = req.header(*h, v.clone());
        }
        signed.send(req)
    };
    assert_eq!(send(ce.clone()).await.json["accepted"], 1);
    let tampered = send(ce.replace("1Z42", "1Z43")).await;
    assert_problem(&tampered, 401, "does not match");
}
