//! Registering parcels with orders, and CloudEvents on `/v1/events`.

use serde_json::json;

use crate::helpers::{ADMIN, INGEST, READ, assert_problem, spawn_app};

#[tokio::test]
async fn a_registered_parcel_takes_events_by_tracking_number_alone() {
    let app = spawn_app().await;
    let register = |order: &str, body: serde_json::Value| {
        let path = format!("/v1/orders/{order}/shipments");
        let app = &app;
        async move { app.post_json(INGEST, &path, &body).await }
    };
    let parcel = json!({"carrier": "sf-express", "tracking_number": "SF100"});
    assert_problem(&register("o1", parcel.clone()).await, 404, "no order");
    app.post_json(INGEST, "/v1/orders", &json!({"order_id": "o1"}))
        .await;
    app.post_json(INGEST, "/v1/orders", &json!({"order_id": "o2"}))
        .await;

    let created = register("o1", parcel.clone()).await;
    assert_eq!(created.status, 201, "{}", created.json);
    let shipments = created.json["shipments"].as_array().unwrap();
    assert!(
        shipments
            .iter()
            .any(|s| s["tracking_number"] == "SF100" && s["carrier"] == "sf-express")
    );
    assert_eq!(register("o1", parcel.clone()).await.status, 200);
    assert_problem(
        &register("o2", parcel.clone()).await,
        409,
        "belongs to order o1",
    );
    assert_problem(
        &register(
            "o1",
            json!({"carrier": "SF_Express", "tracking_number": "1"}),
        )
        .await,
        422,
        "slug",
    );
    assert_problem(
        &register(
            "o1",
            json!({"carrier": "ups", "tracking_number": "1", "x": 1}),
        )
        .await,
        422,
        "unknown field",
    );
    assert_eq!(
        app.post_json(READ, "/v1/orders/o1/shipments", &parcel)
            .await
            .status,
        403
    );

    // Now an event needs no order_id.
    let ev = json!({"carrier": "sf-express", "tracking_number": "SF100", "status": "picked_up",
        "occurred_at": "2026-11-27T10:02:00+08:00"});
    let a = app.post_json(INGEST, "/v1/events", &ev).await;
    assert_eq!(a.json["accepted"], 1, "{}", a.json);
    let order = app.get(READ, "/v1/orders/o1").await;
    assert_eq!(order.json["status"], "picked_up");
}

fn cloud_event(id: &str, status: &str) -> serde_json::Value {
    json!({
        "specversion": "1.0", "id": id, "source": "/warehouse/sz-1",
        "type": "com.example.parcel.scanned", "time": "2026-11-27T10:02:00+08:00",
        "datacontenttype": "application/json",
        "data": {"order_id": "ce1", "carrier": "zto-express", "tracking_number": "ZT1", "status": status}
    })
}

#[tokio::test]
async fn cloudevents_structured_batched_and_binary_deduplicate_on_source_and_id() {
    let app = spawn_app().await;
    let structured = cloud_event("1", "picked_up").to_string();
    let a = app
        .post_events(INGEST, "application/cloudevents+json", structured.clone())
        .await;
    assert_eq!(
        (a.status, &a.json["accepted"]),
        (200, &json!(1)),
        "{}",
        a.json
    );
    let again = app
        .post_events(
            INGEST,
            "application/cloudevents+json; charset=utf-8",
            structured,
        )
        .await;
    assert_eq!(again.json["duplicates"], 1);

    let batch = json!([cloud_event("1", "picked_up"), cloud_event("2", "in_transit"), {"specversion": "1.0"}]);
    let b = app
        .post_events(
            INGEST,
            "application/cloudevents-batch+json",
            batch.to_string(),
        )
        .await;
    assert_eq!(b.json["accepted"], 1, "{}", b.json);
    assert_eq!(b.json["duplicates"], 1);
    assert_eq!(b.json["rejected"][0]["index"], 2);
    assert!(
        b.json["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("id is required")
    );

    let binary = app
        .send(
            app.client
                .post(format!("{}/v1/events", app.base))
                .bearer_auth(INGEST)
                .header("content-type", "application/json")
                .header("ce-specversion", "1.0")
                .header("ce-id", "3")
                .header("ce-source", "/warehouse/sz-1")
                .header("ce-type", "com.example.parcel.scanned")
                .body(
                    json!({"order_id": "ce1", "carrier": "zto-express", "tracking_number": "ZT1",
                        "status": "out_for_delivery", "occurred_at": "2026-11-28T09:00:00+08:00"})
                    .to_string(),
                ),
        )
        .await;
    assert_eq!(binary.json["accepted"], 1, "{}", binary.json);
    let order = app.get(READ, "/v1/orders/ce1").await;
    assert_eq!(order.json["status"], "out_for_delivery");
    let tl = app.get(READ, "/v1/orders/ce1/events").await;
    assert_eq!(tl.json["events"].as_array().unwrap().len(), 3);

    let bad = app
        .post_events(
            INGEST,
            "application/cloudevents+json",
            cloud_event("", "picked_up").to_string(),
        )
        .await;
    assert_problem(&bad, 422, "id must not be empty");
    let _ = ADMIN;
}
