//! The quarantine on PostgreSQL (see `crate::quarantine`).

use deadpool_postgres::{Client, Transaction};
use waybill_core::Timestamp;

use crate::StoreError;
use crate::model::quarantine::{NewQuarantine, Quarantined};

pub(crate) async fn insert(tx: &Transaction<'_>, q: &NewQuarantine) -> Result<i64, StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO quarantine (provider, received_at, reason, headers, body)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &q.provider,
                &q.received_at.as_micros(),
                &q.reason,
                &q.headers,
                &q.body,
            ],
        )
        .await?;
    Ok(row.get(0))
}

pub(crate) async fn mark_replayed(
    tx: &Transaction<'_>,
    id: i64,
    at: Timestamp,
) -> Result<(), StoreError> {
    // A second replay racing the first must not move the first one's time.
    tx.execute(
        "UPDATE quarantine SET replayed_at = $2 WHERE id = $1 AND replayed_at IS NULL",
        &[&id, &at.as_micros()],
    )
    .await?;
    Ok(())
}

fn row(r: &tokio_postgres::Row) -> Quarantined {
    Quarantined {
        id: r.get(0),
        provider: r.get(1),
        received_at: Timestamp(r.get(2)),
        reason: r.get(3),
        headers: r.get(4),
        body: r.get(5),
        replayed_at: r.get::<_, Option<i64>>(6).map(Timestamp),
    }
}

const COLUMNS: &str = "id, provider, received_at, reason, headers, body, replayed_at";

pub(crate) async fn get(c: &Client, id: i64) -> Result<Option<Quarantined>, StoreError> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM quarantine WHERE id = $1"))
        .await?;
    Ok(c.query_opt(&stmt, &[&id]).await?.as_ref().map(row))
}

pub(crate) async fn list(
    c: &Client,
    after: i64,
    limit: usize,
    waiting_only: bool,
) -> Result<Vec<Quarantined>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM quarantine
             WHERE id > $1 AND (NOT $2 OR replayed_at IS NULL) ORDER BY id LIMIT $3"
        ))
        .await?;
    let rows = c
        .query(&stmt, &[&after, &waiting_only, &(limit as i64)])
        .await?;
    Ok(rows.iter().map(row).collect())
}
