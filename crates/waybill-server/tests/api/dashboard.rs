//! The operations dashboard over HTTP: signing in with keys, the session cookie, the
//! numbers, and their refresh.

use serde_json::json;

use crate::helpers::{ADMIN, INGEST, READ, TestApp, spawn_app};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(app: &TestApp, key: &str) -> reqwest::Response {
    client()
        .post(format!("{}/dashboard/login", app.base))
        .form(&[("key", key)])
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = client().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn admins_sign_in_and_see_the_numbers_move() {
    let app = spawn_app().await;
    let (status, page) = get(&app, "/dashboard", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("Admin API key"), "the sign-in form");
    assert_eq!(get(&app, "/dashboard?fragment=1", None).await.0, 401);
    assert_eq!(sign_in(&app, "no-such-key-0000000").await.status(), 401);
    assert_eq!(sign_in(&app, READ).await.status(), 403);

    let ok = sign_in(&app, ADMIN).await;
    assert_eq!(ok.status(), 303);
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(
        !set.contains(ADMIN),
        "the key itself never goes to the browser"
    );
    let cookie = set.split(';').next().unwrap().to_owned();

    let (status, page) = get(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"dashboard\"") && page.contains("<svg class=\"bars\""));
    assert!(page.contains("<strong id=\"shipments\">0</strong>"));

    for (o, status, at) in [
        ("d1", "in_transit", "2026-11-27T01:00:00Z"),
        ("d2", "exception", "2026-11-27T01:00:00Z"),
        ("d3", "out_for_delivery", "2026-11-27T01:00:00Z"),
        ("d3", "failed_attempt", "2026-11-27T02:00:00Z"),
    ] {
        app.post_json(
            INGEST,
            "/v1/events",
            &json!({"order_id": o, "carrier": "zto-express", "tracking_number": format!("Z{o}"), "status": status, "occurred_at": at}),
        )
        .await;
    }
    // The rows lag the log by up to a second.
    let mut fragment = String::new();
    for _ in 0..100 {
        fragment = get(&app, "/dashboard?fragment=1", Some(&cookie)).await.1;
        if fragment.contains("<strong id=\"shipments\">3</strong>")
            && fragment.contains("<strong id=\"exceptions\">2</strong>")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        fragment.contains("<strong id=\"shipments\">3</strong>"),
        "{fragment}"
    );
    assert!(
        fragment.contains("<strong id=\"exceptions\">2</strong>"),
        "{fragment}"
    );
    assert!(fragment.contains("<strong id=\"ingest\">4</strong>"));
    assert!(fragment.contains("Zd2") && fragment.contains("Zd3"));
    assert!(
        fragment
            .contains("data-carrier=\"zto-express\"><td>zto-express</td><td>3</td><td>33.3%</td>"),
        "{fragment}"
    );

    let out = client()
        .post(format!("{}/dashboard/logout", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        get(&app, "/dashboard?fragment=1", Some(&cookie)).await.0,
        401,
        "signed out"
    );
}
