//! Server-sent events: live updates of an order and the firehose, resumed with
//! `Last-Event-ID` without gaps or repeats, and slow clients cut off.

use std::time::Duration;

use serde_json::{Value, json};
use waybill_server::Limits;
use waybill_server::streams::StreamSettings;

use crate::helpers::{
    ADMIN, INGEST, READ, TestApp, assert_problem, spawn_app, spawn_app_streams, test_webhooks,
};

#[derive(Debug, Clone)]
struct Message {
    id: Option<i64>,
    event: String,
    data: Value,
}

/// Reads a `text/event-stream` response message by message.
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(app: &TestApp, key: &str, path: &str, last_event_id: Option<i64>) -> Self {
        let mut req = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(key);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// The next message (heartbeat comments skipped); `None` when the stream ends or
    /// nothing comes for a few seconds.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && id.is_none() {
                    continue; // a heartbeat
                }
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return Some(Message { id, event, data });
            }
            match tokio::time::timeout(Duration::from_secs(5), self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.next().await {
                Some(m) => out.push(m),
                None => break,
            }
        }
        out
    }
}

fn seed(order: &str, t: &str) -> Value {
    json!({"event_type": t, "order_id": order, "details": ""})
}

#[tokio::test]
async fn an_order_stream_resumes_after_a_disconnect_without_gaps_or_repeats() {
    let app = spawn_app().await;
    app.post_json(INGEST, "/v1/orders", &json!({"order_id": "o1"}))
        .await;
    let mut live = Sse::open(&app, READ, "/v1/orders/o1/stream", None).await;
    let ready = live.next().await.unwrap();
    assert_eq!(ready.event, "ready");
    // Another order's changes never reach this stream.
    app.post_json(INGEST, "/v1/events", &seed("other", "ship"))
        .await;
    app.post_json(INGEST, "/v1/events", &seed("o1", "ship"))
        .await;
    let first = live.take(2).await;
    let kinds: Vec<_> = first.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(kinds, ["shipment.status_changed", "order.status_changed"]);
    assert_eq!(first[1].data["data"]["status"], "shipped");
    assert_eq!(first[1].data["data"]["order_id"], "o1");
    assert_eq!(first[1].data["type"], "order.status_changed");
    assert_eq!(first[1].data["id"], first[1].id.unwrap());
    drop(live); // the client goes away mid-stream

    for t in ["received", "delivered"] {
        app.post_json(INGEST, "/v1/events", &seed("o1", t)).await;
        app.post_json(INGEST, "/v1/events", &seed("other", t)).await;
    }
    let last = first[1].id.unwrap();
    let mut resumed = Sse::open(&app, READ, "/v1/orders/o1/stream", Some(last)).await;
    let rest = resumed.take(5).await;
    let kinds: Vec<_> = rest.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "shipment.status_changed",
            "order.status_changed",
            "shipment.status_changed",
            "shipment.delivered",
            "order.status_changed",
        ]
    );
    let ids: Vec<i64> = rest.iter().map(|m| m.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > last);
    assert!(rest.iter().all(|m| m.data["data"]["order_id"] == "o1"));
    assert_eq!(rest[4].data["data"]["status"], "delivered");

    // And it goes on live after the catch-up.
    app.post_json(INGEST, "/v1/events", &seed("o1", "delivered"))
        .await; // a duplicate
    app.post_json(
        INGEST,
        "/v1/events",
        &json!({"order_id": "o1", "carrier": "ups", "tracking_number": "1Z1", "status": "exception"}),
    )
    .await;
    let more = resumed.take(2).await;
    assert_eq!(more[0].event, "shipment.status_changed");
    assert_eq!(more[0].data["data"]["tracking_number"], "1Z1");
    assert_eq!(more[1].event, "shipment.exception");
}

#[tokio::test]
async fn the_firehose_is_for_admins_and_filters_by_type() {
    let app = spawn_app().await;
    let a = app.get(READ, "/v1/stream").await;
    assert_eq!(a.status, 403);
    assert_problem(
        &app.get(ADMIN, "/v1/stream?types=parcel.*").await,
        400,
        "parcel.*",
    );
    assert_problem(&app.get(READ, "/v1/orders/nope/stream").await, 404, "nope");
    let bad = app
        .send(
            app.client
                .get(format!("{}/v1/stream", app.base))
                .bearer_auth(ADMIN)
                .header("last-event-id", "abc"),
        )
        .await;
    assert_problem(&bad, 400, "Last-Event-ID");

    let mut deliveries = Sse::open(&app, ADMIN, "/v1/stream?types=shipment.delivered", None).await;
    assert_eq!(deliveries.next().await.unwrap().event, "ready");
    for (o, t) in [
        ("a", "ship"),
        ("b", "ship"),
        ("a", "delivered"),
        ("b", "received"),
        ("b", "delivered"),
    ] {
        app.post_json(INGEST, "/v1/events", &seed(o, t)).await;
    }
    let got = deliveries.take(2).await;
    let orders: Vec<_> = got
        .iter()
        .map(|m| m.data["data"]["order_id"].clone())
        .collect();
    assert_eq!(orders, [json!("a"), json!("b")]);
    assert!(got.iter().all(|m| m.event == "shipment.delivered"));
}

#[tokio::test]
async fn a_slow_client_is_cut_off_and_catches_up_by_resuming() {
    let streams = StreamSettings {
        buffer: 2,
        heartbeat: Duration::from_millis(200),
    };
    let app = spawn_app_streams(Limits::default(), test_webhooks(), streams).await;
    let mut slow = Sse::open(&app, ADMIN, "/v1/stream", None).await;
    let ready = slow.next().await.unwrap();
    // Many changes in one commit: far more than the client's two-message buffer.
    let ndjson: String = (0..200)
        .map(|i| format!("{}\n", seed(&format!("o{i}"), "ship")))
        .collect();
    let a = app
        .post_events(INGEST, "application/x-ndjson", ndjson)
        .await;
    assert_eq!(a.json["accepted"], 200);
    let mut seen = vec![];
    let mut lagged = false;
    while let Some(m) = slow.next().await {
        if m.event == "lagged" {
            lagged = true;
            break;
        }
        seen.push(m.id.unwrap());
    }
    assert!(lagged, "the client was not cut off");
    assert!(
        slow.next().await.is_none(),
        "the stream ends after `lagged`"
    );

    // Resuming from the last message received delivers the rest: 200 orders × 3 events.
    let from = seen.last().copied().unwrap_or(ready.id.unwrap());
    let mut again = Sse::open(&app, ADMIN, "/v1/stream", Some(from)).await;
    let rest = again.take(600 - seen.len()).await;
    let mut all: Vec<i64> = seen.clone();
    all.extend(rest.iter().map(|m| m.id.unwrap()));
    assert_eq!(all.len(), 600, "every domain event exactly once");
    assert!(all.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn an_idle_stream_sends_heartbeats() {
    let streams = StreamSettings {
        buffer: 16,
        heartbeat: Duration::from_millis(100),
    };
    let app = spawn_app_streams(Limits::default(), test_webhooks(), streams).await;
    app.post_json(INGEST, "/v1/orders", &json!({"order_id": "quiet"}))
        .await;
    let mut s = Sse::open(&app, READ, "/v1/orders/quiet/stream", None).await;
    assert_eq!(s.next().await.unwrap().event, "ready");
    let beat = tokio::time::timeout(Duration::from_secs(2), s.resp.chunk())
        .await
        .expect("a heartbeat within two seconds")
        .unwrap()
        .unwrap();
    assert!(beat.starts_with(b":"), "{beat:?}");
}

/// The header timeout closes idle connections, but a stream is an answer still being
/// written: it outlives the timeout many times over and keeps delivering.
#[tokio::test]
async fn streams_outlive_the_header_timeout() {
    let limits = Limits {
        transport: waybill_server::transport::Transport {
            header_timeout: Duration::from_millis(200),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = spawn_app_streams(limits, test_webhooks(), StreamSettings::default()).await;
    app.post_json(INGEST, "/v1/orders", &json!({"order_id": "long"}))
        .await;
    let mut s = Sse::open(&app, READ, "/v1/orders/long/stream", None).await;
    assert_eq!(s.next().await.unwrap().event, "ready");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.post_json(INGEST, "/v1/events", &seed("long", "ship"))
        .await;
    let m = s
        .next()
        .await
        .expect("still streaming after 7 header timeouts");
    assert_eq!(m.data["data"]["order_id"], "long", "{:?}", m.data);
}
