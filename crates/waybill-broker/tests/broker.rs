//! The broker interface against the machine's RabbitMQ and PostgreSQL: each test in a
//! virtual host and a schema of its own. Listed as ignored (with what they need) by a
//! plain `cargo test`; `.ci/run` sets `WAYBILL_TEST_AMQP_URL` and
//! `WAYBILL_TEST_DATABASE_URL` and runs them with `-- --ignored`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use tokio::sync::watch;
use waybill_broker::publish::{Message, Publisher, confirmed};
use waybill_broker::topology::{self, Topology};
use waybill_broker::worker::{self, Counters, Decoder, WorkerSettings};
use waybill_store::{PgOptions, PgStore, Store};

#[path = "../../waybill-store/tests/support/scratch.rs"]
mod scratch;

/// A virtual host and a schema, removed afterwards.
struct Env {
    amqp: String,
    vhost: String,
    pg: PgOptions,
}

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {out:?}");
}

impl Env {
    fn new() -> Self {
        let amqp = scratch::need("WAYBILL_TEST_AMQP_URL");
        let db = scratch::need("WAYBILL_TEST_DATABASE_URL");
        let vhost = scratch::unique("wbt");
        rabbitmqctl(&["add_vhost", &vhost]);
        rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
        let base = amqp.rsplit_once('/').map_or(amqp.as_str(), |(b, _)| b);
        let mut pg = PgOptions::new(db);
        pg.schema = Some(vhost.clone());
        pg.pool_size = 4;
        Self {
            amqp: format!("{base}/{vhost}"),
            vhost,
            pg,
        }
    }

    async fn store(&self) -> PgStore {
        PgStore::connect(&self.pg).await.unwrap()
    }

    fn settings(&self) -> WorkerSettings {
        let mut s = WorkerSettings::new(&self.amqp);
        s.topology = Topology {
            partitions: 4,
            delivery_limit: 5,
        };
        s.standby_after = Duration::from_millis(200);
        s
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.vhost])
            .output();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.vhost);
        scratch::run_sql(&self.pg.url, sql);
    }
}

fn decoder() -> Decoder {
    Arc::new(|ct, body| {
        waybill_formats::wire::decode_message(ct, body, waybill_formats::clock::now(), 1000)
    })
}

fn event(order: &str, n: usize) -> String {
    let kinds = [
        "info_received",
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ];
    format!(
        r#"{{"event_id":"{order}-{n}","order_id":"{order}","carrier":"sf-express","tracking_number":"SF{order}","status":"{}","occurred_at":"2026-11-0{}T08:00:00+08:00"}}"#,
        kinds[n % kinds.len()],
        n % kinds.len() + 1
    )
}

async fn publish_all(amqp: &str, messages: &[(String, String)], content_type: &str) {
    let conn = waybill_broker::connect(amqp, "test-producer")
        .await
        .unwrap();
    let p = Publisher::open(&conn).await.unwrap();
    topology::declare(
        p.channel(),
        &Topology {
            partitions: 4,
            delivery_limit: 5,
        },
    )
    .await
    .unwrap();
    let mut confirms = Vec::new();
    for (key, body) in messages {
        confirms.push(
            p.send(&Message {
                exchange: topology::INTAKE,
                routing_key: key,
                body: body.as_bytes(),
                content_type,
                message_id: None,
                headers: Vec::new(),
            })
            .await
            .unwrap(),
        );
    }
    for c in confirms {
        confirmed(c).await.unwrap();
    }
}

/// Messages waiting in a queue (ready, not counting unacknowledged ones).
async fn depth(amqp: &str, queue: &str) -> u32 {
    let conn = waybill_broker::connect(amqp, "test-probe").await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    q.message_count()
}

async fn until(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if ok().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn start(
    settings: WorkerSettings,
    store: Store,
) -> (
    Arc<Counters>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), waybill_broker::BrokerError>>,
) {
    let counters = Arc::new(Counters::default());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(worker::run(
        settings,
        store,
        decoder(),
        counters.clone(),
        stopped,
    ));
    (counters, stop, task)
}

/// Every event published to the intake is applied once, each message acknowledged,
/// and one order's events all went through one partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and PostgreSQL: set WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_DATABASE_URL"]
async fn the_worker_applies_what_producers_publish() {
    let env = Env::new();
    let store = env.store().await;
    let orders: Vec<String> = (0..20).map(|i| format!("ord-{i}")).collect();
    let messages: Vec<(String, String)> = orders
        .iter()
        .flat_map(|o| (0..5).map(move |n| (o.clone(), event(o, n))))
        .collect();
    publish_all(&env.amqp, &messages, "application/json").await;
    let (counters, stop, task) = start(env.settings(), Store::Postgres(store.clone()));
    until("100 events applied", async || {
        counters.accepted.load(Ordering::Relaxed) == 100
    })
    .await;
    for o in &orders {
        let rec = store.order(o).await.unwrap().unwrap();
        assert_eq!(rec.status.as_str(), "delivered", "{o}");
        assert_eq!(store.timeline(o).await.unwrap().unwrap().len(), 5);
    }
    assert_eq!(counters.applied.load(Ordering::Relaxed), 100);
    assert_eq!(counters.dead.load(Ordering::Relaxed), 0);
    for p in 0..4 {
        assert_eq!(depth(&env.amqp, &topology::partition(p)).await, 0);
    }
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// Unreadable messages and events the store refuses are kept in the dead-letter queue
/// with the reason; the rest of their batch is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and PostgreSQL: set WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_DATABASE_URL"]
async fn poison_messages_are_kept_with_their_reason() {
    let env = Env::new();
    let store = env.store().await;
    let unknown = r#"{"event_id":"x1","carrier":"ups","tracking_number":"1Z9","status":"in_transit","occurred_at":"2026-11-01T08:00:00Z"}"#;
    let messages = vec![
        ("o1".to_owned(), event("o1", 0)),
        ("o2".to_owned(), "{not json".to_owned()),
        ("o3".to_owned(), unknown.to_owned()),
        ("o4".to_owned(), event("o4", 1)),
    ];
    publish_all(&env.amqp, &messages, "application/json").await;
    let (counters, stop, task) = start(env.settings(), Store::Postgres(store.clone()));
    until("two dead, two applied", async || {
        counters.dead.load(Ordering::Relaxed) == 2 && counters.applied.load(Ordering::Relaxed) == 2
    })
    .await;
    assert!(store.order("o1").await.unwrap().is_some());
    assert!(store.order("o4").await.unwrap().is_some());
    // The dead-letter queue holds both, each with why.
    let conn = waybill_broker::connect(&env.amqp, "test-dead")
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = ch
        .basic_consume(
            topology::DEAD.into(),
            "inspect".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let headers = d.properties.headers().clone().unwrap();
        let why = match headers.inner().get("x-waybill-error") {
            Some(AMQPValue::LongString(s)) => s.to_string(),
            other => panic!("no reason: {other:?}"),
        };
        reasons.push((String::from_utf8(d.data.clone()).unwrap(), why));
        d.acker.ack(BasicAckOptions::default()).await.unwrap();
    }
    reasons.sort();
    assert_eq!(reasons[0].0, unknown);
    assert!(reasons[0].1.contains("order_id"), "{reasons:?}");
    assert_eq!(reasons[1].0, "{not json");
    assert!(reasons[1].1.contains("JSON"), "{reasons:?}");
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// Holds every commit's answer until told: lets a test stop a worker after the store
/// committed and before the broker heard.
struct Stall(watch::Receiver<bool>);

impl waybill_store::pg::Listener for Stall {
    fn changed<'a>(&'a self, _orders: &'a [String]) -> waybill_store::pg::Told<'a> {
        let mut go = self.0.clone();
        Box::pin(async move {
            let _ = go.wait_for(|g| *g).await;
        })
    }

    fn sequenced(&self, _position: i64) -> waybill_store::pg::Told<'_> {
        Box::pin(async {})
    }
}

/// A worker that stops after its commit and before its acknowledgement: the standby
/// takes the partition over, the broker delivers those messages again, and the store
/// counts them as duplicates. Nothing lost, nothing applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and PostgreSQL: set WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_DATABASE_URL"]
async fn a_worker_gone_before_its_ack_loses_nothing_and_doubles_nothing() {
    let env = Env::new();
    let stalled = env.store().await;
    let (_never, hold) = watch::channel(false);
    stalled.listen(Arc::new(Stall(hold)));
    let messages: Vec<(String, String)> = (0..10)
        .flat_map(|i| {
            let o = format!("o{i}");
            (0..3).map(move |n| (o.clone(), event(&o, n)))
        })
        .collect();
    publish_all(&env.amqp, &messages, "application/json").await;
    // The first worker commits its batch, then hangs before acknowledging.
    let (first, _stop_first, first_task) = start(env.settings(), Store::Postgres(stalled.clone()));
    until("the first batch committed", async || {
        stalled.outbox_after(0, 1).await.unwrap().len() == 1
    })
    .await;
    let second_store = env.store().await;
    let mut standby = env.settings();
    standby.index = 1;
    standby.workers = 2;
    let (second, stop, task) = start(standby, Store::Postgres(second_store.clone()));
    // The first one dies (its connection closes: the broker takes its messages back).
    first_task.abort();
    let _ = first_task.await;
    drop(stalled);
    until("every message acknowledged by the standby", async || {
        second.applied.load(Ordering::Relaxed) == 30
    })
    .await;
    assert_eq!(first.applied.load(Ordering::Relaxed), 0);
    assert!(second.redelivered.load(Ordering::Relaxed) > 0);
    let accepted = second.accepted.load(Ordering::Relaxed);
    let duplicates = second.duplicates.load(Ordering::Relaxed);
    assert_eq!(accepted + duplicates, 30);
    assert!(
        duplicates > 0,
        "the first worker's commit came back as duplicates"
    );
    for i in 0..10 {
        let tl = second_store
            .timeline(&format!("o{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tl.len(), 3, "o{i}");
    }
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// Domain events reach `waybill.events` with their type as routing key, once each,
/// with the same id as their webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and PostgreSQL: set WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_DATABASE_URL"]
async fn the_relay_publishes_every_domain_event() {
    let env = Env::new();
    let store = env.store().await;
    // A consumer's queue on the topic exchange, declared before anything happens.
    let conn = waybill_broker::connect(&env.amqp, "test-events")
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    topology::declare(&ch, &Topology::default()).await.unwrap();
    ch.queue_declare(
        "seen".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        "seen".into(),
        topology::EVENTS.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let counters = Arc::new(waybill_broker::relay::RelayCounters::default());
    let relay = tokio::spawn(waybill_broker::relay::run(
        env.amqp.clone(),
        Topology::default(),
        store.clone(),
        Arc::new(|r: &waybill_store::OutboxRecord| r.kind.as_str().as_bytes().to_vec()),
        counters.clone(),
        stopped,
    ));
    let events: Vec<_> = (0..5)
        .map(|n| {
            waybill_formats::wire::parse_one(&event("r1", n), waybill_formats::clock::now())
                .unwrap()
        })
        .collect();
    Store::Postgres(store.clone())
        .submit(waybill_store::Submission::Events(events))
        .await
        .unwrap();
    let expected = store.outbox_after(0, 100).await.unwrap();
    assert!(
        expected.len() >= 6,
        "created, moves, delivered: {expected:?}"
    );
    let mut consumer = ch
        .basic_consume(
            "seen".into(),
            "c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("every domain event arrives")
            .unwrap()
            .unwrap();
        got.push((
            d.routing_key.to_string(),
            d.properties.message_id().clone().unwrap().to_string(),
        ));
        d.acker.ack(BasicAckOptions::default()).await.unwrap();
    }
    let want: Vec<_> = expected
        .iter()
        .map(|r| (r.kind.to_string(), format!("msg_{}", r.id)))
        .collect();
    assert_eq!(got, want);
    // Nothing more: each was published once.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), consumer.next())
            .await
            .is_err()
    );
    stop.send(true).unwrap();
    relay.await.unwrap().unwrap();
    assert_eq!(
        store.relay_cursor("relay:waybill.events").await.unwrap(),
        want.len() as i64
    );
}

/// A message whose event the database refuses every time (here a NUL character, which
/// PostgreSQL's text cannot hold, let through by a careless decoder) does not hold up
/// its batch: the batch is applied message by message, that one is kept aside with
/// the database's reason, and the others are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and PostgreSQL: set WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_DATABASE_URL"]
async fn a_message_the_database_refuses_is_kept_aside() {
    let env = Env::new();
    let store = env.store().await;
    let careless: Decoder = Arc::new(|ct, body| {
        let mut items =
            waybill_formats::wire::decode_message(ct, body, waybill_formats::clock::now(), 1000)?;
        for ev in items.iter_mut().flatten() {
            if ev.order_id.as_ref().is_some_and(|o| o.as_str() == "bad") {
                ev.location = Some("hub\u{0}".into());
            }
        }
        Ok(items)
    });
    let messages: Vec<(String, String)> = ["a1", "bad", "a2", "a3"]
        .iter()
        .map(|o| ((*o).to_owned(), event(o, 0)))
        .collect();
    publish_all(&env.amqp, &messages, "application/json").await;
    let counters = Arc::new(Counters::default());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(worker::run(
        env.settings(),
        Store::Postgres(store.clone()),
        careless,
        counters.clone(),
        stopped,
    ));
    until("three applied, one kept aside", async || {
        counters.applied.load(Ordering::Relaxed) == 3 && counters.dead.load(Ordering::Relaxed) == 1
    })
    .await;
    for o in ["a1", "a2", "a3"] {
        assert!(store.order(o).await.unwrap().is_some(), "{o}");
    }
    assert!(store.order("bad").await.unwrap().is_none());
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// A broker without an exchange type's plugin refuses the declaration in words Waybill
/// recognises, and the error it becomes names the plugin and the command that enables
/// it. (Disabling the real consistent-hash plugin would break the tests running beside
/// this one; a type no plugin provides takes the same path in RabbitMQ.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and PostgreSQL: set WAYBILL_TEST_AMQP_URL and WAYBILL_TEST_DATABASE_URL"]
async fn a_missing_exchange_plugin_is_told_apart_and_named() {
    let env = Env::new();
    let conn = waybill_broker::connect(&env.amqp, "test-plugin")
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let refused = ch
        .exchange_declare(
            "wbt.no-such-type".into(),
            lapin::ExchangeKind::Custom("x-waybill-no-such-type".into()),
            lapin::options::ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("RabbitMQ has no such exchange type");
    assert!(
        topology::is_unknown_exchange_type(&refused),
        "not recognised: {refused}"
    );
    // RabbitMQ closes the whole connection over it. On a fresh one, a good declaration
    // is not mistaken for a missing plugin.
    let conn = waybill_broker::connect(&env.amqp, "test-plugin")
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    topology::declare(&ch, &Topology::default()).await.unwrap();
    let e = waybill_broker::BrokerError::NoConsistentHash;
    assert!(e.is_fatal());
    assert!(
        e.to_string()
            .contains("rabbitmq-plugins enable rabbitmq_consistent_hash_exchange"),
        "{e}"
    );
    assert!(!waybill_broker::BrokerError::Refused.is_fatal());
}
