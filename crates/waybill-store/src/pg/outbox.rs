//! The outbox on PostgreSQL: positions given in commit order.
//!
//! Concurrent writers commit in any order, and a reader that had followed positions up
//! to 12 must never see 11 commit later and skip it for ever. So the position — the
//! order readers follow, the public id of a domain event — is handed out at the very
//! end of a writer's transaction, under an advisory lock held until it commits
//! ([`append`]): the next writer takes its positions only after the previous one is
//! visible. Positions thus become visible in increasing order, and "everything after
//! position p" has a stable answer. The lock is held for one insert and the commit;
//! writers take turns there and nowhere else. (Until schema 5 a sequencer numbered
//! committed rows after the fact, rewriting each one: a third of the WAL an event
//! cost.)

use deadpool_postgres::{Client, Transaction};
use waybill_core::Timestamp;
use waybill_core::change::Change;

use crate::StoreError;
use crate::model::outbox::OutboxRecord;

/// Appends `changes` with the next positions; call it last before the commit (the
/// lock it takes is held until then). Returns the highest position it gave.
pub(crate) async fn append(
    tx: &Transaction<'_>,
    changes: &[Change],
) -> Result<Option<i64>, StoreError> {
    if changes.is_empty() {
        return Ok(None);
    }
    let lock = tx
        .prepare_cached(&format!(
            "SELECT pg_advisory_xact_lock({})",
            super::lock_key("'outbox'")
        ))
        .await?;
    tx.execute(&lock, &[]).await?;
    let kind: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
    let order: Vec<&str> = changes.iter().map(|c| c.order_id.as_str()).collect();
    let carrier: Vec<Option<&str>> = changes
        .iter()
        .map(|c| c.parcel.as_ref().map(|t| t.carrier.as_str()))
        .collect();
    let number: Vec<Option<&str>> = changes
        .iter()
        .map(|c| c.parcel.as_ref().map(|t| t.tracking_number.as_str()))
        .collect();
    let status: Vec<&str> = changes.iter().map(|c| c.status.as_str()).collect();
    let previous: Vec<Option<&str>> = changes
        .iter()
        .map(|c| c.previous.map(|p| p.as_str()))
        .collect();
    let at: Vec<i64> = changes.iter().map(|c| c.at.as_micros()).collect();
    let cause: Vec<&str> = changes.iter().map(|c| c.cause.as_str()).collect();
    // Positions in the order of the changes (UNNEST yields its rows in array order):
    // one order's changes keep their order.
    let insert = tx
        .prepare_cached(
            "WITH added AS (
                 INSERT INTO outbox (position, type, order_id, carrier, tracking_number,
                     status, previous_status, at, cause)
                 SELECT nextval('outbox_position'), * FROM UNNEST($1::text[], $2::text[],
                     $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
                 RETURNING position)
             SELECT max(position) FROM added",
        )
        .await?;
    let row = tx
        .query_one(
            &insert,
            &[
                &kind, &order, &carrier, &number, &status, &previous, &at, &cause,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// The highest position (0 when there is none).
pub(crate) async fn last_position(client: &Client) -> Result<i64, StoreError> {
    let stmt = client
        .prepare_cached("SELECT coalesce(max(position), 0) FROM outbox")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.get(0))
}

const COLUMNS: &str =
    "position, type, order_id, carrier, tracking_number, status, previous_status, at, cause";

fn record(r: &tokio_postgres::Row) -> Result<OutboxRecord, StoreError> {
    let (kind, status, previous_status) = crate::model::outbox::typed(r.get(1), r.get(5), r.get(6))
        .map_err(StoreError::Unreadable)?;
    Ok(OutboxRecord {
        id: r.get(0),
        kind,
        order_id: r.get(2),
        carrier: r.get(3),
        tracking_number: r.get(4),
        status,
        previous_status,
        at: Timestamp(r.get(7)),
        cause: r.get(8),
    })
}

/// Domain events with a position above `after`, in position order.
pub(crate) async fn after(
    client: &Client,
    after: i64,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE position > $1 ORDER BY position LIMIT $2"
        ))
        .await?;
    let rows = client.query(&stmt, &[&after, &(limit as i64)]).await?;
    rows.iter().map(record).collect()
}

/// One order's domain events with a position in `(after, through]`.
pub(crate) async fn for_order(
    client: &Client,
    order_id: &str,
    after: i64,
    through: i64,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE order_id = $1 AND position > $2 AND position <= $3
             ORDER BY position LIMIT $4"
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&order_id, &after, &through, &(limit as i64)])
        .await?;
    rows.iter().map(record).collect()
}

/// One domain event by its position.
pub(crate) async fn get(
    client: &Client,
    position: i64,
) -> Result<Option<OutboxRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE position = $1"))
        .await?;
    client
        .query_opt(&stmt, &[&position])
        .await?
        .as_ref()
        .map(record)
        .transpose()
}
