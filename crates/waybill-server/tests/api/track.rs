//! The customer tracking page over HTTP: signed links, the page's content, languages,
//! the fragment a live update swaps in, the token-authorised stream, the assets.

use std::time::Duration;

use serde_json::json;
use waybill_core::Timestamp;

use crate::helpers::{ADMIN, INGEST, TestApp, spawn_app, test_links};

async fn page(
    app: &TestApp,
    url: &str,
    accept_language: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = app.client.get(url);
    if let Some(l) = accept_language {
        req = req.header("accept-language", l);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn order_with_parcel(app: &TestApp) -> String {
    let created = app
        .post_json(
            ADMIN,
            "/v1/orders",
            &json!({"order_id": "T-1", "customer": {"email": "li@example.com", "phone": "13800000000"}}),
        )
        .await;
    for (status, at, loc) in [
        ("picked_up", "2026-11-26T10:02:00+08:00", "深圳市南山区"),
        ("in_transit", "2026-11-26T20:00:00+08:00", "广州转运中心"),
    ] {
        app.post_json(
            INGEST,
            "/v1/events",
            &json!({"order_id": "T-1", "carrier": "sf-express", "tracking_number": "SF777", "status": status, "occurred_at": at, "location": loc}),
        )
        .await;
    }
    created.json["tracking_url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_tracking_link_shows_the_order_without_personal_data() {
    let app = spawn_app().await;
    let url = order_with_parcel(&app).await;
    let (status, headers, html) = page(&app, &url, Some("zh-CN,zh;q=0.9")).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(html.contains("运输中"), "the status in words");
    assert!(html.contains("class=\"stepper\""));
    assert!(html.contains("SF777") && html.contains("sf-express"));
    assert!(html.contains("广州转运中心"));
    // Newest first.
    assert!(html.find("广州转运中心").unwrap() < html.find("深圳市南山区").unwrap());
    assert!(html.contains("datetime=\"2026-11-26T20:00:00+08:00\""));
    assert!(
        !html.contains("li@example.com") && !html.contains("13800000000"),
        "no personal data"
    );
    assert!(!html.contains("<script>"), "no inline script");

    let (_, _, en) = page(&app, &url, Some("en-US")).await;
    assert!(en.contains("In transit") && en.contains("lang=\"en\""));
    let (_, _, switched) = page(&app, &format!("{url}&lang=zh"), Some("en-US")).await;
    assert!(switched.contains("运输中"));
    let (_, _, fragment) = page(&app, &format!("{url}&fragment=1"), None).await;
    assert!(fragment.starts_with("<h1>") && !fragment.contains("<html"));
}

#[tokio::test]
async fn wrong_and_expired_links_are_refused() {
    let app = spawn_app().await;
    let url = order_with_parcel(&app).await;
    let base = format!("{}/track/T-1", app.base);
    let (status, _, html) = page(&app, &base, Some("en")).await;
    assert_eq!(status, 403);
    assert!(html.contains("not valid or has expired"));
    let other = test_links(&app.base).token("T-2", waybill_formats::clock::now());
    assert_eq!(page(&app, &format!("{base}?t={other}"), None).await.0, 403);
    let tampered = url.replace("?t=", "?t=1");
    assert_eq!(page(&app, &tampered, None).await.0, 403);
    let old = test_links(&app.base).token(
        "T-1",
        Timestamp(waybill_formats::clock::now().as_micros() - 7200 * 1_000_000),
    );
    assert_eq!(
        page(&app, &format!("{base}?t={old}"), None).await.0,
        403,
        "expired"
    );
    let stream = app
        .client
        .get(format!("{base}/events?t=bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 403);
    let missing = test_links(&app.base).url("nope", waybill_formats::clock::now());
    assert_eq!(page(&app, &missing, None).await.0, 404);
}

#[tokio::test]
async fn the_page_follows_the_order_live_and_its_assets_are_served() {
    let app = spawn_app().await;
    let url = order_with_parcel(&app).await;
    let (path, token) = url.split_once("?t=").unwrap();
    let mut stream = app
        .client
        .get(format!("{path}/events?t={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    app.post_json(
        INGEST,
        "/v1/events",
        &json!({"order_id": "T-1", "carrier": "sf-express", "tracking_number": "SF777", "status": "delivered", "occurred_at": "2026-11-27T09:00:00+08:00"}),
    )
    .await;
    let mut seen = String::new();
    while !seen.contains("shipment.delivered") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("the stream moves")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (_, _, fragment) = page(&app, &format!("{url}&fragment=1"), Some("en")).await;
    assert!(fragment.contains("Delivered"));

    let js = app
        .client
        .get(format!("{}/assets/track.js", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().await.unwrap().contains("EventSource"));
    let css = app
        .client
        .get(format!("{}/assets/track.css", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn the_lookup_form_leads_a_customer_to_the_signed_page() {
    let app = spawn_app().await;
    order_with_parcel(&app).await;
    let (status, headers, html) = page(&app, &format!("{}/track?lang=en", app.base), None).await;
    assert_eq!(status, 200);
    assert!(html.contains("<form method=\"post\""));
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("form-action 'self'")
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let submit = |order: &str, contact: &str| {
        no_redirects
            .post(format!("{}/track?lang=en", app.base))
            .form(&[("order_id", order), ("contact", contact)])
            .send()
    };
    for contact in ["LI@example.com", "+86 138 0000 0000"] {
        let found = submit("T-1", contact).await.unwrap();
        assert_eq!(found.status(), 303, "{contact}");
        let location = found.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&format!("{}/track/T-1?t=", app.base)));
        assert_eq!(page(&app, &location, None).await.0, 200);
    }
    let wrong_contact = submit("T-1", "someone@else.com").await.unwrap();
    let no_order = submit("T-404", "li@example.com").await.unwrap();
    assert_eq!(
        (wrong_contact.status(), no_order.status()),
        (
            reqwest::StatusCode::NOT_FOUND,
            reqwest::StatusCode::NOT_FOUND
        )
    );
    let (a, b) = (
        wrong_contact.text().await.unwrap(),
        no_order.text().await.unwrap(),
    );
    assert_eq!(a, b, "the same answer either way");
    assert!(a.contains("No order matches"));
}

/// `/` is a page, not a 404: what this is and the ways in, each of which answers, in
/// the language asked for, under the same strict policy as the other pages.
#[tokio::test]
async fn the_home_page_says_what_this_is_and_links_the_ways_in() {
    let app = spawn_app().await;
    let (status, headers, body) = page(&app, &format!("{}/?lang=en", app.base), None).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(body.contains("self-hosted engine"), "{body}");
    for href in [
        "/dashboard",
        "/track",
        "/openapi.json",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            body.contains(&format!("href=\"{href}\"")),
            "{href} in {body}"
        );
        let (status, _, _) = page(&app, &format!("{}{href}", app.base), None).await;
        assert_eq!(status, 200, "{href}");
    }
    let (_, _, zh) = page(&app, &format!("{}/", app.base), Some("zh-CN")).await;
    assert!(zh.contains("运营看板") && zh.contains("lang=\"zh"), "{zh}");
    let (_, _, en) = page(&app, &format!("{}/", app.base), Some("en-US,en;q=0.9")).await;
    assert!(en.contains("Dashboard") && !en.contains("运营看板"), "{en}");
}

/// The words a customer reads: the carrier by its name, "Order placed" once though the
/// seed's `create` came after the order existed, a refused link with the language
/// switch, and the stepper told of an exception (its colour hangs on that).
#[tokio::test]
async fn the_page_speaks_in_names_and_says_things_once() {
    let app = spawn_app().await;
    let url = order_with_parcel(&app).await;
    for (t, at) in [("create", 1), ("ship", 2)] {
        let r = app
            .post_json(
                INGEST,
                "/v1/events",
                &json!({"event_type": t, "order_id": "T-1", "details": "", "occurred_at": format!("2026-11-2{at}T08:00:00Z")}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let (_, _, zh) = page(&app, &url, Some("zh-CN")).await;
    assert!(zh.contains(">顺丰速运</span>"), "{zh}");
    assert_eq!(zh.matches(">已下单</span>").count(), 1, "{zh}");
    let (_, _, en) = page(&app, &format!("{url}&lang=en"), None).await;
    assert!(en.contains(">SF Express</span>"), "{en}");
    assert_eq!(en.matches(">Order placed</span>").count(), 1, "{en}");

    app.post_json(
        INGEST,
        "/v1/events",
        &json!({"order_id": "T-1", "carrier": "sf-express", "tracking_number": "SF777", "status": "exception", "occurred_at": "2026-11-27T08:00:00+08:00"}),
    )
    .await;
    let (_, _, now) = page(&app, &url, Some("en")).await;
    assert!(
        now.contains("<ol class=\"stepper\" data-status=\"exception\""),
        "{now}"
    );

    let refused = url.replace("?t=", "?t=9");
    let (status, _, body) = page(&app, &refused, Some("zh-CN")).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("lang=en") && body.contains("English"),
        "{body}"
    );
    let en_link = body
        .split("href=\"")
        .find(|h| h.contains("lang=en"))
        .and_then(|h| h.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let (status, _, body) = page(&app, &format!("{}{en_link}", app.base), None).await;
    assert_eq!(status, 403);
    assert!(body.contains("This tracking link is not valid"), "{body}");
}
