//! Orders: create, get, list, paginate.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn create_then_get_an_order() {
    let app = spawn_app().await;
    let body = json!({"order_id": "A-1", "customer": {"email": "li@example.com", "phone": "+86 138 0000 0000"}, "metadata": {"shop": "cn-1"}});
    let a = app.post_json(ADMIN, "/v1/orders", &body).await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["status"], "created");
    assert_eq!(a.json["customer"]["email"], "li@example.com");
    assert_eq!(a.json["metadata"]["shop"], "cn-1");
    // A signed link: the page's token is in it.
    let url = a.json["tracking_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/track/A-1?t=", app.base)),
        "{url}"
    );
    assert_problem(
        &app.post_json(INGEST, "/v1/orders", &body).await,
        409,
        "already exists",
    );
    let got = app.get(READ, "/v1/orders/A-1").await;
    assert_eq!(got.json["customer"]["phone"], "+86 138 0000 0000");
    assert_eq!(got.json["shipments"], json!([]));
    assert_problem(&app.get(READ, "/v1/orders/nope").await, 404, "no order");
}

#[tokio::test]
async fn an_order_created_by_events_can_still_get_its_customer_once() {
    let app = spawn_app().await;
    for t in ["create", "ship"] {
        let body = json!({"event_type": t, "order_id": "seeded", "details": ""}).to_string();
        assert_eq!(
            app.post_events(INGEST, "application/json", body)
                .await
                .status,
            200
        );
    }
    let body = json!({"order_id": "seeded", "customer": {"email": "wang@example.com"}});
    let a = app.post_json(INGEST, "/v1/orders", &body).await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert!(a.json.get("customer").is_none(), "not shown to ingest");
    assert_eq!(a.json["status"], "shipped", "the events' progress is kept");
    let again = json!({"order_id": "seeded", "customer": {"email": "other@example.com"}});
    assert_problem(
        &app.post_json(INGEST, "/v1/orders", &again).await,
        409,
        "already exists",
    );
    let got = app.get(READ, "/v1/orders/seeded").await;
    assert_eq!(got.json["customer"]["email"], "wang@example.com");
}

#[tokio::test]
async fn a_merchants_ship_then_the_carriers_delivery_delivers_the_order() {
    let app = spawn_app().await;
    let ship = json!({"event_type": "ship", "order_id": "o", "details": ""}).to_string();
    app.post_events(INGEST, "application/json", ship).await;
    let delivered = json!({"order_id": "o", "carrier": "zto", "tracking_number": "Z77", "status": "delivered", "occurred_at": "2026-11-20T10:00:00+08:00"});
    app.post_events(INGEST, "application/json", delivered.to_string())
        .await;
    let order = app.get(READ, "/v1/orders/o").await.json;
    assert_eq!(order["status"], "delivered");
}

#[tokio::test]
async fn order_creation_validates_its_input() {
    let app = spawn_app().await;
    let cases = [
        (json!({"order_id": ""}), 422, "must not be empty"),
        (json!({"order_id": "x".repeat(129)}), 422, "limit is 128"),
        (
            json!({"order_id": "o", "customer": {"email": "nope"}}),
            422,
            "not an e-mail",
        ),
        (
            json!({"order_id": "o", "customer": {"phone": "call me"}}),
            422,
            "not a phone",
        ),
        (
            json!({"order_id": "o", "metadata": [1]}),
            422,
            "metadata must be a JSON object",
        ),
        (
            json!({"order_id": "o", "colour": "red"}),
            422,
            "unknown field",
        ),
        (json!({"order": "o"}), 422, "unknown field"),
    ];
    for (body, status, needle) in cases {
        assert_problem(
            &app.post_json(INGEST, "/v1/orders", &body).await,
            status,
            needle,
        );
    }
    let raw = app
        .send(
            app.client
                .post(format!("{}/v1/orders", app.base))
                .bearer_auth(INGEST)
                .body("{"),
        )
        .await;
    assert_problem(&raw, 400, "not valid JSON");
}

#[tokio::test]
async fn list_filters_and_pages_through_everything() {
    let app = spawn_app().await;
    let mut batch = Vec::new();
    for i in 0..30 {
        let (carrier, status) = if i % 3 == 0 {
            ("ups", "delivered")
        } else {
            ("zto", "in_transit")
        };
        batch.push(json!({"order_id": format!("o{i:02}"), "carrier": carrier, "tracking_number": format!("T{i}"), "status": status, "occurred_at": "2026-11-20T10:00:00Z"}));
    }
    let a = app
        .post_events(
            INGEST,
            "application/json",
            serde_json::Value::Array(batch).to_string(),
        )
        .await;
    assert_eq!(a.json["accepted"], 30);
    let mut seen = Vec::new();
    let mut path = "/v1/orders?carrier=zto&limit=7".to_owned();
    loop {
        let page = app.get(READ, &path).await.json;
        for o in page["orders"].as_array().unwrap() {
            assert_eq!(o["status"], "in_transit");
            seen.push(o["order_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/orders?carrier=zto&limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 20);
    let delivered = app
        .get(READ, "/v1/orders?status=delivered&limit=100")
        .await
        .json;
    assert_eq!(delivered["orders"].as_array().unwrap().len(), 10);
    let future = app
        .get(READ, "/v1/orders?updated_since=2026-11-28T00:00:00%2B08:00")
        .await
        .json;
    assert!(future["orders"].as_array().is_some());
    assert_problem(
        &app.get(READ, "/v1/orders?status=lost").await,
        400,
        "unknown order status",
    );
    assert_problem(&app.get(READ, "/v1/orders?limit=0").await, 400, "limit");
    assert_problem(&app.get(READ, "/v1/orders?limit=abc").await, 400, "limit");
    assert_problem(&app.get(READ, "/v1/orders?cursor=zz").await, 400, "cursor");
    assert_problem(
        &app.get(READ, "/v1/orders?updated_since=yesterday").await,
        400,
        "RFC 3339",
    );
    assert_problem(
        &app.get(READ, "/v1/orders?updated_since=2026-11-28T00:00:00+08:00")
            .await,
        400,
        "%2B",
    );
}

/// Numbers beyond what f64 or i64 hold came back rounded (or the whole `details` as
/// null): metadata and event details are kept and shown as they were sent.
#[tokio::test]
async fn metadata_and_details_keep_every_digit() {
    let app = spawn_app().await;
    let big = "123456789012345678901234567890";
    let body = format!(
        r#"{{"order_id": "big-1", "metadata": {{"n": {big}, "x": 1e400, "f": 0.1000000000000000055511151231257827}}}}"#
    );
    let a = app
        .send(
            app.client
                .post(format!("{}/v1/orders", app.base))
                .bearer_auth(ADMIN)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let event = format!(
        r#"{{"order_id": "big-1", "status": "picked_up", "details": {{"weight_g": {big}, "ratio": 1e400}}}}"#
    );
    assert_eq!(
        app.post_events(INGEST, "application/json", event)
            .await
            .status,
        200
    );
    let text = |path: &str| {
        let req = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(READ);
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let order = text("/v1/orders/big-1").await;
    // As sent, spaces and all.
    assert!(order.contains(&format!("\"n\": {big}")), "{order}");
    assert!(order.contains("\"x\": 1e400"), "{order}");
    assert!(
        order.contains("0.1000000000000000055511151231257827"),
        "{order}"
    );
    let timeline = text("/v1/orders/big-1/events").await;
    assert!(
        timeline.contains(&format!("\"weight_g\": {big}")),
        "{timeline}"
    );
    assert!(timeline.contains("\"ratio\": 1e400"), "{timeline}");
}

/// The probe's case: the first ingest client to name an order set its customer for
/// good, and the merchant's own admin request got 409. An admin's customer and metadata
/// win; an ingest key still cannot change what is there.
#[tokio::test]
async fn the_merchants_admin_key_sets_the_customer_an_ingest_client_gave_first() {
    let app = spawn_app().await;
    let first = json!({"order_id": "c1", "customer": {"email": "squatter@example.com"},
        "metadata": {"channel": "marketplace"}});
    assert_eq!(
        app.post_json(INGEST, "/v1/orders", &first).await.status,
        201
    );

    let merchant = json!({"order_id": "c1", "customer": {"email": "real@example.com", "phone": "+86 138 0000 0001"}});
    let a = app.post_json(ADMIN, "/v1/orders", &merchant).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["customer"]["email"], "real@example.com");
    assert_eq!(
        a.json["metadata"]["channel"], "marketplace",
        "what was left out is kept"
    );

    let again = json!({"order_id": "c1", "customer": {"email": "squatter@example.com"}});
    assert_problem(
        &app.post_json(INGEST, "/v1/orders", &again).await,
        409,
        "already exists",
    );
    // The same request twice changes nothing the second time.
    assert_eq!(
        app.post_json(ADMIN, "/v1/orders", &merchant).await.status,
        200
    );
    let got = app.get(READ, "/v1/orders/c1").await;
    assert_eq!(got.json["customer"]["email"], "real@example.com");
    assert_eq!(got.json["customer"]["phone"], "+86 138 0000 0001");
    // The record is not a scan: the timeline shows only the order's creation.
    let timeline = app.get(READ, "/v1/orders/c1/events").await;
    let kinds: Vec<_> = timeline.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["created"]);
}
