//! Health, readiness, metrics and the OpenAPI document.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn health_endpoints_answer_without_a_key() {
    let app = spawn_app().await;
    for path in ["/livez", "/healthz", "/readyz"] {
        let a = app
            .send(app.client.get(format!("{}{path}", app.base)))
            .await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.json["status"], "ok");
    }
}

async fn metrics(app: &TestApp) -> String {
    let r = app.client.get(format!("{}/metrics", app.base)).send().await;
    r.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_ingested_events() {
    let app = spawn_app().await;
    app.post_events(
        INGEST,
        "application/json",
        json!({"order_id": "m", "status": "picked_up"}).to_string(),
    )
    .await;
    let text = metrics(&app).await;
    assert!(
        text.contains("waybill_events_total{outcome=\"accepted\"}"),
        "{text}"
    );
    assert!(text.contains("waybill_http_requests_total"), "{text}");
    assert!(text.contains("waybill_write_queue_events 0"), "{text}");
}

/// Any token is a valid HTTP method. Each one used to become a label of its own, kept
/// for good: a client could grow `/metrics` (and the process) without bound.
#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let app = spawn_app().await;
    let long = "X".repeat(10_000);
    for name in ["BREW", "PROPFIND", long.as_str()] {
        let method = reqwest::Method::from_bytes(name.as_bytes()).unwrap();
        let a = app
            .send(
                app.client
                    .request(method, format!("{}/v1/orders", app.base)),
            )
            .await;
        assert!(a.status >= 400, "{name:.20}: {}", a.status);
    }
    let text = metrics(&app).await;
    assert!(!text.contains("BREW") && !text.contains("PROPFIND"));
    assert!(!text.contains("XXXXXXXX"));
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(text.contains("method=\"GET\""), "{text}");
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let doc = app
        .send(app.client.get(format!("{}/openapi.json", app.base)))
        .await
        .json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/events", "post"),
        ("/v1/orders", "post"),
        ("/v1/orders", "get"),
        ("/v1/orders/{order_id}", "get"),
        ("/v1/orders/{order_id}/events", "get"),
        ("/livez", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    assert!(doc["components"]["schemas"]["EventInput"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn unknown_routes_methods_and_paths_are_problems_too() {
    let app = spawn_app().await;
    let a = app.get(READ, "/v1/nothing-here").await;
    assert_problem(&a, 404, "no route /v1/nothing-here");
    let a = app
        .send(
            app.client
                .delete(format!("{}/v1/events", app.base))
                .bearer_auth(ADMIN),
        )
        .await;
    assert_problem(&a, 405, "DELETE is not allowed");
    let a = app.get(READ, "/v1/orders/%FF").await;
    assert_problem(&a, 400, "order id in the path");
    // The pages and the provider webhooks answer problems too, never plain text.
    for (method, path, needle) in [
        ("GET", "/track/o1?t=a&t=b", "duplicate field"),
        ("GET", "/track/%FF?t=a", "the path"),
        ("GET", "/track/o1/events?t=a&t=b", "duplicate field"),
        ("GET", "/track?lang=zh&lang=en", "duplicate field"),
        ("GET", "/dashboard?fragment=x", "fragment"),
        ("POST", "/v1/webhooks/%FF", "the path"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let a = app
            .send(app.client.request(method, format!("{}{path}", app.base)))
            .await;
        assert_problem(&a, 400, needle);
    }
    // The scheme is case-insensitive.
    let a = app
        .send(
            app.client
                .get(format!("{}/v1/orders?limit=1", app.base))
                .header("authorization", format!("bearer {READ}")),
        )
        .await;
    assert_eq!(a.status, 200);
}
