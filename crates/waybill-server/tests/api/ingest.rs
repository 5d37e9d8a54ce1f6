//! `POST /v1/events`: the happy paths and every kind of bad input.

use serde_json::json;

use crate::helpers::*;

const SEED: [&str; 4] = ["create", "ship", "received", "delivered"];

#[tokio::test]
async fn the_seeds_four_events_deliver_an_order() {
    let app = spawn_app().await;
    for t in SEED {
        let body = json!({"event_type": t, "order_id": "order1", "details": ""}).to_string();
        let a = app.post_events(INGEST, "application/json", body).await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["accepted"], 1);
    }
    let order = app.get(READ, "/v1/orders/order1").await;
    assert_eq!(order.json["status"], "delivered");
    let tl = app.get(READ, "/v1/orders/order1/events").await;
    let statuses: Vec<_> = tl.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        ["created", "info_received", "picked_up", "delivered"]
    );
    // Re-sending the seed is a duplicate: the ids are derived from content.
    let again = app
        .post_events(
            INGEST,
            "application/json",
            json!({"event_type": "ship", "order_id": "order1", "details": ""}).to_string(),
        )
        .await;
    assert_eq!(
        again.json,
        json!({"accepted": 0, "duplicates": 1, "rejected": []})
    );
}

#[tokio::test]
async fn arrays_and_ndjson_report_per_item_and_keep_the_good_ones() {
    let app = spawn_app().await;
    let batch = json!([
        {"order_id": "o1", "carrier": "sf-express", "tracking_number": "SF1", "status": "picked_up", "occurred_at": "2026-11-20T10:00:00+08:00"},
        {"order_id": "o1", "carrier": "sf-express", "tracking_number": "SF1", "status": "teleported"},
        {"order_id": 7, "status": "in_transit"},
        {"carrier": "zto", "tracking_number": "Z404", "status": "in_transit"},
        {"carrier": "sf-express", "tracking_number": "SF1", "status": "in_transit", "occurred_at": "2026-11-21T10:00:00+08:00"}
    ]);
    let a = app
        .post_events(INGEST, "application/json", batch.to_string())
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["accepted"], 2);
    let rejected = a.json["rejected"].as_array().unwrap();
    let indices: Vec<_> = rejected
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3]);
    assert!(
        rejected[0]["error"]
            .as_str()
            .unwrap()
            .contains("unknown status")
    );
    assert!(
        rejected[1]["error"]
            .as_str()
            .unwrap()
            .contains("order_id must be a string")
    );
    assert!(
        rejected[2]["error"]
            .as_str()
            .unwrap()
            .contains("not linked")
    );

    let ndjson = "{\"order_id\":\"o2\",\"status\":\"info_received\"}\nnot json\n";
    let a = app
        .post_events(INGEST, "application/x-ndjson", ndjson)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["accepted"], 1);
    assert_eq!(a.json["rejected"][0]["index"], 1);
    assert!(
        a.json["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );

    let order = app.get(READ, "/v1/orders/o1").await;
    assert_eq!(order.json["status"], "in_transit");
}

#[tokio::test]
async fn bad_bodies_get_precise_problems_and_change_nothing() {
    let app = spawn_app().await;
    let good = json!({"order_id": "keep", "status": "picked_up", "carrier": "zto", "tracking_number": "Z1"});
    assert_eq!(
        app.post_events(INGEST, "application/json", good.to_string())
            .await
            .status,
        200
    );
    let before = app.get(READ, "/v1/orders/keep/events").await.json;

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("application/json", "{\"order_id\": ".into(), 400, "not valid JSON"),
        ("application/json", "[{\"a\":1},".into(), 400, "not valid JSON"),
        ("application/json", "[]".into(), 400, "empty"),
        ("application/json", "".into(), 400, "empty"),
        ("application/x-ndjson", "\n\n".into(), 400, "empty"),
        ("text/plain", "hello".into(), 415, "text/plain"),
        ("application/json", json!({"order_id": "keep", "status": "lost_in_space"}).to_string(), 422, "unknown status"),
        ("application/json", json!({"order_id": "keep", "status": 3}).to_string(), 422, "status must be a string"),
        ("application/json", json!({"order_id": "keep", "status": "delivered", "occurred_at": "2026-11-27 10:00:00"}).to_string(), 422, "no UTC offset"),
        ("application/json", json!({"order_id": "keep", "status": "delivered", "occurred_at": "1999-12-31T23:59:59Z"}).to_string(), 422, "before 2000"),
        ("application/json", json!({"order_id": "keep", "status": "delivered", "occurred_at": "2999-01-01T00:00:00Z"}).to_string(), 422, "future"),
        ("application/json", json!({"carrier": "ups", "tracking_number": "1Z9", "status": "delivered"}).to_string(), 422, "not linked"),
        ("application/json", json!({"order_id": "other", "carrier": "zto", "tracking_number": "Z1", "status": "delivered"}).to_string(), 422, "belongs to order keep"),
        ("application/json", json!([{"status": "x"}, {"order_id": ""}]).to_string(), 422, "all 2 items were refused"),
        ("application/json", json!({"order_id": "keep", "status": "delivered", "occured_at": "2026-11-20T10:00:00Z"}).to_string(), 422, "unknown field `occured_at`"),
    ];
    for (ct, body, status, needle) in cases {
        let a = app.post_events(INGEST, ct, body.clone()).await;
        assert_problem(&a, status, needle);
    }
    assert_eq!(app.get(READ, "/v1/orders/keep/events").await.json, before);
    assert_eq!(app.get(READ, "/v1/orders/other").await.status, 404);
    assert_eq!(
        app.get(READ, "/livez").await.status,
        200,
        "the server stays up"
    );
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused() {
    let app = spawn_app_with(waybill_server::Limits {
        max_body_bytes: 2048,
        max_batch_items: 3,
        ..Default::default()
    })
    .await;
    let big = format!(
        "[{}]",
        vec![json!({"order_id": "o", "status": "picked_up"}).to_string(); 60].join(",")
    );
    assert!(big.len() > 2048);
    assert_problem(
        &app.post_events(INGEST, "application/json", big).await,
        413,
        "2048 bytes",
    );
    let four = json!([{"order_id": "a", "status": "picked_up"}, {"order_id": "b", "status": "picked_up"}, {"order_id": "c", "status": "picked_up"}, {"order_id": "d", "status": "picked_up"}]);
    assert_problem(
        &app.post_events(INGEST, "application/json", four.to_string())
            .await,
        413,
        "limit is 3",
    );
    assert_eq!(app.get(READ, "/v1/orders/a").await.status, 404);
}

#[tokio::test]
async fn keys_and_roles_are_enforced() {
    let app = spawn_app().await;
    let body = json!({"order_id": "o", "status": "picked_up"}).to_string();
    let no_key = app
        .send(
            app.client
                .post(format!("{}/v1/events", app.base))
                .body(body.clone()),
        )
        .await;
    assert_problem(&no_key, 401, "missing Authorization");
    assert_problem(
        &app.post_events(
            "wrong-key-but-long-enough",
            "application/json",
            body.clone(),
        )
        .await,
        401,
        "unknown API key",
    );
    assert_problem(
        &app.post_events(READ, "application/json", body.clone())
            .await,
        403,
        "needs ingest",
    );
    assert_eq!(
        app.post_events(ADMIN, "application/json", body.clone())
            .await
            .status,
        200
    );
    assert_problem(&app.get(INGEST, "/v1/orders/o").await, 403, "needs read");
    assert_eq!(app.get(ADMIN, "/v1/orders/o").await.status, 200);
    let basic = app
        .send(
            app.client
                .get(format!("{}/v1/orders/o", app.base))
                .basic_auth("u", Some("p")),
        )
        .await;
    assert_problem(&basic, 401, "Bearer");
}

#[tokio::test]
async fn a_late_event_lands_in_place_and_a_backwards_one_is_flagged() {
    let app = spawn_app().await;
    let ev = |status: &str, at: &str| json!({"order_id": "o", "carrier": "jd", "tracking_number": "JD1", "status": status, "occurred_at": at});
    let batch = json!([
        ev("picked_up", "2026-11-20T09:00:00+08:00"),
        ev("out_for_delivery", "2026-11-21T09:00:00+08:00"),
        ev("delivered", "2026-11-21T15:00:00+08:00"),
    ]);
    app.post_events(INGEST, "application/json", batch.to_string())
        .await;
    // Late, and in the past: lands between the two, does not move the parcel back.
    app.post_events(
        INGEST,
        "application/json",
        ev("in_transit", "2026-11-20T20:00:00+08:00").to_string(),
    )
    .await;
    // After delivery: kept, flagged, not applied.
    app.post_events(
        INGEST,
        "application/json",
        ev("in_transit", "2026-11-22T08:00:00+08:00").to_string(),
    )
    .await;
    let order = app.get(READ, "/v1/orders/o").await.json;
    assert_eq!(order["status"], "delivered");
    let events = app.get(READ, "/v1/orders/o/events").await.json["events"].clone();
    let summary: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_owned(),
                e["flagged"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("picked_up".into(), false),
            ("in_transit".into(), false),
            ("out_for_delivery".into(), false),
            ("delivered".into(), false),
            ("in_transit".into(), true),
        ]
    );
    assert_eq!(events[0]["occurred_at"], "2026-11-20T09:00:00+08:00");
    assert!(
        events[4]["flag_reason"]
            .as_str()
            .unwrap()
            .contains("delivered to in_transit")
    );
}
