//! What API nodes and workers share through Redis: the hot cache of orders, and the
//! fan-out that wakes every node's streams when any process changed something.
//!
//! **The cache never serves an order older than an acknowledged write.** Each order has
//! a tag in Redis (`<prefix>:tag:<id>`); a writer sets a fresh tag after its commit and
//! before it answers anyone. A cached order (`waybill:order:<id>`) carries the tag that
//! was current when its reader *began* reading the database, and counts only while that
//! is still the tag. (`<prefix>` is `waybill` unless `WAYBILL_REDIS_PREFIX` says
//! otherwise: several deployments can share one Redis.) A reader that raced a write has read the tag before the write
//! replaced it, so its copy, old or not, is filed under a tag that is already gone.
//!
//! **Redis may go away.** Reads then go to PostgreSQL, and streams keep moving on the
//! store's own poll; the fan-out resubscribes when Redis is back. A writer that could
//! not replace a tag keeps the order ids and retries; until it has, its own node reads
//! past the cache. (A Redis that stayed up but could not be reached from that writer
//! could serve others an older copy for at most [`ENTRY_TTL`]: the bound is written in
//! docs/scaling.md.)

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;
use waybill_store::OrderRecord;
use waybill_store::pg::PgReader;
use waybill_store::pg::{Listener, Told};

/// How long a cached order lives: the longest an order can be stale after a partition
/// between a writer and Redis.
pub const ENTRY_TTL: u64 = 60;
/// Tags outlive the entries filed under them (a fill renews its tag's life), and no
/// more: Redis holds a tag for each order changed in the last ten minutes, not for
/// every order there is.
const TAG_TTL: u64 = 600;
/// How often a node without Redis tries again.
const RETRY: Duration = Duration::from_secs(1);

/// What the cache had.
pub enum Lookup {
    Hit(OrderRecord),
    /// Not there (or filed under an old tag): read the database, then [`Cluster::fill`]
    /// with this tag.
    Miss(String),
    /// Redis cannot be used now: read the database and do not fill.
    Bypass,
}

pub struct Cluster {
    client: redis::Client,
    prefix: String,
    conn: Mutex<(Option<ConnectionManager>, Option<Instant>)>,
    /// Orders whose tag could not be replaced after a write.
    pending: Mutex<BTreeSet<String>>,
}

fn fresh_tag() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}

impl Cluster {
    /// Does not wait for Redis: a node starts (and serves from PostgreSQL) without it.
    pub fn new(url: &str, prefix: &str) -> Result<Arc<Self>, redis::RedisError> {
        Ok(Arc::new(Self {
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
            conn: Mutex::new((None, None)),
            pending: Mutex::new(BTreeSet::new()),
        }))
    }

    fn tag_key(&self, id: &str) -> String {
        format!("{}:tag:{id}", self.prefix)
    }

    fn entry_key(&self, id: &str) -> String {
        format!("{}:order:{id}", self.prefix)
    }

    /// The fan-out channel: positions the outbox reached.
    fn channel(&self) -> String {
        format!("{}:outbox", self.prefix)
    }

    /// A connection, if Redis can be reached (tried at most once a second).
    async fn conn(&self) -> Option<ConnectionManager> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = &guard.0 {
            return Some(c.clone());
        }
        if guard.1.is_some_and(|t| t.elapsed() < RETRY) {
            return None;
        }
        guard.1 = Some(Instant::now());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(300)))
            .set_response_timeout(Some(Duration::from_millis(300)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        match self.client.get_connection_manager_with_config(config).await {
            Ok(c) => {
                guard.0 = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                tracing::debug!(error = %e, "redis is not reachable; reading the database");
                None
            }
        }
    }

    /// Forgets the connection after a failure, so the next use tries afresh.
    async fn lost(&self) {
        let mut guard = self.conn.lock().await;
        guard.0 = None;
        guard.1 = Some(Instant::now());
    }

    /// Looks an order up.
    pub async fn lookup(&self, id: &str) -> Lookup {
        if !self.pending.lock().await.is_empty() && !self.flush_pending().await {
            return Lookup::Bypass;
        }
        let Some(mut c) = self.conn().await else {
            return Lookup::Bypass;
        };
        let got: Result<(Option<String>, Option<String>), _> = redis::pipe()
            .get(self.tag_key(id))
            .get(self.entry_key(id))
            .query_async(&mut c)
            .await;
        let (tag, entry) = match got {
            Ok(v) => v,
            Err(_) => {
                self.lost().await;
                return Lookup::Bypass;
            }
        };
        if let (Some(tag), Some(entry)) = (&tag, &entry)
            && let Some((filed, json)) = entry.split_once('|')
            && filed == tag
            && let Ok(rec) = serde_json::from_str(json)
        {
            metrics::counter!("waybill_cache_total", "outcome" => "hit").increment(1);
            return Lookup::Hit(rec);
        }
        metrics::counter!("waybill_cache_total", "outcome" => "miss").increment(1);
        match tag {
            Some(tag) => Lookup::Miss(tag),
            // No tag yet: make one (unless a writer just did), before the read.
            None => {
                let mine = fresh_tag();
                let set: Result<Option<String>, _> = redis::cmd("SET")
                    .arg(self.tag_key(id))
                    .arg(&mine)
                    .arg("NX")
                    .arg("GET")
                    .arg("EX")
                    .arg(TAG_TTL)
                    .query_async(&mut c)
                    .await;
                match set {
                    Ok(None) => Lookup::Miss(mine),
                    Ok(Some(theirs)) => Lookup::Miss(theirs),
                    Err(_) => Lookup::Bypass,
                }
            }
        }
    }

    /// Files what the database said under the tag the lookup returned.
    pub async fn fill(&self, id: &str, tag: &str, rec: &OrderRecord) {
        let Some(mut c) = self.conn().await else {
            return;
        };
        let Ok(json) = serde_json::to_string(rec) else {
            return;
        };
        let done: Result<(), _> = redis::pipe()
            .set_ex(self.entry_key(id), format!("{tag}|{json}"), ENTRY_TTL)
            .ignore()
            .expire(self.tag_key(id), TAG_TTL as i64)
            .ignore()
            .query_async(&mut c)
            .await;
        if done.is_err() {
            self.lost().await;
        }
    }

    /// New tags for orders a commit changed. Orders whose tag could not be replaced wait
    /// in `pending` (and this node reads past the cache) until it can.
    pub async fn invalidate(&self, ids: &[String]) {
        let mut pending = self.pending.lock().await;
        pending.extend(ids.iter().cloned());
        self.replace_tags(&mut pending).await;
    }

    async fn flush_pending(&self) -> bool {
        let mut pending = self.pending.lock().await;
        self.replace_tags(&mut pending).await
    }

    async fn replace_tags(&self, pending: &mut BTreeSet<String>) -> bool {
        if pending.is_empty() {
            return true;
        }
        let Some(mut c) = self.conn().await else {
            return false;
        };
        let mut pipe = redis::pipe();
        for id in pending.iter() {
            pipe.set_ex(self.tag_key(id), fresh_tag(), TAG_TTL).ignore();
        }
        match pipe.query_async::<()>(&mut c).await {
            Ok(()) => {
                pending.clear();
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, waiting = pending.len(), "could not invalidate cached orders; retrying");
                self.lost().await;
                false
            }
        }
    }

    /// Tells every node the outbox reached `position`.
    pub async fn announce(&self, position: i64) {
        if let Some(mut c) = self.conn().await
            && c.publish::<_, _, ()>(self.channel(), position)
                .await
                .is_err()
        {
            self.lost().await;
        }
    }

    /// Follows the fan-out while the store lives: every position another process
    /// announces wakes this process's streams. Resubscribes after Redis comes back.
    pub async fn follow(self: Arc<Self>, store: PgReader) {
        while store.alive() {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(self.channel()).await.is_ok() {
                        let mut messages = pubsub.on_message();
                        while let Some(m) = messages.next().await {
                            if let Ok(p) = m.get_payload::<i64>()
                                && !store.note_position(p)
                            {
                                return; // the store closed
                            }
                        }
                    }
                    tracing::warn!("lost the fan-out subscription; resubscribing");
                }
                Err(e) => tracing::debug!(error = %e, "fan-out: redis is not reachable"),
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// Connects a PostgreSQL store's writes to the cluster.
pub struct Tell(pub Arc<Cluster>);

impl Listener for Tell {
    fn changed<'a>(&'a self, orders: &'a [String]) -> Told<'a> {
        Box::pin(self.0.invalidate(orders))
    }

    fn sequenced(&self, position: i64) -> Told<'_> {
        Box::pin(self.0.announce(position))
    }
}
