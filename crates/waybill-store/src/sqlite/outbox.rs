//! The outbox: domain events, appended in the same transaction as the state change that
//! caused them, read back in id order by whatever announces them (webhooks, streams,
//! e-mail). An id is never reused, so it is the stable identity of a message on every
//! retry, and the resume point of a stream.

use std::sync::OnceLock;

use rusqlite::{Connection, Transaction, params};
use waybill_core::Timestamp;
use waybill_core::change::Change;

use crate::StoreError;
use crate::model::outbox::{OutboxRecord, typed};

/// Rows per INSERT statement: one statement for many rows is most of the saving.
const ROWS_PER_INSERT: usize = 32;
const PARAMS_PER_ROW: usize = 8;

fn insert_sql(rows: usize) -> String {
    let row = format!("({})", ["?"; PARAMS_PER_ROW].join(","));
    format!(
        "INSERT INTO outbox (type, order_id, carrier, tracking_number, status, previous_status, at, cause) VALUES {}",
        vec![row; rows].join(",")
    )
}

/// Appends the batch's domain events; returns the last id written, if any.
pub(crate) fn append(tx: &Transaction<'_>, changes: &[Change]) -> Result<Option<i64>, StoreError> {
    if changes.is_empty() {
        return Ok(None);
    }
    static MANY: OnceLock<String> = OnceLock::new();
    static ONE: OnceLock<String> = OnceLock::new();
    let mut chunks = changes.chunks_exact(ROWS_PER_INSERT);
    let mut many = tx.prepare_cached(MANY.get_or_init(|| insert_sql(ROWS_PER_INSERT)))?;
    for chunk in &mut chunks {
        bind_and_run(&mut many, chunk)?;
    }
    let mut one = tx.prepare_cached(ONE.get_or_init(|| insert_sql(1)))?;
    for c in chunks.remainder() {
        bind_and_run(&mut one, std::slice::from_ref(c))?;
    }
    Ok(Some(tx.last_insert_rowid()))
}

fn bind_and_run(
    stmt: &mut rusqlite::CachedStatement<'_>,
    rows: &[Change],
) -> Result<(), StoreError> {
    for (r, c) in rows.iter().enumerate() {
        let base = r * PARAMS_PER_ROW;
        stmt.raw_bind_parameter(base + 1, c.kind.as_str())?;
        stmt.raw_bind_parameter(base + 2, c.order_id.as_str())?;
        stmt.raw_bind_parameter(base + 3, c.parcel.as_ref().map(|t| t.carrier.as_str()))?;
        stmt.raw_bind_parameter(
            base + 4,
            c.parcel.as_ref().map(|t| t.tracking_number.as_str()),
        )?;
        stmt.raw_bind_parameter(base + 5, c.status.as_str())?;
        stmt.raw_bind_parameter(base + 6, c.previous.map(|p| p.as_str()))?;
        stmt.raw_bind_parameter(base + 7, c.at.as_micros())?;
        stmt.raw_bind_parameter(base + 8, c.cause.as_str())?;
    }
    stmt.raw_execute()?;
    Ok(())
}

/// The last id in the outbox (0 when empty).
pub fn last_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0))?)
}

const COLUMNS: &str =
    "id, type, order_id, carrier, tracking_number, status, previous_status, at, cause";

/// Domain events with an id above `after`, oldest first.
pub fn after(conn: &Connection, after: i64, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![after, limit as i64], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One order's domain events with an id in `(after, through]`, oldest first. Scans the
/// ids from `after`: cheap for a client that reconnects soon, as streams do.
pub fn for_order(
    conn: &Connection,
    order_id: &str,
    after: i64,
    through: i64,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM outbox WHERE order_id = ?1 AND id > ?2 AND id <= ?3
         ORDER BY id LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![order_id, after, through, limit as i64], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRecord> {
    let (kind, status, previous_status) = typed(
        r.get_ref(1)?.as_str()?,
        r.get_ref(5)?.as_str()?,
        r.get_ref(6)?.as_str_or_null()?,
    )
    .map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(OutboxRecord {
        id: r.get(0)?,
        kind,
        order_id: r.get(2)?,
        carrier: r.get(3)?,
        tracking_number: r.get(4)?,
        status,
        previous_status,
        at: Timestamp(r.get(7)?),
        cause: r.get(8)?,
    })
}
