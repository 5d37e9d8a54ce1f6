//! A Waybill server on a fresh store and a free port, for the benchmark phases that
//! talk HTTP to it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use waybill_server::delivery::DeliverySettings;
use waybill_server::pages::Links;
use waybill_server::streams::StreamSettings;
use waybill_server::{ApiKeys, AppState, Limits, Role};
use waybill_store::{Store, WriterOptions};

/// The admin key every benchmark client uses.
pub const KEY: &str = "bench-admin-key-0123456789";

pub struct Running {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting and waits (a few seconds at most: a stream may still be open)
    /// for the server to finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let mut server = self.server;
        match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
            Ok(done) => done??,
            Err(_) => server.abort(),
        }
        Ok(())
    }
}

pub async fn start(
    dir: &Path,
    streams: StreamSettings,
    deliveries: DeliverySettings,
) -> anyhow::Result<Running> {
    serve(
        Store::open(dir, WriterOptions::default())?,
        streams,
        deliveries,
    )
    .await
}

/// A server on `store` (either backend).
pub async fn serve(
    store: Store,
    streams: StreamSettings,
    deliveries: DeliverySettings,
) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        engines: waybill_server::engines::Engines::start(&store, streams, deliveries),
        store,
        keys: Arc::new(ApiKeys::default().with(KEY.into(), Role::Admin)),
        links: Arc::new(Links::new(
            &format!("http://{addr}"),
            b"bench-tracking-key",
            Duration::from_secs(3600),
        )),
        limits: Limits::default(),
        bodies: Default::default(),
        sessions: Default::default(),
        stall: Default::default(),
        webhooks: Default::default(),
        cluster: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(waybill_server::run(listener, state, async {
        let _ = stopped.await;
    }));
    Ok(Running { addr, stop, server })
}

/// Ships orders `{prefix}-0` … `{prefix}-{orders - 1}` through `POST {base}/v1/events`:
/// one a request every `pace` when paced, else in NDJSON batches of 100 at once.
pub async fn post_changes(
    client: &reqwest::Client,
    base: &str,
    prefix: &str,
    orders: usize,
    pace: Option<Duration>,
) -> anyhow::Result<()> {
    let url = format!("{base}/v1/events");
    let batch = if pace.is_some() { 1 } else { 100 };
    for chunk in (0..orders).collect::<Vec<_>>().chunks(batch) {
        if let Some(p) = pace {
            tokio::time::sleep(p).await;
        }
        let body: String = chunk
            .iter()
            .map(|i| {
                format!(
                    "{{\"event_type\":\"ship\",\"order_id\":\"{prefix}-{i}\",\"details\":\"\"}}\n"
                )
            })
            .collect();
        let resp = post_ndjson(client, &url, KEY, body).await?;
        anyhow::ensure!(
            resp.status() == 200,
            "POST /v1/events answered {}",
            resp.status()
        );
    }
    Ok(())
}

/// Subscribes `hook_url` to `order.status_changed` through `POST {base}/v1/subscriptions`.
pub async fn subscribe(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    hook_url: &str,
) -> anyhow::Result<()> {
    let resp = client
        .post(format!("{base}/v1/subscriptions"))
        .bearer_auth(key)
        .json(&serde_json::json!({"url": hook_url, "event_types": ["order.status_changed"]}))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 201,
        "subscribing answered {}",
        resp.status()
    );
    Ok(())
}

/// `POST url` with an NDJSON `body` and `key`: how every benchmark client sends events.
pub fn post_ndjson(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: String,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
}
