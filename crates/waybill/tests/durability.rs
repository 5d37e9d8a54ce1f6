//! Kill -9 mid-stream: every event the server acknowledged is there after a restart,
//! exactly once. The real binary, a real socket, a real SQLite file.

#[path = "support/dashboard.rs"]
mod dashboard;
#[path = "support/listening.rs"]
mod listening;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

const KEY: &str = "durability-admin-key-0001";

/// Starts `waybill serve` on a free port and waits until it says where it listens.
async fn start(data: &Path) -> (Child, String) {
    start_with(data, &[]).await
}

async fn start_with(data: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("WAYBILL_API_KEYS", format!("admin:{KEY}"))
        .envs(env.iter().copied())
        .env("WAYBILL_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("waybill starts");
    let addr = listening::address(&mut child).await;
    (child, format!("http://{addr}"))
}

fn batch(client: usize, n: usize) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut body = String::new();
    for j in 0..50 {
        let id = format!("c{client}-b{n}-{j}");
        let order = format!("order-{client}-{}", (n * 50 + j) % 40);
        let ev = json!({
            "event_id": id,
            "order_id": order,
            "carrier": "sf-express",
            "tracking_number": format!("SF{client}x{}", (n * 50 + j) % 40),
            "status": "in_transit",
            "occurred_at": format!("2026-11-{:02}T{:02}:{:02}:00+08:00", 1 + n % 20, j % 24, (n * 7 + j) % 60),
            "location": format!("hub {j}"),
        });
        body.push_str(&ev.to_string());
        body.push('\n');
        ids.push(id);
    }
    (ids, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start(dir.path()).await;
    let http = reqwest::Client::new();
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, base, acked) = (http.clone(), base.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            for n in 0.. {
                let (ids, body) = batch(c, n);
                let resp = http
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(KEY)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await;
                // Once the server is killed, requests fail: that is the point.
                let Ok(resp) = resp else { return };
                if resp.status() == 200 {
                    let mut a = acked.lock().unwrap();
                    for (j, id) in ids.into_iter().enumerate() {
                        a.insert(id, format!("order-{c}-{}", (n * 50 + j) % 40));
                    }
                }
            }
        }));
    }
    // Let a good number of batches through, then kill without warning.
    while acked.lock().unwrap().len() < 20_000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap(); // SIGKILL
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let (_child, base) = start(dir.path()).await;
    let orders: HashSet<&String> = acked.values().collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for order in orders {
        let tl: Value = http
            .get(format!("{base}/v1/orders/{order}/events"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in tl["events"].as_array().unwrap() {
            *seen
                .entry(e["event_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let lost: Vec<_> = acked.keys().filter(|id| !seen.contains_key(*id)).collect();
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "acknowledged {}, lost {}, duplicated {}, stored beyond acknowledged {}",
        acked.len(),
        lost.len(),
        doubled.len(),
        seen.len().saturating_sub(acked.len())
    );
    assert!(
        lost.is_empty(),
        "lost acknowledged events: {:?}",
        &lost[..lost.len().min(5)]
    );
    assert!(doubled.is_empty(), "events stored twice: {doubled:?}");
}

/// One request the endpoint got: its `webhook-id`, the status answered, headers, body.
type Hit = (String, u16, axum::http::HeaderMap, String);

/// A webhook endpoint that records each request's `webhook-id` and answers with the
/// status it is told to.
#[derive(Clone, Default)]
struct Endpoint {
    answer: Arc<std::sync::atomic::AtomicU16>,
    got: Arc<Mutex<Vec<Hit>>>,
}

impl Endpoint {
    async fn start(answer: u16) -> (Self, String) {
        let e = Self::default();
        e.answer.store(answer, std::sync::atomic::Ordering::SeqCst);
        let state = e.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let status = state.answer.load(std::sync::atomic::Ordering::SeqCst);
                    let id = headers["webhook-id"].to_str().unwrap().to_owned();
                    state.got.lock().unwrap().push((id, status, headers, body));
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (e, url)
    }

    async fn wait(&self, what: &str, pred: impl Fn(&[Hit]) -> bool) {
        for _ in 0..600 {
            if pred(&self.got.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the endpoint never {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_pending_at_a_crash_arrives_after_restart_with_its_webhook_id() {
    let dir = tempfile::tempdir().unwrap();
    let (endpoint, url) = Endpoint::start(503).await;
    // The endpoint is on loopback: the server must be told that is allowed.
    let (mut child, base) =
        start_with(dir.path(), &[("WAYBILL_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let http = reqwest::Client::new();
    let sub: Value = http
        .post(format!("{base}/v1/subscriptions"))
        .bearer_auth(KEY)
        .json(&json!({"url": url, "event_types": ["order.status_changed"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = sub["secret"].as_str().unwrap().to_owned();
    let resp = http
        .post(format!("{base}/v1/events"))
        .bearer_auth(KEY)
        .json(&json!({"event_type": "ship", "order_id": "crash-1", "details": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    endpoint
        .wait("got a first attempt", |got| !got.is_empty())
        .await;
    child.kill().await.unwrap(); // SIGKILL, with the delivery pending a retry
    endpoint
        .answer
        .store(200, std::sync::atomic::Ordering::SeqCst);

    let (_child, _base) =
        start_with(dir.path(), &[("WAYBILL_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    endpoint
        .wait("got the retry after the restart", |got| {
            got.iter().any(|g| g.1 == 200)
        })
        .await;
    let got = endpoint.got.lock().unwrap().clone();
    assert!(
        got.iter().all(|g| g.0 == got[0].0),
        "one webhook-id throughout"
    );
    let (_, _, headers, body) = got.iter().find(|g| g.1 == 200).unwrap();
    let inbound = waybill_providers::Inbound {
        headers,
        body: body.as_bytes(),
        path: "/hook",
        received_at: waybill_core::Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros() as i64,
        ),
    };
    assert!(waybill_providers::standard_webhooks::verify(secret.as_bytes(), &inbound).is_ok());
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap()["data"]["order_id"],
        "crash-1"
    );
}

/// A sign-out holds after a crash (it is in the store, not in memory), a session still
/// open survives it (the session key is kept in the data directory), and a session ends
/// when the admin key that opened it is no longer configured.
#[tokio::test]
async fn dashboard_sign_outs_survive_a_restart_and_sessions_end_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start(dir.path()).await;
    let kept = dashboard::session(&base, KEY).await;
    let ended = dashboard::session(&base, KEY).await;
    assert_eq!(dashboard::status(&base, &ended).await, 200);
    let out = dashboard::no_redirects()
        .post(format!("{base}/dashboard/logout"))
        .header("cookie", &ended)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(dashboard::status(&base, &ended).await, 401);
    child.kill().await.unwrap(); // SIGKILL

    let (mut child, base) = start(dir.path()).await;
    assert_eq!(
        dashboard::status(&base, &ended).await,
        401,
        "still signed out"
    );
    assert_eq!(
        dashboard::status(&base, &kept).await,
        200,
        "still signed in"
    );
    child.kill().await.unwrap();

    // The admin key is rotated: its sessions end with it.
    let other = "durability-admin-key-0002";
    let keys = format!("admin:{other}");
    let (_child, base) = start_with(dir.path(), &[("WAYBILL_API_KEYS", &keys)]).await;
    assert_eq!(dashboard::status(&base, &kept).await, 401);
    let fresh = dashboard::session(&base, other).await;
    assert_eq!(dashboard::status(&base, &fresh).await, 200);
}
