//! Pushes that authenticated but could not be read or applied, kept whole with their
//! reason until a replay applies them. Nothing a provider handed us is dropped.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use waybill_core::Timestamp;

use crate::StoreError;
use crate::model::quarantine::{NewQuarantine, Quarantined};

pub(crate) fn insert(tx: &Transaction<'_>, q: &NewQuarantine) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO quarantine (provider, received_at, reason, headers, body)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        q.provider,
        q.received_at.as_micros(),
        q.reason,
        q.headers,
        q.body
    ])?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn mark_replayed(
    tx: &Transaction<'_>,
    id: i64,
    at: Timestamp,
) -> Result<(), StoreError> {
    // A second replay racing the first must not move the first one's time.
    tx.prepare_cached(
        "UPDATE quarantine SET replayed_at = ?2 WHERE id = ?1 AND replayed_at IS NULL",
    )?
    .execute(params![id, at.as_micros()])?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Quarantined> {
    Ok(Quarantined {
        id: r.get(0)?,
        provider: r.get(1)?,
        received_at: Timestamp(r.get(2)?),
        reason: r.get(3)?,
        headers: r.get(4)?,
        body: r.get(5)?,
        replayed_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

const COLUMNS: &str = "id, provider, received_at, reason, headers, body, replayed_at";

pub fn get(conn: &Connection, id: i64) -> Result<Option<Quarantined>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM quarantine WHERE id = ?1"))?
        .query_row([id], row)
        .optional()?)
}

/// Kept pushes with an id above `after`, oldest first; waiting ones only unless `all`.
pub fn list(
    conn: &Connection,
    after: i64,
    limit: usize,
    waiting_only: bool,
) -> Result<Vec<Quarantined>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM quarantine WHERE id > ?1 {} ORDER BY id LIMIT ?2",
        if waiting_only {
            "AND replayed_at IS NULL"
        } else {
            ""
        }
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![after, limit as i64], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
