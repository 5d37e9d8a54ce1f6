//! The probe's slow and silent clients, on raw sockets: each is cut off by a limit
//! instead of holding a socket and its memory for ever. The limits are set short here;
//! the defaults are in `waybill_server::transport::Transport`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use waybill_server::Limits;
use waybill_server::transport::Transport;

use crate::helpers::*;

fn short(transport: Transport) -> Limits {
    Limits {
        max_body_bytes: 64 * 1024,
        transport,
        ..Default::default()
    }
}

fn quick() -> Transport {
    Transport {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(500),
        ..Default::default()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; what it said on the way. Fails the
/// test if the connection is still open after `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(read.is_ok(), "still open after {within:?}; got {text:?}");
    text
}

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

#[tokio::test]
async fn silent_half_sent_and_idle_connections_are_closed() {
    let app = spawn_app_with(short(quick())).await;
    // No bytes at all.
    let mut silent = connect(&app).await;
    // Half a header, never finished.
    let mut half = connect(&app).await;
    half.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // A finished request, then an idle keep-alive connection.
    let mut idle = connect(&app).await;
    idle.write_all(request("/livez").as_bytes()).await.unwrap();
    let limit = Duration::from_secs(5);
    assert_eq!(closed_within(&mut silent, limit).await, "");
    closed_within(&mut half, limit).await;
    let answered = closed_within(&mut idle, limit).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(answered.contains(r#""status":"ok""#), "{answered}");
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_and_a_huge_declared_one_refused_at_once() {
    let app = spawn_app_with(short(quick())).await;
    // The API, and the HTML forms (sign-in, the tracking lookup), which take no key.
    for path in ["/v1/events", "/dashboard/login", "/track"] {
        let mut slow = connect(&app).await;
        slow.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {INGEST}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\nkey=abc"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let answer = closed_within(&mut slow, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("body-timeout"), "{path}: {answer}");
    }

    // 100 GB declared to a route that reads bodies, and to a provider webhook.
    for path in ["/v1/events", "/v1/webhooks/aftership"] {
        let mut huge = connect(&app).await;
        huge.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {INGEST}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let answer = closed_within(&mut huge, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
    }
    // A route that refuses before reading the body: the rest is not waited for.
    let mut refused = connect(&app).await;
    refused
        .write_all(
            format!(
                "POST /v1/subscriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {INGEST}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = closed_within(&mut refused, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = spawn_app_with(short(quick())).await;
    let mut s = connect(&app).await;
    let huge = "a".repeat(200 * 1024);
    let req = format!("GET /livez HTTP/1.1\r\nHost: x\r\nCookie: {huge}\r\n\r\n");
    // The server may stop reading before the whole header is written.
    let _ = s.write_all(req.as_bytes()).await;
    let answer = closed_within(&mut s, Duration::from_secs(5)).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

/// Bodies being read share one budget: when it is spent, the next body is refused with
/// 503 and `Retry-After` (as under any overload) instead of taking more memory.
#[tokio::test]
async fn bodies_in_flight_share_a_bounded_budget() {
    let app = spawn_app_with(short(Transport {
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        max_inflight_body_bytes: 100 * 1024,
        ..Default::default()
    }))
    .await;
    let head = |len: usize| {
        format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {INGEST}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // Two clients each send 40 KiB of a 60 KiB body and stop: 80 of 100 KiB held.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&app).await;
        s.write_all(head(60 * 1024).as_bytes()).await.unwrap();
        s.write_all(&vec![b' '; 40 * 1024]).await.unwrap();
        holders.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A third body of 30 KiB does not fit.
    let mut third = connect(&app).await;
    third.write_all(head(30 * 1024).as_bytes()).await.unwrap();
    third.write_all(&vec![b' '; 30 * 1024]).await.unwrap();
    let mut answer = vec![0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after: 1"), "{answer}");
    // The holders give up: their share comes back, and a body fits again.
    drop(holders);
    let event = r#"{"order_id": "b1", "status": "picked_up"}"#;
    let mut ok = 0;
    for _ in 0..50 {
        let a = app
            .post_events(INGEST, "application/json", event.to_owned())
            .await;
        if a.status == 200 {
            ok += 1;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ok, 1, "the budget was given back");
}

/// At most `max_connections` are served at once; the next waits (in the kernel's
/// backlog) and is served as soon as one ends.
#[tokio::test]
async fn connections_beyond_the_cap_wait_their_turn() {
    let app = spawn_app_with(short(Transport {
        max_connections: 2,
        header_timeout: Duration::from_secs(20),
        ..Default::default()
    }))
    .await;
    let first = connect(&app).await;
    let _second = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    third.write_all(request("/livez").as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    let waited = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "the third connection was served beside two others"
    );
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}
