//! A TCP proxy the tests control, put between a Waybill process and a service it talks
//! to (PostgreSQL, RabbitMQ, Redis) to break the network rather than the process: cut
//! every connection (and refuse new ones) until restored, cut the moment given bytes go
//! by (a `COMMIT`, say: the request reaches the server, its answer never comes back),
//! add latency, and stall some chunks as a lost segment would stall a TCP stream (this
//! machine's kernel has no netem, so loss is played at the proxy: a segment that is lost
//! is retransmitted after the retransmission timeout, and everything behind it waits).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a pattern trips when it goes by.
type Trip = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Knobs {
    /// Refuse new connections (accepted and closed at once).
    down: AtomicBool,
    /// One way, per chunk, in milliseconds.
    latency_ms: AtomicU64,
    /// Chunks stalled as if lost, per thousand.
    stall_per_mille: AtomicU32,
    stalls: AtomicU64,
    /// Armed: the bytes to watch for (client to server) and what they trip.
    armed: Mutex<Option<(Vec<u8>, Trip)>>,
}

#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    knobs: Arc<Knobs>,
    /// Bumped to close every open connection.
    cuts: Arc<watch::Sender<u64>>,
}

impl Proxy {
    /// A proxy on a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            knobs: Arc::default(),
            cuts: Arc::new(watch::channel(0).0),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if p.knobs.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let p = p.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        p.relay(client, server).await;
                    }
                });
            }
        });
        proxy
    }

    /// Closes every connection and refuses new ones, until [`Proxy::restore`].
    pub fn cut(&self) {
        self.knobs.down.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.knobs.down.store(false, Ordering::SeqCst);
    }

    /// When `pattern` next goes from client to server, it is passed on, and then `trip`
    /// runs (before any answer is relayed back).
    pub fn arm(&self, pattern: &[u8], trip: impl FnOnce() + Send + 'static) {
        *self.knobs.armed.lock().unwrap() = Some((pattern.to_vec(), Box::new(trip)));
    }

    pub fn degrade(&self, latency: Duration, stall_per_mille: u32) {
        self.knobs
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
        self.knobs
            .stall_per_mille
            .store(stall_per_mille, Ordering::SeqCst);
    }

    /// Chunks stalled so far.
    pub fn stalls(&self) -> u64 {
        self.knobs.stalls.load(Ordering::SeqCst)
    }

    async fn relay(&self, client: TcpStream, server: TcpStream) {
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let mut cut = self.cuts.subscribe();
        let up = pump(cr, sw, self.knobs.clone(), true);
        let down = pump(sr, cw, self.knobs.clone(), false);
        // Whichever ends first (a side closed, or a cut) ends both: dropping the halves
        // closes the sockets.
        tokio::select! {
            _ = up => {}
            _ = down => {}
            _ = cut.changed() => {}
        }
    }
}

/// Copies `from` to `to`, each chunk delivered `latency` after it was read (chunks keep
/// their order, and a stalled one holds back the rest, as on a TCP stream).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    knobs: Arc<Knobs>,
    client_to_server: bool,
) {
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>, Option<Trip>)>();
    let writer = async move {
        while let Some((due, bytes, trip)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
            if let Some(trip) = trip {
                let _ = to.flush().await;
                trip();
            }
        }
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        // The end of the previous chunk, so a pattern split across two is still seen.
        let mut tail: Vec<u8> = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (buf.as_ptr() as u64);
        let mut last_due = tokio::time::Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = buf[..n].to_vec();
            let mut trip = None;
            if client_to_server {
                let mut seen = std::mem::take(&mut tail);
                seen.extend_from_slice(&chunk);
                let mut armed = knobs.armed.lock().unwrap();
                if armed
                    .as_ref()
                    .is_some_and(|(p, _)| seen.windows(p.len()).any(|w| w == p.as_slice()))
                {
                    trip = armed.take().map(|(_, t)| t);
                }
                tail = seen[seen.len().saturating_sub(16)..].to_vec();
            }
            let mut delay = Duration::from_millis(knobs.latency_ms.load(Ordering::SeqCst));
            let stall = knobs.stall_per_mille.load(Ordering::SeqCst);
            if stall > 0 {
                // xorshift: no dependency, and nothing here needs more.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if (seed % 1000) < u64::from(stall) {
                    knobs.stalls.fetch_add(1, Ordering::SeqCst);
                    delay += Duration::from_millis(200 + seed % 200);
                }
            }
            let due = (tokio::time::Instant::now() + delay).max(last_due);
            last_due = due;
            if tx.send((due, chunk, trip)).is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}
