//! The event log's rows: appending events in multi-row statements, reading them back.

use std::sync::OnceLock;

use rusqlite::{Connection, Transaction};
use waybill_core::{OrderId, TrackingEvent};

use crate::StoreError;
use crate::model::columns::Stored;

const COLUMNS: &str = "seq, event_id, order_id, carrier, tracking_number, kind, occurred_at, \
                       utc_offset, received_at, location, description, raw_status, details";
const PARAMS_PER_ROW: usize = 13;
/// Rows per INSERT: one statement step instead of 32 amortizes SQLite's per-statement
/// work, which is a large share of a small row's cost.
const ROWS_PER_INSERT: usize = 32;

fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; PARAMS_PER_ROW].join(","));
    format!(
        "INSERT INTO events ({COLUMNS}) VALUES {}",
        vec![row; rows].join(",")
    )
}

/// Appends events under the seqs the writer assigned.
pub fn append(tx: &Transaction<'_>, events: &[(i64, &TrackingEvent)]) -> Result<(), StoreError> {
    static MANY: OnceLock<String> = OnceLock::new();
    static ONE: OnceLock<String> = OnceLock::new();
    let many = MANY.get_or_init(|| insert_sql(ROWS_PER_INSERT));
    let one = ONE.get_or_init(|| insert_sql(1));
    let mut chunks = events.chunks_exact(ROWS_PER_INSERT);
    for chunk in &mut chunks {
        bind_and_run(&mut tx.prepare_cached(many)?, chunk)?;
    }
    let mut single = tx.prepare_cached(one)?;
    for row in chunks.remainder() {
        bind_and_run(&mut single, std::slice::from_ref(row))?;
    }
    Ok(())
}

fn bind_and_run(
    stmt: &mut rusqlite::CachedStatement<'_>,
    rows: &[(i64, &TrackingEvent)],
) -> Result<(), StoreError> {
    for (r, (seq, ev)) in rows.iter().enumerate() {
        let base = r * PARAMS_PER_ROW;
        let (carrier, number) = match &ev.tracking {
            Some(t) => (Some(t.carrier.as_str()), Some(t.tracking_number.as_str())),
            None => (None, None),
        };
        stmt.raw_bind_parameter(base + 1, seq)?;
        stmt.raw_bind_parameter(base + 2, ev.event_id.as_str())?;
        stmt.raw_bind_parameter(base + 3, ev.order_id.as_ref().map(OrderId::as_str))?;
        stmt.raw_bind_parameter(base + 4, carrier)?;
        stmt.raw_bind_parameter(base + 5, number)?;
        stmt.raw_bind_parameter(base + 6, ev.kind.as_str())?;
        stmt.raw_bind_parameter(base + 7, ev.occurred_at.as_micros())?;
        stmt.raw_bind_parameter(base + 8, ev.utc_offset_seconds)?;
        stmt.raw_bind_parameter(base + 9, ev.received_at.as_micros())?;
        stmt.raw_bind_parameter(base + 10, ev.location.as_deref())?;
        stmt.raw_bind_parameter(base + 11, ev.description.as_deref())?;
        stmt.raw_bind_parameter(base + 12, ev.raw_status.as_deref())?;
        stmt.raw_bind_parameter(base + 13, ev.details.as_deref())?;
    }
    stmt.raw_execute()?;
    Ok(())
}

/// The next free seq.
pub fn next_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT coalesce(max(seq), 0) + 1 FROM events", [], |r| {
            r.get(0)
        })?,
    )
}

/// Reads an event row back into the domain type (for replay). `None` if the row no
/// longer parses.
pub fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<TrackingEvent>> {
    Ok(Stored {
        event_id: r.get("event_id")?,
        order_id: r.get("order_id")?,
        carrier: r.get("carrier")?,
        tracking_number: r.get("tracking_number")?,
        kind: r.get("kind")?,
        occurred_at: r.get("occurred_at")?,
        utc_offset: r.get("utc_offset")?,
        received_at: r.get("received_at")?,
        location: r.get("location")?,
        description: r.get("description")?,
        raw_status: r.get("raw_status")?,
        details: r.get("details")?,
    }
    .event())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multi_row_statement_has_one_placeholder_per_value() {
        let sql = insert_sql(3);
        assert_eq!(sql.matches('?').count(), 3 * PARAMS_PER_ROW);
        assert_eq!(COLUMNS.split(',').count(), PARAMS_PER_ROW);
    }
}
