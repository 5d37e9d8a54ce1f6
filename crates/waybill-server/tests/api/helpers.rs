//! `spawn_app()`: a server on port 0 with a fresh store, and a client that knows its keys.

use std::sync::Arc;

use serde_json::Value;
use waybill_server::delivery::DeliverySettings;
use waybill_server::intake::{Webhooks, names};
use waybill_server::streams::StreamSettings;
use waybill_server::{ApiKeys, AppState, Limits};
use waybill_store::{Store, WriterOptions};

pub const ADMIN: &str = "admin-key-000000000001";
pub const INGEST: &str = "ingest-key-00000000002";
pub const READ: &str = "read-key-0000000000003";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,

    /// The store's data directory.
    pub dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Limits::default()).await
}

/// The key tests sign tracking links with.
pub const TRACKING_KEY: &[u8] = b"test-tracking-key";

pub fn test_links(base: &str) -> waybill_server::pages::Links {
    waybill_server::pages::Links::new(base, TRACKING_KEY, std::time::Duration::from_secs(3600))
}

/// The webhook secret the test server holds for `provider`.
pub fn secret(provider: &str) -> String {
    format!("test-secret-{provider}")
}

/// Every provider switched on with its test secret, except CloudEvents, which then takes
/// an ingest key.
pub fn test_webhooks() -> Webhooks {
    let mut w = Webhooks::default();
    for name in names().filter(|n| *n != "cloudevents") {
        w.set_secret(name, &secret(name)).unwrap();
    }
    w
}

pub async fn spawn_app_with(limits: Limits) -> TestApp {
    spawn_app_full(limits, test_webhooks()).await
}

pub async fn spawn_app_full(limits: Limits, webhooks: Webhooks) -> TestApp {
    spawn_app_streams(limits, webhooks, StreamSettings::default()).await
}

pub async fn spawn_app_streams(
    limits: Limits,
    webhooks: Webhooks,
    streams: StreamSettings,
) -> TestApp {
    spawn_app_config(limits, webhooks, streams, test_deliveries()).await
}

/// Deliveries as tests want them: loopback allowed (the receivers run here), retries
/// in milliseconds.
pub fn test_deliveries() -> DeliverySettings {
    DeliverySettings {
        allow_private: true,
        timeout: std::time::Duration::from_secs(2),
        per_endpoint: 4,
        schedule: [50, 100, 200]
            .map(std::time::Duration::from_millis)
            .to_vec(),
        poll: std::time::Duration::from_millis(50),
        mail: None,
    }
}

pub async fn spawn_app_config(
    limits: Limits,
    webhooks: Webhooks,
    streams: StreamSettings,
    deliveries: DeliverySettings,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_app_in(dir, limits, webhooks, streams, deliveries).await
}

/// A server on the store in `dir` (a restart, when another server used it before).
pub async fn spawn_app_in(
    dir: tempfile::TempDir,
    limits: Limits,
    webhooks: Webhooks,
    streams: StreamSettings,
    deliveries: DeliverySettings,
) -> TestApp {
    // The store of a server that just stopped closes when its last task has let go.
    let mut opened = Store::open(dir.path(), WriterOptions::default());
    for _ in 0..100 {
        match opened {
            Err(waybill_store::StoreError::Locked(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                opened = Store::open(dir.path(), WriterOptions::default());
            }
            _ => break,
        }
    }
    let store = opened.unwrap();
    let keys = ApiKeys::parse(&format!("admin:{ADMIN},ingest:{INGEST},read:{READ}")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        engines: waybill_server::engines::Engines::start(&store, streams, deliveries),
        store,
        keys: Arc::new(keys),
        links: Arc::new(test_links(&base)),
        limits,
        bodies: Default::default(),
        sessions: Default::default(),
        stall: Default::default(),
        webhooks: Arc::new(webhooks),
        cluster: None,
    };
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(waybill_server::run(listener, state, async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),

        dir,
        stop,
        server,
    }
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub json: Value,
}

impl TestApp {
    /// Shuts the server down as a signal would, and waits until `run` returns; gives
    /// back the data directory for a restart.
    pub async fn shutdown(self) -> tempfile::TempDir {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.dir
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            content_type,
            json,
        }
    }

    pub async fn post_events(
        &self,
        key: &str,
        content_type: &str,
        body: impl Into<String>,
    ) -> Answer {
        self.send(
            self.client
                .post(format!("{}/v1/events", self.base))
                .bearer_auth(key)
                .header("content-type", content_type)
                .body(body.into()),
        )
        .await
    }

    pub async fn post_json(&self, key: &str, path: &str, body: &Value) -> Answer {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .bearer_auth(key)
                .json(body),
        )
        .await
    }

    pub async fn get(&self, key: &str, path: &str) -> Answer {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(key),
        )
        .await
    }
}

/// Asserts an RFC 9457 problem with the given status and a detail containing `needle`.
pub fn assert_problem(a: &Answer, status: u16, needle: &str) {
    assert_eq!(a.status, status, "body: {}", a.json);
    assert_eq!(a.content_type, "application/problem+json");
    assert_eq!(a.json["status"], status);
    let detail = a.json["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(needle),
        "detail {detail:?} does not mention {needle:?}"
    );
    assert!(
        a.json["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:waybill:problem:")
    );
}
