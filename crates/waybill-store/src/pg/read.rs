//! Queries on PostgreSQL. The rows are written in the transaction of the events, so
//! they are always current: no overlay here.

use deadpool_postgres::Client;
use waybill_core::{Entry, EventKind, OrderStatus, ShipmentStatus, Timestamp, event_key};

use crate::StoreError;
use crate::model::columns::{decode_seqs, named};
use crate::model::records::{
    EventRecord, ListFilter, OrderPage, OrderRecord, ShipmentRecord, assemble,
};

const ORDER_COLUMNS: &str = "ref, order_id, status, created_at,
    (SELECT max(updated_at) FROM shipments WHERE order_ref = orders.ref), details";

fn order_row(r: &tokio_postgres::Row) -> Result<(i64, OrderRecord), StoreError> {
    Ok((
        r.get(0),
        OrderRecord {
            order_id: r.get(1),
            status: named("status", r.get(2), OrderStatus::parse)?,
            created_at: r.get(3),
            updated_at: r.get::<_, Option<i64>>(4).unwrap_or_default(),
            details: r.get(5),
            shipments: Vec::new(),
        },
    ))
}

/// A read-only transaction on one snapshot: an order and its shipments never come from
/// two different commits.
async fn snapshot(c: &mut Client) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    Ok(c.build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// The order and its shipments, in one statement: one snapshot and one round trip (a
/// read in a transaction of its own took four, and its tail grew with every one of
/// them on a busy database).
pub(crate) async fn order(
    c: &mut Client,
    order_id: &str,
) -> Result<Option<OrderRecord>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT o.order_id, o.status, o.created_at, o.details, s.updated_at, s.ref,
                    s.carrier, s.tracking_number, s.status, s.status_at, s.last_event_at,
                    s.last_location
             FROM orders o LEFT JOIN shipments s ON s.order_ref = o.ref
             WHERE o.order_id = $1 ORDER BY s.ref",
        )
        .await?;
    let rows = c.query(&stmt, &[&order_id]).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut rec = OrderRecord {
        order_id: first.get(0),
        status: named("status", first.get(1), OrderStatus::parse)?,
        created_at: first.get(2),
        updated_at: 0,
        details: first.get(3),
        shipments: Vec::new(),
    };
    for r in &rows {
        let updated: Option<i64> = r.get(4);
        rec.updated_at = rec.updated_at.max(updated.unwrap_or_default());
        // The default shipment shows once it has a status; an order without shipments
        // has one row with none.
        let (shipment, number, status): (Option<i64>, Option<&str>, Option<&str>) =
            (r.get(5), r.get(7), r.get(8));
        if shipment.is_some() && (number.is_some() || status.is_some()) {
            rec.shipments.push(shipment_of(r, 6)?);
        }
    }
    Ok(Some(rec))
}

/// A shipment from its `carrier, tracking_number, status, status_at, last_event_at,
/// last_location` columns, from `at`.
fn shipment_of(r: &tokio_postgres::Row, at: usize) -> Result<ShipmentRecord, StoreError> {
    Ok(ShipmentRecord {
        carrier: r.get(at),
        tracking_number: r.get(at + 1),
        status: r
            .get::<_, Option<&str>>(at + 2)
            .map(|s| named("status", s, ShipmentStatus::parse))
            .transpose()?,
        status_at: r.get(at + 3),
        last_event_at: r.get(at + 4),
        last_location: r.get(at + 5),
    })
}

async fn shipments_in(
    tx: &deadpool_postgres::Transaction<'_>,
    oref: i64,
) -> Result<Vec<ShipmentRecord>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT carrier, tracking_number, status, status_at, last_event_at, last_location
             FROM shipments
             WHERE order_ref = $1 AND (tracking_number IS NOT NULL OR status IS NOT NULL)
             ORDER BY ref",
        )
        .await?;
    tx.query(&stmt, &[&oref])
        .await?
        .iter()
        .map(|r| shipment_of(r, 0))
        .collect()
}

pub(crate) async fn list_orders(c: &mut Client, f: &ListFilter) -> Result<OrderPage, StoreError> {
    let limit = f.limit.clamp(1, 1000);
    let tx = snapshot(c).await?;
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE ref > $1
               AND ($2::text IS NULL OR status = $2)
               AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM shipments s
                        WHERE s.order_ref = orders.ref AND s.updated_at >= $3))
               AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM shipments s
                        WHERE s.order_ref = orders.ref AND s.carrier = $4))
             ORDER BY ref LIMIT $5"
        ))
        .await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &f.after.unwrap_or(0),
                &f.status.map(OrderStatus::as_str),
                &f.updated_since,
                &f.carrier,
                &(limit as i64 + 1),
            ],
        )
        .await?;
    let more = rows.len() > limit;
    let mut orders = Vec::with_capacity(limit);
    let mut last = None;
    for row in rows.iter().take(limit) {
        let (oref, mut rec) = order_row(row)?;
        rec.shipments = shipments_in(&tx, oref).await?;
        last = Some(oref);
        orders.push(rec);
    }
    tx.commit().await?;
    Ok(OrderPage {
        orders,
        next: if more { last } else { None },
    })
}

/// As `crate::sqlite::read::timeline`.
pub(crate) async fn timeline(
    c: &mut Client,
    order_id: &str,
) -> Result<Option<Vec<EventRecord>>, StoreError> {
    let tx = snapshot(c).await?;
    let stmt = tx
        .prepare_cached(
            "SELECT s.event_seqs FROM orders o LEFT JOIN shipments s ON s.order_ref = o.ref
             WHERE o.order_id = $1 ORDER BY s.ref",
        )
        .await?;
    let lists = tx.query(&stmt, &[&order_id]).await?;
    if lists.is_empty() {
        return Ok(None);
    }
    let events = tx
        .prepare_cached(
            "SELECT event_id, carrier, tracking_number, kind, occurred_at, utc_offset,
                    received_at, location, description, raw_status, details
             FROM events e JOIN UNNEST($1::bigint[]) AS k(seq) ON e.seq = k.seq",
        )
        .await?;
    let mut by_shipment = Vec::with_capacity(lists.len());
    for list in lists {
        let seqs = decode_seqs(&list.get::<_, Option<Vec<u8>>>(0).unwrap_or_default());
        if seqs.is_empty() {
            continue;
        }
        let items = tx
            .query(&events, &[&seqs])
            .await?
            .iter()
            .map(|r| {
                let kind = named("kind", r.get(3), EventKind::parse)?;
                let rec = EventRecord {
                    event_id: r.get(0),
                    order_id: order_id.to_owned(),
                    carrier: r.get(1),
                    tracking_number: r.get(2),
                    kind,
                    occurred_at: r.get(4),
                    utc_offset: r.get(5),
                    received_at: r.get(6),
                    location: r.get(7),
                    description: r.get(8),
                    raw_status: r.get(9),
                    details: r.get(10),
                    flag: None,
                };
                let entry = Entry {
                    occurred_at: Timestamp(rec.occurred_at),
                    kind,
                    key: event_key(&rec.event_id),
                    location: rec.location.clone().map(Into::into),
                };
                Ok((entry, rec))
            })
            .collect::<Result<_, StoreError>>()?;
        by_shipment.push(items);
    }
    tx.commit().await?;
    Ok(Some(assemble(by_shipment)))
}
