//! The scale-out topology, as the README runs it: two `waybill serve` nodes and three
//! `waybill worker` processes (the real binary) on this machine's PostgreSQL, RabbitMQ
//! and Redis. Each test has a database, a virtual host and a Redis prefix of its own.
//!
//! The fault tests stream events through the broker while something breaks — a worker
//! killed with SIGKILL, RabbitMQ restarted, PostgreSQL restarted, Redis stopped and
//! started — then count, from the database, what was lost (confirmed by the broker,
//! never stored) and what was applied twice (stored more than once), and, from the
//! workers' own reports, what the broker delivered again. Lost and duplicated must be 0.
//!
//! Listed as ignored (with what they need) by a plain `cargo test`; `.ci/run` sets
//! `WAYBILL_TEST_DATABASE_URL`, `WAYBILL_TEST_AMQP_URL` and `WAYBILL_TEST_REDIS_URL` and
//! runs them with `-- --ignored`. The tests restart services every
//! other test uses, so they take turns.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use waybill_broker::publish::{Message, Publisher};
use waybill_broker::topology::{self, Topology};

#[path = "support/dashboard.rs"]
mod dashboard;
#[path = "support/proxy.rs"]
mod proxy;
#[path = "../../waybill-store/tests/support/scratch.rs"]
mod scratch;

use proxy::Proxy;

const KEY: &str = "scale-admin-key-000000001";
const PARTITIONS: u16 = 6;

/// One test at a time: they restart what they all share.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL answers");
    tokio::spawn(conn);
    client
}

/// A database, a virtual host, a Redis prefix and a data directory for one topology.
struct Site {
    admin_url: String,
    db: String,
    db_url: String,
    vhost: String,
    amqp_url: String,
    redis_url: String,
    prefix: String,
    data: tempfile::TempDir,
}

impl Site {
    async fn new() -> Self {
        let admin_url = scratch::need("WAYBILL_TEST_DATABASE_URL");
        let amqp = scratch::need("WAYBILL_TEST_AMQP_URL");
        let redis_url = scratch::need("WAYBILL_TEST_REDIS_URL");
        let db = scratch::unique("wbt");
        pg(&admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let db_url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{db}"),
            None => panic!("WAYBILL_TEST_DATABASE_URL needs a database name"),
        };
        let vhost = db.clone();
        assert!(run("rabbitmqctl", &["add_vhost", &vhost]).status.success());
        assert!(
            run(
                "rabbitmqctl",
                &["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]
            )
            .status
            .success()
        );
        let base = amqp.rsplit_once('/').map_or(amqp.as_str(), |(b, _)| b);
        Self {
            admin_url,
            db_url,
            amqp_url: format!("{base}/{vhost}"),
            vhost,
            redis_url,
            prefix: db.clone(),
            db,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_waybill"));
        c.arg("--data")
            .arg(self.data.path())
            .args(args)
            .env("WAYBILL_DATABASE_URL", &self.db_url)
            .env("WAYBILL_AMQP_URL", &self.amqp_url)
            .env("WAYBILL_REDIS_URL", &self.redis_url)
            .env("WAYBILL_REDIS_PREFIX", &self.prefix)
            .env("WAYBILL_PARTITIONS", PARTITIONS.to_string())
            .env("WAYBILL_API_KEYS", format!("admin:{KEY}"))
            .env("WAYBILL_TRACKING_KEY", "scale-tracking-key-0123456789")
            .env("WAYBILL_DB_POOL", "6")
            .env("WAYBILL_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// An API node, once it listens.
    async fn api(&self) -> Node {
        self.api_with(&[]).await
    }

    async fn api_with(&self, env: &[(&str, &str)]) -> Node {
        let mut child = self
            .command(&["serve", "--addr", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .spawn()
            .unwrap();
        let log = follow(&mut child);
        let addr = wait_for(&log, "local=", Duration::from_secs(30))
            .await
            .split("local=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        Node {
            child,
            log,
            base: format!("http://{addr}"),
        }
    }

    /// Worker `index` of `of`, once it consumes.
    async fn worker(&self, index: u16, of: u16) -> Node {
        self.worker_with(index, of, &[]).await
    }

    async fn worker_with(&self, index: u16, of: u16, env: &[(&str, String)]) -> Node {
        let mut child = self
            .command(&[
                "worker",
                "--index",
                &index.to_string(),
                "--workers",
                &of.to_string(),
                "--prefetch",
                "200",
                "--batch",
                "200",
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .spawn()
            .unwrap();
        let log = follow(&mut child);
        let line = wait_for(&log, "worker started", Duration::from_secs(30)).await;
        // Its health endpoint: `/livez`, `/readyz`, `/metrics`.
        let health = line
            .split("health=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .expect("the worker names its health address");
        Node {
            child,
            log,
            base: format!("http://{health}"),
        }
    }

    async fn db(&self) -> tokio_postgres::Client {
        pg(&self.db_url).await
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = run("rabbitmqctl", &["delete_vhost", &self.vhost]);
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db);
        scratch::run_sql(&self.admin_url, sql);
    }
}

struct Node {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    base: String,
}

impl Node {
    /// SIGTERM, and wait for the process to finish what it holds.
    async fn stop(mut self) -> Vec<String> {
        if let Some(pid) = self.child.id() {
            run("kill", &["-TERM", &pid.to_string()]);
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to finish anything.
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
    }
}

/// Collects a child's log lines as they come.
fn follow(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    log
}

/// Polls `check` until it says yes (`Ok`), for at most 30 s; then fails with the last
/// thing it said.
async fn eventually<T>(mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if started.elapsed() > Duration::from_secs(30) => panic!("{last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn wait_for(log: &Arc<Mutex<Vec<String>>>, needle: &str, within: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Some(l) = log.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        assert!(
            started.elapsed() < within,
            "no {needle:?} in the log: {:?}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A field of a worker's final report (`worker stopped … redelivered=3 …`).
fn reported(log: &[String], field: &str) -> u64 {
    log.iter()
        .rev()
        .find(|l| l.contains("worker stopped"))
        .and_then(|l| l.split(&format!("{field}=")).nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn event(order: &str, n: usize) -> (String, String) {
    let kinds = [
        "info_received",
        "picked_up",
        "in_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ];
    let id = format!("{order}-e{n}");
    let body = json!({
        "event_id": id,
        "order_id": order,
        "carrier": "sf-express",
        "tracking_number": format!("SF{}", order.replace('-', "")),
        "status": kinds[n],
        "occurred_at": format!("2026-11-{:02}T08:{:02}:00+08:00", 1 + n, n),
        "location": format!("hub {n}"),
    });
    (id, body.to_string())
}

/// Everything a producer sends: `orders` orders, six events each, interleaved.
fn workload(tag: &str, orders: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for n in 0..6 {
        for o in 0..orders {
            let order = format!("{tag}-{o}");
            let (id, body) = event(&order, n);
            out.push((order, id, body));
        }
    }
    out
}

/// Publishes the workload at about `rate` messages a second, with confirms, riding out
/// a broker that goes away: what was not confirmed is sent again after reconnecting.
/// Returns the ids the broker confirmed (all of them, in the end).
async fn produce(
    amqp: String,
    work: Vec<(String, String, String)>,
    rate: usize,
) -> HashSet<String> {
    let mut confirmed = HashSet::new();
    let mut next = 0;
    let chunk = (rate / 20).max(1);
    while next < work.len() {
        let session = async {
            let conn = waybill_broker::connect(&amqp, "scale-producer").await?;
            let p = Publisher::open(&conn).await?;
            topology::declare(
                p.channel(),
                &Topology {
                    partitions: PARTITIONS,
                    ..Topology::default()
                },
            )
            .await?;
            while next < work.len() {
                let end = (next + chunk).min(work.len());
                let mut pending = Vec::new();
                for (order, id, body) in &work[next..end] {
                    let c = p
                        .send(&Message {
                            exchange: topology::INTAKE,
                            routing_key: order,
                            body: body.as_bytes(),
                            content_type: "application/json",
                            message_id: Some(id),
                            headers: Vec::new(),
                        })
                        .await?;
                    pending.push((id.clone(), c));
                }
                for (id, c) in pending {
                    waybill_broker::publish::confirmed(c).await?;
                    confirmed.insert(id);
                }
                next = end;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, waybill_broker::BrokerError>(())
        };
        if let Err(e) = session.await {
            eprintln!("producer: {e}; reconnecting");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    confirmed
}

/// What the database holds of the workload, once it holds all of it (or time is up).
struct Tally {
    lost: usize,
    duplicated: usize,
}

async fn tally(site: &Site, confirmed: &HashSet<String>, within: Duration) -> Tally {
    let started = Instant::now();
    loop {
        let attempt = async {
            let db = site.db().await;
            let rows = db
                .query(
                    "SELECT event_id, count(*) FROM events GROUP BY event_id",
                    &[],
                )
                .await
                .ok()?;
            Some(
                rows.iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                    .collect::<Vec<_>>(),
            )
        };
        if let Some(rows) = attempt.await {
            let stored: HashSet<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
            let lost = confirmed
                .iter()
                .filter(|id| !stored.contains(id.as_str()))
                .count();
            let duplicated = rows.iter().filter(|(_, n)| *n > 1).count();
            if lost == 0 || started.elapsed() > within {
                return Tally { lost, duplicated };
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Streams a workload through three workers while `fault` breaks something, then
/// checks the count and every order's end state through both API nodes.
async fn survive<F, Fut>(name: &str, fault: F) -> Survived
where
    F: FnOnce(Vec<Node>) -> Fut,
    Fut: std::future::Future<Output = Vec<Node>>,
{
    survive_wired(name, &Wiring::default(), fault).await
}

/// Where the processes of a run reach their services: through proxies, for the
/// network faults.
#[derive(Default)]
struct Wiring {
    /// For the worker of index 1: PostgreSQL, RabbitMQ.
    worker_db: Option<Proxy>,
    worker_amqp: Option<Proxy>,
    /// For every process: Redis.
    redis: Option<Proxy>,
}

/// `url` with its `host:port` replaced by `to`'s address.
fn through(url: &str, to: &Proxy) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, hostport_and_path) = match rest.rsplit_once('@') {
        Some((a, r)) => (format!("{a}@"), r),
        None => (String::new(), rest),
    };
    let path = hostport_and_path
        .find('/')
        .map_or("", |i| &hostport_and_path[i..]);
    format!("{scheme}://{auth}{}{path}", to.addr)
}

/// The address a service URL points at, for a proxy to forward to.
fn upstream(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap();
    use std::net::ToSocketAddrs;
    hostport.to_socket_addrs().unwrap().next().unwrap()
}

async fn survive_wired<F, Fut>(name: &str, wiring: &Wiring, fault: F) -> Survived
where
    F: FnOnce(Vec<Node>) -> Fut,
    Fut: std::future::Future<Output = Vec<Node>>,
{
    let _turn = TURN.lock().await;
    let site = Site::new().await;
    let redis_env: Vec<(&str, String)> = wiring
        .redis
        .iter()
        .map(|r| ("WAYBILL_REDIS_URL", through(&site.redis_url, r)))
        .collect();
    let api_env: Vec<(&str, &str)> = redis_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let apis = [site.api_with(&api_env).await, site.api_with(&api_env).await];
    let mut workers = Vec::new();
    for i in 0..3 {
        let mut env = redis_env.clone();
        if i == 1 {
            if let Some(p) = &wiring.worker_db {
                env.push(("WAYBILL_DATABASE_URL", through(&site.db_url, p)));
            }
            if let Some(p) = &wiring.worker_amqp {
                env.push(("WAYBILL_AMQP_URL", through(&site.amqp_url, p)));
            }
        }
        workers.push(site.worker_with(i, 3, &env).await);
    }
    // 9,000 events at about 3,000 a second: the fault lands a third of the way in.
    let orders = 1_500;
    let work = workload(name, orders);
    let total = work.len();
    let producer = tokio::spawn(produce(site.amqp_url.clone(), work, 3_000));
    // Mid-stream: a third of the way in.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let workers = fault(workers).await;
    let confirmed = producer.await.unwrap();
    assert_eq!(
        confirmed.len(),
        total,
        "the producer got every confirm in the end"
    );
    let t = tally(&site, &confirmed, Duration::from_secs(90)).await;
    let (mut redelivered, mut sessions) = (0, 0);
    let mut troubles = Vec::new();
    for w in workers {
        let log = w.stop().await;
        redelivered += reported(&log, "redelivered");
        sessions += reported(&log, "sessions");
        troubles.extend(
            log.into_iter()
                .filter(|l| l.contains("WARN") || l.contains("ERROR")),
        );
    }
    eprintln!(
        "{name}: {total} events, lost {}, duplicated {}, redelivered {redelivered}",
        t.lost, t.duplicated
    );
    assert_eq!(t.lost, 0, "{name}: events lost");
    assert_eq!(t.duplicated, 0, "{name}: events applied twice");
    // Every order ended delivered, as either API node tells it.
    let http = reqwest::Client::new();
    for o in (0..orders).step_by(7) {
        for api in &apis {
            let order: Value = http
                .get(format!("{}/v1/orders/{name}-{o}", api.base))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(order["status"], "delivered", "{order}");
        }
    }
    for api in apis {
        api.stop().await;
    }
    Survived {
        sessions,
        redelivered,
        troubles,
    }
}

/// What the workers that lived to the end reported.
struct Survived {
    /// Broker sessions they began (one each, plus reconnects).
    sessions: u64,
    /// Deliveries the broker made again.
    redelivered: u64,
    /// The workers' warnings and errors: what they noticed of the fault.
    troubles: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn a_worker_killed_mid_stream_loses_nothing() {
    survive("killed", async |mut workers: Vec<Node>| {
        let victim = workers.remove(1);
        victim.kill().await;
        // Its partitions pass to the standbys; it comes back later as a standby.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        workers
    })
    .await;
}

/// Starts a stopped service again: explicitly, or when a failed assertion unwinds, so
/// the tests after this one find it running.
struct Restore(Option<&'static [&'static str]>);

impl Restore {
    fn now(mut self) {
        if let Some(cmd) = self.0.take() {
            let out = run(cmd[0], &cmd[1..]);
            assert!(out.status.success(), "{cmd:?}: {out:?}");
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(cmd) = self.0.take() {
            let _ = run(cmd[0], &cmd[1..]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn rabbitmq_restarted_mid_stream_loses_nothing() {
    let s = survive("rabbitmq", async |workers: Vec<Node>| {
        let restore = Restore(Some(&["rabbitmqctl", "start_app"]));
        assert!(run("rabbitmqctl", &["stop_app"]).status.success());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        restore.now();
        workers
    })
    .await;
    assert!(s.sessions >= 6, "every worker reconnected: {}", s.sessions);
}

fn pg_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .expect("a PostgreSQL cluster under /etc/postgresql")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn postgresql_restarted_mid_stream_loses_nothing() {
    survive("postgres", async |workers: Vec<Node>| {
        let v = pg_version();
        let out = run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", &v, "main", "restart"],
        );
        assert!(out.status.success(), "{out:?}");
        workers
    })
    .await;
}

const REDIS_START: &[&str] = &[
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn redis_stopped_and_started_loses_nothing() {
    survive("redis", async |workers: Vec<Node>| {
        let restore = Restore(Some(REDIS_START));
        run("redis-cli", &["-p", "6379", "shutdown", "nosave"]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        restore.now();
        workers
    })
    .await;
}

/// A stream on one API node, read message by message (`event:` and `data:` only).
struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(http: &reqwest::Client, base: &str) -> Self {
        let resp = http
            .get(format!("{base}/v1/stream"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut s = Self {
            resp,
            buf: String::new(),
        };
        assert_eq!(s.next(Duration::from_secs(5)).await.unwrap().0, "ready");
        s
    }

    /// The next message within `within`: its event name and data.
    async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if event.is_empty() {
                    continue; // a heartbeat
                }
                return Some((event, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Waits for `order`'s domain event of type `kind`.
    async fn expect(&mut self, kind: &str, order: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.next(deadline - Instant::now()).await {
                Some((k, d)) if k == kind && d["data"]["order_id"] == order => return,
                Some(_) => {}
                None => break,
            }
        }
        panic!("no {kind} for {order} within {within:?}");
    }
}

async fn post_event(http: &reqwest::Client, base: &str, order: &str, n: usize, at: &str) {
    let body = json!({
        "event_id": format!("{order}-x{n}"),
        "order_id": order,
        "carrier": "sf-express",
        "tracking_number": format!("SF{}", order.replace('-', "")),
        "status": if n == 0 { "picked_up" } else { "in_transit" },
        "occurred_at": at,
        "location": format!("hub {n}"),
    });
    let r = http
        .post(format!("{base}/v1/events"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn last_location(http: &reqwest::Client, base: &str, order: &str) -> Value {
    let o: Value = http
        .get(format!("{base}/v1/orders/{order}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    o["shipments"][0]["last_location"].clone()
}

async fn cache_hits(http: &reqwest::Client, base: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("waybill_cache_total") && l.contains("outcome=\"hit\""))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Two API nodes: a stream on one sees what the other took; a read on one right after
/// the other acknowledged a write shows that write, from the cache or not; with Redis
/// stopped reads still answer (from PostgreSQL), and when it is back the streams
/// resume where they were and the cache serves again. The nodes' own outbox poll is
/// turned down to once a minute here, so that what reaches a stream came through Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn api_nodes_share_streams_and_never_serve_an_older_order() {
    let _turn = TURN.lock().await;
    let site = Site::new().await;
    let slow_poll = [("WAYBILL_OUTBOX_POLL_MS", "60000")];
    let (a, b) = (
        site.api_with(&slow_poll).await,
        site.api_with(&slow_poll).await,
    );
    let http = reqwest::Client::new();
    let mut stream = Stream::open(&http, &a.base).await;
    post_event(&http, &b.base, "x-1", 0, "2026-11-01T08:00:00Z").await;
    stream
        .expect("order.created", "x-1", Duration::from_secs(5))
        .await;

    // A dashboard session opened on A is good on B: the nodes keep no sessions.
    let cookie = dashboard::session(&a.base, KEY).await;
    assert_eq!(
        dashboard::status(&b.base, &cookie).await,
        200,
        "B takes A's session"
    );

    // Read on A, write on B, read on A again: never the older state.
    let hits_before = cache_hits(&http, &a.base).await;
    for n in 1..=15 {
        assert_eq!(
            last_location(&http, &a.base, "x-1").await,
            format!("hub {}", n - 1),
            "warm read {n}"
        );
        assert_eq!(
            last_location(&http, &a.base, "x-1").await,
            format!("hub {}", n - 1),
            "cached read {n}"
        );
        post_event(
            &http,
            &b.base,
            "x-1",
            n,
            &format!("2026-11-01T08:{n:02}:00Z"),
        )
        .await;
        assert_eq!(
            last_location(&http, &a.base, "x-1").await,
            format!("hub {n}"),
            "the read after write {n}"
        );
    }
    assert!(
        cache_hits(&http, &a.base).await >= hits_before + 15,
        "the second read of each round came from the cache"
    );

    // Redis gone: reads go on from PostgreSQL.
    let restore = Restore(Some(REDIS_START));
    run("redis-cli", &["-p", "6379", "shutdown", "nosave"]);
    post_event(&http, &b.base, "x-2", 0, "2026-11-02T08:00:00Z").await;
    post_event(&http, &b.base, "x-1", 20, "2026-11-01T09:00:00Z").await;
    assert_eq!(last_location(&http, &a.base, "x-1").await, "hub 20");

    // Back: the fan-out resubscribes; the stream resumes from where it was (x-2,
    // which happened while Redis was away, then x-3); the cache fills and serves again.
    restore.now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    post_event(&http, &b.base, "x-3", 0, "2026-11-03T08:00:00Z").await;
    stream
        .expect("order.created", "x-2", Duration::from_secs(5))
        .await;
    stream
        .expect("order.created", "x-3", Duration::from_secs(5))
        .await;
    let hits = cache_hits(&http, &a.base).await;
    for _ in 0..3 {
        assert_eq!(last_location(&http, &a.base, "x-1").await, "hub 20");
    }
    assert!(
        cache_hits(&http, &a.base).await > hits,
        "the cache serves again"
    );
    drop(stream);
    a.stop().await;
    b.stop().await;
}

/// A webhook receiver on this machine: records each `webhook-id` it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let sink = sink.clone();
            async move {
                if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                    sink.lock().unwrap().push(id.to_owned());
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// Every API node runs a delivery engine, and one at a time sends (a lease in
/// PostgreSQL): with two nodes a receiver gets each domain event once; when a node
/// stops, the other goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn one_delivery_engine_sends_at_a_time() {
    let _turn = TURN.lock().await;
    let site = Site::new().await;
    let private = [("WAYBILL_WEBHOOK_ALLOW_PRIVATE", "true")];
    let (a, b) = (site.api_with(&private).await, site.api_with(&private).await);
    let (url, got) = receiver().await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/v1/subscriptions", a.base))
        .bearer_auth(KEY)
        .json(&json!({"url": url, "event_types": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let db = site.db().await;
    let outbox = async || -> usize {
        db.query_one("SELECT count(*) FROM outbox", &[])
            .await
            .unwrap()
            .get::<_, i64>(0) as usize
    };
    let delivered = |got: &Arc<Mutex<Vec<String>>>| -> (usize, usize) {
        let all = got.lock().unwrap();
        let distinct: HashSet<&String> = all.iter().collect();
        (all.len(), distinct.len())
    };
    for o in 0..10 {
        post_event(&http, &b.base, &format!("y-{o}"), 0, "2026-11-05T08:00:00Z").await;
    }
    let expected = outbox().await;
    eventually(async || match delivered(&got) {
        (_, d) if d >= expected => Ok(()),
        other => Err(format!("delivered {other:?} of {expected}")),
    })
    .await;
    // Time for a second engine to send them again, if one did.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (sent, distinct) = delivered(&got);
    assert_eq!((sent, distinct), (expected, expected), "each sent once");

    // One node goes; whichever held the lease, deliveries go on.
    a.stop().await;
    for o in 10..15 {
        post_event(&http, &b.base, &format!("y-{o}"), 0, "2026-11-05T08:00:00Z").await;
    }
    let expected = outbox().await;
    eventually(async || match delivered(&got) {
        (_, d) if d >= expected => Ok(()),
        other => Err(format!("delivered {other:?} of {expected}")),
    })
    .await;
    b.stop().await;
}

/// Runs a `waybill` command against the site and returns what it printed.
async fn cli(site: &Site, args: &[&str]) -> String {
    let out = site
        .command(args)
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What no worker could apply is kept with the reason, shown by `waybill dead-letters`,
/// and, once the cause is fixed, applied by `waybill dead-letters --replay`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn dead_letters_are_kept_shown_and_replayed() {
    let _turn = TURN.lock().await;
    let site = Site::new().await;
    let api = site.api().await;
    let worker = site.worker(0, 1).await;
    // A scan for a parcel no order has claimed, without an order_id: refused.
    let scan = json!({"event_id": "dl-1", "carrier": "ups", "tracking_number": "1ZDEAD001",
        "status": "in_transit", "occurred_at": "2026-11-06T08:00:00Z"})
    .to_string();
    let conn = waybill_broker::connect(&site.amqp_url, "dl-producer")
        .await
        .unwrap();
    let p = Publisher::open(&conn).await.unwrap();
    let partitions = Topology {
        partitions: PARTITIONS,
        ..Topology::default()
    };
    topology::declare(p.channel(), &partitions).await.unwrap();
    p.publish(&Message {
        exchange: topology::INTAKE,
        routing_key: "1ZDEAD001",
        body: scan.as_bytes(),
        content_type: "application/json",
        message_id: None,
        headers: Vec::new(),
    })
    .await
    .unwrap();
    let shown = eventually(async || {
        let shown = cli(&site, &["dead-letters"]).await;
        if shown.contains("1 dead letter(s)") {
            Ok(shown)
        } else {
            Err(shown)
        }
    })
    .await;
    assert!(shown.contains("order_id"), "the reason is shown: {shown}");
    assert!(shown.contains("1ZDEAD001"), "the message is shown: {shown}");
    // Looking took nothing away.
    assert!(
        cli(&site, &["dead-letters"])
            .await
            .contains("1 dead letter(s)")
    );

    // The fix: an order claims the parcel. Then the replay applies the scan.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/orders", api.base))
        .bearer_auth(KEY)
        .json(&json!({"order_id": "z-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{}/v1/orders/z-1/shipments", api.base))
        .bearer_auth(KEY)
        .json(&json!({"carrier": "ups", "tracking_number": "1ZDEAD001"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert!(
        cli(&site, &["dead-letters", "--replay"])
            .await
            .contains("1 dead letter(s) published again")
    );
    eventually(async || {
        let order: Value = http
            .get(format!("{}/v1/orders/z-1", api.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if order["status"] == "in_transit" {
            Ok(())
        } else {
            Err(order.to_string())
        }
    })
    .await;
    assert!(
        cli(&site, &["dead-letters"])
            .await
            .contains("0 dead letter(s)")
    );
    worker.stop().await;
    api.stop().await;
}

/// A worker answers on a port of its own: alive at once, ready once it consumes, and
/// its counters in the Prometheus text format, which move as it applies events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn a_worker_reports_readiness_and_its_counts_on_its_own_port() {
    let _turn = TURN.lock().await;
    let site = Site::new().await;
    let worker = site.worker(0, 1).await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", worker.base)).send();
    assert_eq!(get("/livez").await.unwrap().status(), 200);
    eventually(async || {
        let r = get("/readyz").await.map_err(|e| e.to_string())?;
        match r.status().as_u16() {
            200 => Ok(()),
            s => Err(format!("/readyz answered {s}")),
        }
    })
    .await;
    let work = workload("health", 10);
    let total = work.len();
    let confirmed = produce(site.amqp_url.clone(), work, 100).await;
    let t = tally(&site, &confirmed, Duration::from_secs(60)).await;
    assert_eq!((t.lost, t.duplicated), (0, 0));
    let metrics = get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    };
    assert!(
        value("waybill_worker_applied_total") >= total as f64,
        "{text}"
    );
    assert!(value("waybill_worker_batches_total") >= 1.0, "{text}");
    assert_eq!(value("waybill_worker_ready"), 1.0, "{text}");
    assert!(value("waybill_worker_commit_seconds_total") > 0.0, "{text}");
    worker.stop().await;
}

/// Whether `flag` is set within `within`.
async fn tripped(flag: &Arc<std::sync::atomic::AtomicBool>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

fn service_urls() -> (String, String, String) {
    (
        scratch::need("WAYBILL_TEST_DATABASE_URL"),
        scratch::need("WAYBILL_TEST_AMQP_URL"),
        scratch::need("WAYBILL_TEST_REDIS_URL"),
    )
}

/// A worker's link to PostgreSQL is cut the moment its `COMMIT` has gone out: the
/// database may have committed, the worker never hears, and nothing was acknowledged to
/// the broker. It reconnects once the link is back and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn a_worker_cut_off_from_postgresql_mid_commit_loses_nothing() {
    let (db, _, _) = service_urls();
    let link = Proxy::start(upstream(&db)).await;
    let wiring = Wiring {
        worker_db: Some(link.clone()),
        ..Wiring::default()
    };
    let s = survive_wired("pgcut", &wiring, async |workers: Vec<Node>| {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l, f) = (link.clone(), flag.clone());
        link.arm(b"COMMIT", move || {
            l.cut();
            f.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        assert!(
            tripped(&flag, Duration::from_secs(10)).await,
            "worker 1 committed nothing through its link"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        link.restore();
        workers
    })
    .await;
    // Not a cut nobody saw: the worker's commit failed and it said so.
    assert!(
        s.troubles
            .iter()
            .any(|l| l.contains("did not take the batch")),
        "worker 1 noticed the cut: {:?}",
        s.troubles
    );
    eprintln!("pgcut: {:?}", &s.troubles[..s.troubles.len().min(3)]);
}

/// A worker's link to RabbitMQ is cut the moment it commits a batch to PostgreSQL, so
/// the batch is stored but its acknowledgement never reaches the broker: the broker
/// delivers it again (to the worker once reconnected, or to a standby), and it is
/// applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn a_worker_cut_off_from_rabbitmq_between_commit_and_ack_loses_nothing() {
    let (db, amqp, _) = service_urls();
    let db_link = Proxy::start(upstream(&db)).await;
    let broker_link = Proxy::start(upstream(&amqp)).await;
    let wiring = Wiring {
        worker_db: Some(db_link.clone()),
        worker_amqp: Some(broker_link.clone()),
        ..Wiring::default()
    };
    let s = survive_wired("amqpcut", &wiring, async |workers: Vec<Node>| {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, f) = (broker_link.clone(), flag.clone());
        db_link.arm(b"COMMIT", move || {
            b.cut();
            f.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        assert!(
            tripped(&flag, Duration::from_secs(10)).await,
            "worker 1 committed nothing through its link"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        broker_link.restore();
        workers
    })
    .await;
    assert!(s.redelivered > 0, "the unacknowledged batch came back");
}

/// Every process reaches Redis over a slow, lossy link (20 ms each way, 2% of chunks
/// held back 200-400 ms as a lost segment would be) from a third of the way in: the
/// cache and the stream fan-out slow down; nothing is lost, doubled, or served stale
/// (`survive` reads every order's end state through both API nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, RabbitMQ and Redis: set WAYBILL_TEST_DATABASE_URL, WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_REDIS_URL"]
async fn redis_over_a_slow_lossy_link_loses_nothing() {
    let (_, _, redis) = service_urls();
    let link = Proxy::start(upstream(&redis)).await;
    let wiring = Wiring {
        redis: Some(link.clone()),
        ..Wiring::default()
    };
    survive_wired("redisslow", &wiring, async |workers: Vec<Node>| {
        link.degrade(Duration::from_millis(20), 20);
        workers
    })
    .await;
    eprintln!("redisslow: {} chunks stalled", link.stalls());
    assert!(link.stalls() > 0, "the link did stall");
}
