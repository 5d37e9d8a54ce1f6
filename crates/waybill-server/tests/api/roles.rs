//! What each role may see, route by route. Every operation in the OpenAPI document is
//! called with no key, an unknown key and each role's key: without a valid key every
//! route but the health and metrics ones answers 401, a key below the route's role is
//! refused (403), and nothing an `ingest` key gets back (a carrier integration's key)
//! carries a customer's data.

use std::time::Duration;

use serde_json::{Value, json};
use waybill_server::Limits;

use crate::helpers::*;

const EMAIL: &str = "hidden.person@example.com";
const PHONE: &str = "+86 139 1234 5678";
const ADDRESS: &str = "Flat 9, 88 Hidden Road";

/// The role each documented operation needs (`None`: no key).
fn needs(method: &str, path: &str) -> Option<&'static str> {
    match (method, path) {
        (_, "/livez" | "/healthz" | "/readyz" | "/metrics") => None,
        ("post", "/v1/events" | "/v1/orders" | "/v1/orders/{order_id}/shipments") => Some("ingest"),
        // CloudEvents without a secret takes an ingest key; the others, their provider's
        // signature (no key at all).
        ("post", "/v1/webhooks/{provider}" | "/v1/webhooks/cloudevents") => Some("ingest"),
        (
            "get",
            "/v1/orders"
            | "/v1/orders/{order_id}"
            | "/v1/orders/{order_id}/events"
            | "/v1/orders/{order_id}/stream",
        ) => Some("read"),
        (_, p) if p.starts_with("/v1/subscriptions") || p.starts_with("/v1/quarantine") => {
            Some("admin")
        }
        ("get", "/v1/stream") => Some("admin"),
        (m, p) => panic!("{m} {p} is not in this test's table: say which role it needs"),
    }
}

/// Sends one request and reads what arrives within a moment (streams never end).
async fn call(app: &TestApp, key: &str, method: &str, path: &str, body: Value) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = app
        .client
        .request(method.clone(), format!("{}{path}", app.base));
    if !key.is_empty() {
        req = req.bearer_auth(key);
    }
    if method == reqwest::Method::POST {
        let kind = if path.starts_with("/v1/webhooks/") {
            "application/cloudevents+json"
        } else {
            "application/json"
        };
        req = req.header("content-type", kind).body(body.to_string());
    }
    let mut resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let mut text = Vec::new();
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(Duration::from_millis(300), resp.chunk()).await
    {
        text.extend_from_slice(&chunk);
    }
    (status, String::from_utf8_lossy(&text).into_owned())
}

fn concrete(path: &str) -> String {
    path.replace("{order_id}", "pii-1")
        .replace("{provider}", "cloudevents")
        .replace("{id}", "1")
}

fn body_for(method: &str, path: &str, key: &str) -> Value {
    match (method, path) {
        ("post", "/v1/events") => json!({"order_id": "pii-1", "carrier": "sf-express",
            "tracking_number": "SF9001", "status": "in_transit"}),
        // A new order of the caller's own, with a customer: the answer must not echo it.
        ("post", "/v1/orders") => json!({"order_id": format!("pii-{}", &key[..4]),
            "customer": {"email": EMAIL, "phone": PHONE}, "metadata": {"address": ADDRESS}}),
        ("post", "/v1/orders/{order_id}/shipments") => {
            json!({"carrier": "sf-express", "tracking_number": "SF9002"})
        }
        ("post", "/v1/webhooks/{provider}" | "/v1/webhooks/cloudevents") => {
            json!({"specversion": "1.0", "id": "ce-1",
            "source": "test", "type": "com.example.tracking", "data": {}})
        }
        _ => json!({}),
    }
}

#[tokio::test]
async fn every_route_shows_each_role_only_what_it_may() {
    let app = spawn_app_full(Limits::default(), Default::default()).await;
    let order = json!({"order_id": "pii-1", "customer": {"email": EMAIL, "phone": PHONE},
        "metadata": {"address": ADDRESS}});
    assert_eq!(app.post_json(ADMIN, "/v1/orders", &order).await.status, 201);
    let parcel = json!({"carrier": "sf-express", "tracking_number": "SF9000"});
    let linked = app
        .post_json(ADMIN, "/v1/orders/pii-1/shipments", &parcel)
        .await;
    assert_eq!(linked.status, 201, "{}", linked.json);

    let doc = app
        .send(app.client.get(format!("{}/openapi.json", app.base)))
        .await
        .json;
    let mut read_saw_the_customer = false;
    let mut calls = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let needed = needs(method, path);
            // No key and an unknown key: refused as unauthenticated wherever a role is
            // needed, whatever the route would do next.
            for key in ["", "not-a-key-but-long-enough"] {
                let body = body_for(method, path, "anon");
                let (status, text) = call(&app, key, method, &concrete(path), body).await;
                calls += 1;
                let what = format!("{method} {path} with key {key:?}: {status} {text:.200}");
                if needed.is_some() {
                    assert_eq!(status, 401, "{what}");
                } else {
                    assert_ne!(status, 401, "{what}");
                }
            }
            for (key, role) in [(INGEST, "ingest"), (READ, "read")] {
                let body = body_for(method, path, key);
                let (status, text) = call(&app, key, method, &concrete(path), body).await;
                calls += 1;
                let allowed = needed.is_none_or(|n| n == role);
                let what = format!("{method} {path} with the {role} key: {status} {text:.300}");
                if allowed {
                    assert_ne!(status, 403, "{what}");
                } else {
                    assert_eq!(status, 403, "{what}");
                }
                if role == "ingest" {
                    for secret in [EMAIL, PHONE, ADDRESS, "tracking_url", "?t="] {
                        assert!(!text.contains(secret), "{what} shows {secret:?}");
                    }
                }
                read_saw_the_customer |= role == "read" && text.contains(EMAIL);
            }
        }
    }
    assert!(
        calls >= 80,
        "every documented operation was called: {calls}"
    );
    // The check above can fail: the same data is there for a key allowed to read it.
    assert!(read_saw_the_customer);
}
