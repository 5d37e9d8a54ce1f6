//! The HTTP transport: accepting connections and holding them to account. A client
//! that opens a socket and says nothing, sends half a header, trickles a body or sits
//! idle on a keep-alive connection would otherwise hold a socket (and its buffers) for
//! ever, and many of them would hold the process.
//!
//! - Each connection waits for a permit: at most [`Transport::max_connections`] are
//!   served at once; the rest wait in the kernel's backlog.
//! - A request's headers must arrive within [`Transport::header_timeout`], counted from
//!   the moment the connection opened or its previous answer was sent, so the same
//!   limit closes idle keep-alive connections.
//! - Headers are limited to [`Transport::max_header_bytes`].
//! - A body must arrive within [`Transport::body_timeout`] (see
//!   `crate::routes::read_body`), and the bodies being read hold at most
//!   [`Transport::max_inflight_body_bytes`] between them ([`BodyBudget`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Limits on connections and on what they may hold.
#[derive(Debug, Clone)]
pub struct Transport {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub max_header_bytes: usize,
    pub body_timeout: Duration,
    pub max_inflight_body_bytes: usize,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            body_timeout: Duration::from_secs(60),
            max_inflight_body_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The bytes of request bodies being read, across all connections. Each body takes
/// permits as its bytes arrive and gives them back when its buffer is dropped.
#[derive(Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))))
    }

    /// Takes `n` bytes of the budget; `None` when it is spent.
    pub fn take(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.0.clone().try_acquire_many_owned(n).ok()
    }

    pub fn empty_permit(&self) -> OwnedSemaphorePermit {
        self.0
            .clone()
            .try_acquire_many_owned(0)
            .expect("zero permits are always there")
    }
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(Transport::default().max_inflight_body_bytes)
    }
}

/// How long a shutdown waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` until `shutdown` resolves, then lets in-flight requests finish (for at
/// most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    transport: &Transport,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(transport.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            app.clone(),
            transport.clone(),
            stopping.clone(),
            slot,
        ));
    }
    // New connections are refused from here on, not left waiting in the backlog.
    drop(listener);
    let _ = stop.send(true);
    // Every connection gives its slot back when it ends: wait for all of them, but not
    // for ever (a stream is an answer that never ends by itself).
    let all = u32::try_from(transport.max_connections.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::info!(
            ?DRAIN,
            "connections still open after the drain; closing them"
        );
    }
    Ok(())
}

async fn connection(
    stream: tokio::net::TcpStream,
    app: Router,
    transport: Transport,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(transport.header_timeout)
        .max_buf_size(transport.max_header_bytes.max(8192));
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            changed = stopping.changed() => {
                conn.as_mut().graceful_shutdown();
                if changed.is_err() {
                    // The server is gone: finish this connection without listening.
                    let _ = conn.as_mut().await;
                    return;
                }
            }
        }
    }
}
