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
    assert!(page.contains("id=\"dashboard\"") && page.contains("<table class=\"bars\""));
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
            .contains("data-carrier=\"zto-express\"><td>ZTO Express</td><td>3</td><td>33.3%</td>"),
        "{fragment}"
    );
    // Words, not slugs, and times to the minute (the full instant in `datetime`).
    assert!(fragment.contains(">In transit</th>"), "{fragment}");
    assert!(fragment.contains(">Problem in transit</td>"), "{fragment}");
    assert!(
        !fragment.contains(">in_transit<") && !fragment.contains(">none<"),
        "{fragment}"
    );
    assert!(!fragment.contains(">exception<"), "{fragment}");
    let shown = fragment.split("<time datetime=\"").nth(1).unwrap();
    let (full, short) = shown.split_once("\">").unwrap();
    let short = &short[..short.find('<').unwrap()];
    assert_eq!(short.len(), "2026-11-27 01:00".len(), "{shown}");
    assert!(full.starts_with(&short[..10]), "{full} {short}");

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

/// Rows in the store's list of signed-out sessions, read from its SQLite file.
fn signed_out_rows(app: &TestApp) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        app.dir.path().join("waybill.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row("SELECT count(*) FROM signed_out", [], |r| r.get(0))
        .unwrap()
}

async fn logout(app: &TestApp, cookie: &str) -> u16 {
    client()
        .post(format!("{}/dashboard/logout", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The probe's attack: sign-outs of made-up sessions, each with a unique id of any
/// size and a far expiry, were all kept. Only a validly signed, open session is
/// recorded, once; the signed-out cookie spelt another way does not come back.
#[tokio::test]
async fn only_real_sessions_are_signed_out_and_a_sign_out_sticks() {
    let app = spawn_app().await;
    let big = "a".repeat(16 * 1024);
    for n in 0..40 {
        let forged = format!("wb_session=9999999999999999.{n}{big}.x");
        assert_eq!(logout(&app, &forged).await, 303);
    }
    let shaped = format!(
        "wb_session=9999999999999999.{}.{}",
        "0".repeat(32),
        "0".repeat(64)
    );
    assert_eq!(logout(&app, &shaped).await, 303);
    assert_eq!(signed_out_rows(&app), 0, "nothing forged is kept");

    let set = sign_in(&app, ADMIN).await;
    let cookie = set.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        get(&app, "/dashboard?fragment=1", Some(&cookie)).await.0,
        200
    );
    assert_eq!(logout(&app, &cookie).await, 303);
    assert_eq!(logout(&app, &cookie).await, 303, "a replayed sign-out");
    assert_eq!(signed_out_rows(&app), 1);
    let id = cookie.strip_prefix("wb_session=").unwrap();
    for again in [
        cookie.clone(),
        format!("wb_session=0{id}"),
        format!("wb_session=+{id}"),
        format!("wb_session=00{id}"),
    ] {
        assert_eq!(
            get(&app, "/dashboard?fragment=1", Some(&again)).await.0,
            401,
            "{again}"
        );
    }
}

/// The probe's 500: a parcel registered with no scans yet, and a scan carrying only a
/// carrier's raw status, both have no status, and the overview's sums came out NULL.
#[tokio::test]
async fn parcels_with_no_status_yet_do_not_break_the_dashboard() {
    let app = spawn_app().await;
    let order = app
        .post_json(ADMIN, "/v1/orders", &json!({"order_id": "n1"}))
        .await;
    assert_eq!(order.status, 201, "{:?}", order.json);
    let parcel = json!({"carrier": "dhl", "tracking_number": "JD0001"});
    let linked = app
        .post_json(ADMIN, "/v1/orders/n1/shipments", &parcel)
        .await;
    assert!(linked.status < 300, "{:?}", linked.json);
    let raw_only = json!({"order_id": "n2", "carrier": "sf-express",
        "tracking_number": "SF0002", "raw_status": "X-UNKNOWN"});
    let a = app.post_json(INGEST, "/v1/events", &raw_only).await;
    assert_eq!(a.status, 200, "{:?}", a.json);

    let set = sign_in(&app, ADMIN).await;
    let cookie = set.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    // The rows lag the log by up to a second: wait until both parcels are counted.
    let mut last = (0, String::new());
    for _ in 0..100 {
        last = get(&app, "/dashboard?fragment=1", Some(&cookie)).await;
        assert_eq!(last.0, 200, "{}", last.1);
        if last.1.contains("<td>DHL Express</td>") && last.1.contains("<td>SF Express</td>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        last.1
            .contains("data-carrier=\"dhl\"><td>DHL Express</td><td>1</td><td>0.0%</td>"),
        "{}",
        last.1
    );
}

/// The sign-in form takes no key: its body is capped far below the API's, so slow
/// strangers cannot spend the budget all bodies share.
#[tokio::test]
async fn the_sign_in_form_takes_only_a_small_body() {
    let app = spawn_app().await;
    let big = format!("key={}", "k".repeat(8 * 1024));
    let r = client()
        .post(format!("{}/dashboard/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}
