//! Queries. They run on pooled read connections: in WAL mode a reader sees the last
//! committed state and never waits for the writer.

use std::path::PathBuf;
use std::sync::Mutex;

pub use rusqlite::Connection;
use rusqlite::{OptionalExtension, params};
use waybill_core::{Entry, EventKind, OrderStatus, ShipmentStatus, Timestamp, event_key};

use super::schema;
use crate::model::columns::decode_seqs;
use crate::model::records::{
    EventRecord, ListFilter, OrderPage, OrderRecord, ShipmentRecord, assemble,
};
use crate::sqlite::overlay::Overlay;
use crate::sqlite::overlay::PendingOrder;
use crate::{StoreError, Synchronous};

pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = schema::open(&self.path, Synchronous::Normal, schema::READER_CACHE_MIB)?;
                c.pragma_update(None, "query_only", true)?;
                c
            }
        };
        // One read transaction: every statement of `f` sees the same snapshot, so an
        // order and its shipments never come from two different commits.
        let out = conn
            .unchecked_transaction()
            .map_err(StoreError::from)
            .and_then(|tx| f(&tx));
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < 16
        {
            idle.push(conn);
        }
        out
    }
}

fn shipments_of(conn: &Connection, oref: i64) -> Result<Vec<ShipmentRecord>, StoreError> {
    // The default shipment shows only once something has happened to it.
    let mut stmt = conn.prepare_cached(
        "SELECT carrier, tracking_number, status, status_at, last_event_at, last_location
         FROM shipments WHERE order_ref = ?1 AND (tracking_number IS NOT NULL OR status IS NOT NULL)
         ORDER BY ref",
    )?;
    let rows = stmt
        .query_map([oref], |r| {
            Ok(ShipmentRecord {
                carrier: r.get(0)?,
                tracking_number: r.get(1)?,
                status: parsed_opt(r, 2, ShipmentStatus::parse)?,
                status_at: r.get(3)?,
                last_event_at: r.get(4)?,
                last_location: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

const ORDER_COLUMNS: &str = "ref, order_id, status, created_at,
    (SELECT max(updated_at) FROM shipments WHERE order_ref = orders.ref), details";

fn order_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, OrderRecord)> {
    Ok((
        r.get(0)?,
        OrderRecord {
            order_id: r.get(1)?,
            status: parsed(r, 2, OrderStatus::parse)?,
            created_at: r.get(3)?,
            updated_at: r.get::<_, Option<i64>>(4)?.unwrap_or_default(),
            details: r.get(5)?,
            shipments: Vec::new(),
        },
    ))
}

pub fn order(
    conn: &Connection,
    overlay: &Overlay,
    order_id: &str,
) -> Result<Option<OrderRecord>, StoreError> {
    if let Some(p) = overlay.get(order_id) {
        return Ok(Some(p.record.clone()));
    }
    let row = conn
        .prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?1"
        ))?
        .query_row([order_id], order_row)
        .optional()?;
    let Some((oref, mut rec)) = row else {
        return Ok(None);
    };
    rec.shipments = shipments_of(conn, oref)?;
    Ok(Some(rec))
}

fn matches(p: &PendingOrder, f: &ListFilter) -> bool {
    f.status.is_none_or(|s| s == p.record.status)
        && f.carrier.as_ref().is_none_or(|c| p.carriers.contains(c))
        && f.updated_since.is_none_or(|t| p.record.updated_at >= t)
}

pub fn list_orders(
    conn: &Connection,
    overlay: &Overlay,
    f: &ListFilter,
) -> Result<OrderPage, StoreError> {
    let limit = f.limit.clamp(1, 1000);
    let after = f.after.unwrap_or(0);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE ref > ?1
           AND (?2 IS NULL OR status = ?2)
           AND (?3 IS NULL OR EXISTS (SELECT 1 FROM shipments s
                                      WHERE s.order_ref = orders.ref AND s.updated_at >= ?3))
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM shipments s
                                      WHERE s.order_ref = orders.ref AND s.carrier = ?4))
         ORDER BY ref LIMIT ?5"
    ))?;
    let rows: Vec<(i64, OrderRecord)> = stmt
        .query_map(
            params![
                after,
                f.status.map(OrderStatus::as_str),
                f.updated_since,
                f.carrier,
                limit as i64 + 1
            ],
            order_row,
        )?
        .collect::<Result<_, _>>()?;
    // The rows say how far this page reaches: everything up to the last row taken has
    // been looked at. Orders ahead of their rows are judged on their current state
    // instead, wherever their rows placed them.
    let reach = if rows.len() > limit {
        rows.get(limit - 1).map(|(r, _)| *r)
    } else {
        None
    };
    let mut page: Vec<(i64, Option<OrderRecord>)> = rows
        .into_iter()
        .take(limit)
        .filter(|(_, rec)| !overlay.contains(&rec.order_id))
        .map(|(r, rec)| (r, Some(rec)))
        .collect();
    // Only the lowest `limit + 1` can make this page (and tell whether it is full).
    let pending = overlay.scan(after, reach, limit + 1, |p| matches(p, f));
    page.extend(pending.iter().map(|p| (p.oref, None)));
    page.sort_by_key(|(r, _)| *r);
    let truncated = page.len() > limit;
    page.truncate(limit);
    let mut orders = Vec::with_capacity(page.len());
    let mut last = None;
    for (oref, rec) in page {
        let rec = match rec {
            Some(mut rec) => {
                rec.shipments = shipments_of(conn, oref)?;
                rec
            }
            None => match pending.iter().find(|p| p.oref == oref) {
                Some(p) => p.record.clone(),
                None => continue,
            },
        };
        last = Some(oref);
        orders.push(rec);
    }
    let next = if truncated { last } else { reach };
    Ok(OrderPage { orders, next })
}

/// The order's timeline, ordered as the fold orders it, each event with its verdict.
/// `None` if the order does not exist.
pub fn timeline(
    conn: &Connection,
    overlay: &Overlay,
    order_id: &str,
) -> Result<Option<Vec<EventRecord>>, StoreError> {
    let seq_lists: Vec<Vec<i64>> = match overlay.get(order_id) {
        Some(p) => p.seqs.clone(),
        None => {
            let exists = conn
                .prepare_cached("SELECT 1 FROM orders WHERE order_id = ?1")?
                .query_row([order_id], |_| Ok(()))
                .optional()?;
            if exists.is_none() {
                return Ok(None);
            }
            let mut shipments = conn.prepare_cached(
                "SELECT s.event_seqs FROM orders o JOIN shipments s ON s.order_ref = o.ref
                 WHERE o.order_id = ?1 ORDER BY s.ref",
            )?;
            shipments
                .query_map([order_id], |r| r.get::<_, Option<Vec<u8>>>(0))?
                .map(|b| b.map(|b| decode_seqs(&b.unwrap_or_default())))
                .collect::<Result<_, _>>()?
        }
    };
    let mut event = conn.prepare_cached(
        "SELECT event_id, carrier, tracking_number, kind, occurred_at, utc_offset, received_at,
                location, description, raw_status, details
         FROM events WHERE seq = ?1",
    )?;
    let mut by_shipment: Vec<Vec<(Entry, EventRecord)>> = Vec::with_capacity(seq_lists.len());
    for seqs in seq_lists {
        let mut items = Vec::new();
        for seq in seqs {
            items.push(event.query_row([seq], |r| {
                let kind = parsed(r, 3, EventKind::parse)?;
                let location: Option<String> = r.get(7)?;
                let rec = EventRecord {
                    event_id: r.get(0)?,
                    order_id: order_id.to_owned(),
                    carrier: r.get(1)?,
                    tracking_number: r.get(2)?,
                    kind,
                    occurred_at: r.get(4)?,
                    utc_offset: r.get(5)?,
                    received_at: r.get(6)?,
                    location: location.clone(),
                    description: r.get(8)?,
                    raw_status: r.get(9)?,
                    details: r.get(10)?,
                    flag: None,
                };
                let entry = Entry {
                    occurred_at: Timestamp(rec.occurred_at),
                    kind,
                    key: event_key(&rec.event_id),
                    location: location.map(Into::into),
                };
                Ok((entry, rec))
            })?);
        }
        by_shipment.push(items);
    }
    Ok(Some(assemble(by_shipment)))
}

/// A status column read back as its enum; a name this build does not know is an error,
/// not a guess.
pub(crate) fn parsed<T>(
    r: &rusqlite::Row<'_>,
    at: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text = r.get_ref(at)?.as_str()?;
    parse(text).ok_or_else(|| unknown_status(at, text))
}

pub(crate) fn parsed_opt<T>(
    r: &rusqlite::Row<'_>,
    at: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<Option<T>> {
    match r.get_ref(at)?.as_str_or_null()? {
        Some(text) => parse(text)
            .map(Some)
            .ok_or_else(|| unknown_status(at, text)),
        None => Ok(None),
    }
}

fn unknown_status(at: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        at,
        rusqlite::types::Type::Text,
        format!("unknown status {text:?}").into(),
    )
}
