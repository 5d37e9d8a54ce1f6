//! The event log's rows: appending events in multi-row statements, reading them back.

use std::sync::OnceLock;

use rusqlite::{Connection, Transaction};
use waybill_core::event::Tracking;
use waybill_core::{Carrier, EventKind, OrderId, Timestamp, TrackingEvent, TrackingNumber};

use crate::StoreError;

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

/// `shipments.event_seqs` as stored: little-endian i64s.
pub fn encode_seqs(seqs: &[i64]) -> Vec<u8> {
    seqs.iter().flat_map(|s| s.to_le_bytes()).collect()
}

pub fn decode_seqs(blob: &[u8]) -> Vec<i64> {
    blob.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// An event's columns, as either store keeps them.
pub(crate) struct Stored {
    pub event_id: String,
    pub order_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub kind: String,
    pub occurred_at: i64,
    pub utc_offset: i32,
    pub received_at: i64,
    pub location: Option<String>,
    pub description: Option<String>,
    pub raw_status: Option<String>,
    pub details: Option<String>,
}

impl Stored {
    /// The domain event again; `None` if it no longer parses (an id this build would
    /// refuse).
    pub(crate) fn event(self) -> Option<TrackingEvent> {
        let tracking = match (self.carrier, self.tracking_number) {
            (Some(c), Some(n)) => Some(Tracking {
                carrier: Carrier::parse(&c).ok()?,
                tracking_number: TrackingNumber::parse(&n).ok()?,
            }),
            _ => None,
        };
        let order_id = match self.order_id {
            Some(o) => Some(OrderId::parse(&o).ok()?),
            None => None,
        };
        Some(TrackingEvent {
            event_id: self.event_id,
            order_id,
            tracking,
            kind: EventKind::parse(&self.kind).unwrap_or(EventKind::Unmapped),
            occurred_at: Timestamp(self.occurred_at),
            utc_offset_seconds: self.utc_offset,
            received_at: Timestamp(self.received_at),
            location: self.location,
            description: self.description,
            raw_status: self.raw_status,
            details: self.details,
        })
    }
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
    fn seqs_round_trip() {
        let seqs = [1, 2, 1 << 40, i64::MAX];
        assert_eq!(decode_seqs(&encode_seqs(&seqs)), seqs);
        assert!(decode_seqs(&[]).is_empty());
    }

    #[test]
    fn the_multi_row_statement_has_one_placeholder_per_value() {
        let sql = insert_sql(3);
        assert_eq!(sql.matches('?').count(), 3 * PARAMS_PER_ROW);
        assert_eq!(COLUMNS.split(',').count(), PARAMS_PER_ROW);
    }
}
