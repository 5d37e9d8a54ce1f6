//! Every command opens its store here, and nowhere else: the embedded store in the data
//! directory, or PostgreSQL when `WAYBILL_DATABASE_URL` is set. What differs between
//! commands is one word (serving, a bulk load, a worker, reading one order, replaying).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use waybill_store::{EventRecord, OrderRecord, PgStore, Store};

use crate::settings::Settings;

/// The store `waybill serve` writes: PostgreSQL when configured, else the embedded one.
pub async fn for_serving(settings: &Settings) -> anyhow::Result<Store> {
    // The data directory also keeps the generated keys, on PostgreSQL too.
    std::fs::create_dir_all(&settings.data)
        .with_context(|| format!("creating {}", settings.data.display()))?;
    match settings.scale.postgres(settings.writer.announce) {
        Some(pg) => Store::connect(&pg)
            .await
            .context("connecting to PostgreSQL (WAYBILL_DATABASE_URL)"),
        None => embedded(&settings.data, settings.writer.clone()),
    }
}

/// The embedded store, for a bulk load (`waybill ingest`).
pub fn for_bulk_load(settings: &Settings) -> anyhow::Result<Store> {
    if settings.scale.database_url.is_some() {
        bail!(
            "waybill ingest loads the embedded store; with WAYBILL_DATABASE_URL set, \
             send the files through the broker (waybill publish) or to a server \
             (--server)"
        );
    }
    Store::open(&settings.data, settings.writer.clone().for_bulk_load()).map_err(|e| match e {
        waybill_store::StoreError::Locked(_) => anyhow::anyhow!(
            "{e}: a running server holds this store; send the files to it instead \
             (waybill ingest --server http://HOST:PORT --key KEY FILE...)"
        ),
        e => anyhow::Error::new(e)
            .context(format!("opening the store in {}", settings.data.display())),
    })
}

/// PostgreSQL, which `waybill worker` needs.
pub async fn for_worker(settings: &Settings) -> anyhow::Result<PgStore> {
    let pg = settings
        .scale
        .postgres(true)
        .context("waybill worker needs WAYBILL_DATABASE_URL (PostgreSQL)")?;
    PgStore::connect(&pg)
        .await
        .context("connecting to PostgreSQL (WAYBILL_DATABASE_URL)")
}

/// One order and its timeline (`waybill order`). The embedded store is read beside a
/// server that may hold it: its rows plus the log past them, as that server's readers
/// see it (`waybill_store::sqlite::at_rest`).
pub fn read_order(
    settings: &Settings,
    order_id: &str,
) -> anyhow::Result<Option<(OrderRecord, Vec<EventRecord>)>> {
    if let Some(pg) = settings.scale.postgres(true) {
        return super::runtime()?.block_on(async {
            let store = PgStore::connect(&pg).await?;
            let Some(order) = store.order(order_id).await? else {
                return Ok(None);
            };
            let events = store.timeline(order_id).await?.unwrap_or_default();
            Ok(Some((order, events)))
        });
    }
    let path = settings.data.join("waybill.sqlite3");
    if !path.exists() {
        bail!(
            "no store in {} (run waybill serve or ingest first)",
            settings.data.display()
        );
    }
    Ok(waybill_store::sqlite::at_rest::order_with_timeline(
        &path, order_id,
    )?)
}

/// Rebuilds every projection from the log (`waybill replay`); returns the events
/// replayed.
pub fn replay(settings: &Settings) -> anyhow::Result<u64> {
    Ok(match settings.scale.postgres(false) {
        Some(pg) => {
            super::runtime()?.block_on(async { PgStore::connect(&pg).await?.replay().await })?
        }
        None => waybill_store::replay(&settings.data)?,
    })
}

pub(crate) fn embedded(
    data: &Path,
    options: waybill_store::WriterOptions,
) -> anyhow::Result<Store> {
    Store::open(data, options).with_context(|| format!("opening the store in {}", data.display()))
}

/// With Redis, this process's writes invalidate the shared order cache and wake the
/// other nodes' streams, and theirs wake this one's.
pub fn join_cluster(
    settings: &Settings,
    store: &Store,
) -> anyhow::Result<Option<Arc<waybill_server::cluster::Cluster>>> {
    let Some(url) = &settings.scale.redis_url else {
        return Ok(None);
    };
    let Store::Postgres(pg) = store else {
        tracing::warn!(
            "WAYBILL_REDIS_URL is ignored without WAYBILL_DATABASE_URL: one embedded node has nothing to share"
        );
        return Ok(None);
    };
    let cluster = waybill_server::cluster::Cluster::new(url, &settings.scale.redis_prefix)
        .context("WAYBILL_REDIS_URL")?;
    pg.listen(Arc::new(waybill_server::cluster::Tell(cluster.clone())));
    tokio::spawn(cluster.clone().follow(pg.downgrade()));
    Ok(Some(cluster))
}
