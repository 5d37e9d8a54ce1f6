//! The outbox on PostgreSQL, and its sequencer.
//!
//! Concurrent writers take outbox ids from one sequence but commit in any order: a
//! reader that had followed ids up to 12 could see 11 commit later and skip it for
//! ever. So readers do not follow ids. After its commit a writer runs the sequencer,
//! which, holding an advisory lock that makes sequencers take turns, numbers every
//! committed row that has no `position` yet, after the highest position there is, in id
//! order (so one order's changes keep their order). Positions thus become visible in
//! increasing order, and "everything after position p" is a question with a stable
//! answer. A writer that dies between its commit and the sequencer is covered by the
//! next pass of anyone (every store runs one periodically as well).

use deadpool_postgres::Client;
use waybill_core::Timestamp;

use crate::StoreError;
use crate::model::outbox::OutboxRecord;

/// Numbers the committed rows that wait; returns the highest position there is.
pub(crate) async fn sequence(client: &mut Client) -> Result<i64, StoreError> {
    let tx = client.transaction().await?;
    tx.execute(
        &format!(
            "SELECT pg_advisory_xact_lock({})",
            super::lock_key("'sequencer'")
        ),
        &[],
    )
    .await?;
    // The statement starts after the lock is held: it sees every earlier pass.
    let stmt = tx
        .prepare_cached(
            "WITH base AS (SELECT coalesce(max(position), 0) AS p FROM outbox),
                  waiting AS (SELECT id, row_number() OVER (ORDER BY id) AS n
                              FROM outbox WHERE position IS NULL ORDER BY id LIMIT 10000),
                  numbered AS (UPDATE outbox o SET position = base.p + waiting.n
                               FROM base, waiting WHERE o.id = waiting.id
                               RETURNING o.position)
             SELECT greatest((SELECT p FROM base), (SELECT max(position) FROM numbered))",
        )
        .await?;
    let last: i64 = tx.query_one(&stmt, &[]).await?.get(0);
    tx.commit().await?;
    Ok(last)
}

/// The highest position (0 when nothing is sequenced).
pub(crate) async fn last_position(client: &Client) -> Result<i64, StoreError> {
    let stmt = client
        .prepare_cached("SELECT coalesce(max(position), 0) FROM outbox")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.get(0))
}

/// Whether committed rows wait for the sequencer.
pub(crate) async fn waiting(client: &Client) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox WHERE position IS NULL)")
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
