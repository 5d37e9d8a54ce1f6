//! Subscriptions (outbound webhooks to merchant systems) and their deliveries.
//!
//! A subscription follows the outbox with its own cursor: the delivery engine reads
//! domain events past it, enqueues one delivery per wanted event (idempotently: one
//! per subscription and outbox id) and moves the cursor, in one transaction. Each
//! delivery keeps its attempts, its next attempt time and its last answer. All writes
//! go through the writer thread, like every other write.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use waybill_core::Timestamp;
use waybill_core::change::ChangeKind;

use crate::StoreError;
use crate::model::hooks::{Attempt, Channel, Delivery, DeliveryState, HookOp, Subscription};

/// Applies one op; `false` when it named nothing that exists.
pub(crate) fn apply(tx: &Transaction<'_>, op: &HookOp) -> Result<bool, StoreError> {
    let changed = match op {
        // OR IGNORE: the built-in e-mail channel is created at every start.
        HookOp::Create(s) => tx.execute(
            "INSERT OR IGNORE INTO subscriptions
                 (id, url, event_types, description, secret, created_at, cursor, channel)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT coalesce(max(id), 0) FROM outbox), ?7)",
            params![
                s.id,
                s.url,
                s.event_types,
                s.description,
                s.secret,
                s.created_at.as_micros(),
                s.channel.as_str()
            ],
        )?,
        HookOp::Delete(id) => {
            tx.execute("DELETE FROM deliveries WHERE subscription_id = ?1", [id])?;
            tx.execute("DELETE FROM subscriptions WHERE id = ?1", [id])?
        }
        HookOp::Rotate {
            id,
            secret,
            previous_until,
        } => tx.execute(
            "UPDATE subscriptions SET
                 previous_secret = CASE WHEN ?3 IS NULL THEN NULL ELSE secret END,
                 previous_until = ?3, secret = ?2
             WHERE id = ?1",
            params![id, secret, previous_until.map(|t| t.as_micros())],
        )?,
        HookOp::Enqueue {
            subscription,
            outbox_ids,
            cursor,
            at,
        } => {
            let n = tx.execute(
                "UPDATE subscriptions SET cursor = max(cursor, ?2) WHERE id = ?1",
                params![subscription, cursor],
            )?;
            if n > 0 {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO deliveries
                         (subscription_id, outbox_id, state, next_attempt_at, created_at)
                     VALUES (?1, ?2, 'pending', ?3, ?3)",
                )?;
                for id in outbox_ids {
                    stmt.execute(params![subscription, id, at.as_micros()])?;
                }
            }
            n
        }
        HookOp::Attempted { delivery, attempt } => match attempt {
            // Results land only on a delivery still pending: a redelivery or a deletion
            // while the send was in flight must not be overwritten by it.
            Attempt::Delivered { status, at } => tx.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1,
                     last_status = ?2, last_error = NULL, delivered_at = ?3
                 WHERE id = ?1 AND state = 'pending'",
                params![delivery, status, at.as_micros()],
            )?,
            Attempt::Retry {
                status,
                error,
                next_at,
            } => tx.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_status = ?2,
                     last_error = ?3, next_attempt_at = ?4
                 WHERE id = ?1 AND state = 'pending'",
                params![delivery, status, error, next_at.as_micros()],
            )?,
            Attempt::Skipped { reason, at } => tx.execute(
                "UPDATE deliveries SET state = 'skipped', last_error = ?2, next_attempt_at = ?3
                 WHERE id = ?1 AND state = 'pending'",
                params![delivery, reason, at.as_micros()],
            )?,
            Attempt::GaveUp { status, error, at } => tx.execute(
                "UPDATE deliveries SET state = 'failed', attempts = attempts + 1,
                     last_status = ?2, last_error = ?3, next_attempt_at = ?4
                 WHERE id = ?1 AND state = 'pending'",
                params![delivery, status, error, at.as_micros()],
            )?,
        },
        HookOp::Disable {
            subscription,
            reason,
            at,
        } => tx.execute(
            "UPDATE subscriptions SET disabled_at = ?2, disabled_reason = ?3 WHERE id = ?1",
            params![subscription, at.as_micros(), reason],
        )?,
        HookOp::Redeliver {
            subscription,
            delivery,
            since,
            at,
        } => {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE id = ?1)",
                [subscription],
                |r| r.get(0),
            )?;
            if exists {
                tx.execute(
                    "UPDATE subscriptions SET disabled_at = NULL, disabled_reason = NULL
                     WHERE id = ?1",
                    [subscription],
                )?;
                tx.execute(
                    // A fresh start: the whole schedule again.
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?2, attempts = 0
                     WHERE subscription_id = ?1
                       AND (?3 IS NULL OR id = ?3)
                       AND (?4 IS NULL OR created_at >= ?4)",
                    params![
                        subscription,
                        at.as_micros(),
                        delivery,
                        since.map(Timestamp::as_micros)
                    ],
                )?;
            }
            usize::from(exists)
        }
    };
    Ok(changed > 0)
}

fn subscription_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: r.get(0)?,
        url: r.get(1)?,
        event_types: r.get(2)?,
        description: r.get(3)?,
        secret: r.get(4)?,
        created_at: Timestamp(r.get(5)?),
        cursor: r.get(6)?,
        disabled_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
        disabled_reason: r.get(8)?,
        channel: crate::sqlite::read::parsed(r, 9, Channel::parse)?,
        previous_secret: r.get(10)?,
        previous_until: r.get::<_, Option<i64>>(11)?.map(Timestamp),
    })
}

const SUBSCRIPTION: &str = "id, url, event_types, description, secret, created_at, cursor,
    disabled_at, disabled_reason, channel, previous_secret, previous_until";

pub fn subscriptions(conn: &Connection) -> Result<Vec<Subscription>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUBSCRIPTION} FROM subscriptions ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], subscription_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn subscription(conn: &Connection, id: &str) -> Result<Option<Subscription>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SUBSCRIPTION} FROM subscriptions WHERE id = ?1"
        ))?
        .query_row([id], subscription_row)
        .optional()?)
}

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        subscription_id: r.get(1)?,
        outbox_id: r.get(2)?,
        kind: crate::sqlite::read::parsed(r, 3, ChangeKind::parse)?,
        attempts: r.get(4)?,
        state: crate::sqlite::read::parsed(r, 5, DeliveryState::parse)?,
        next_attempt_at: Timestamp(r.get(6)?),
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        delivered_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
        created_at: Timestamp(r.get(10)?),
    })
}

const DELIVERY: &str = "d.id, d.subscription_id, d.outbox_id, o.type, d.attempts, d.state,
    d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at";

/// Pending deliveries due by `now`, oldest due first, of subscriptions still enabled:
/// at most `per_subscription` of each, so that one endpoint's backlog never fills the
/// window and starves the others.
pub fn due(
    conn: &Connection,
    now: Timestamp,
    per_subscription: usize,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY} FROM (
             SELECT d.*, row_number() OVER (
                 PARTITION BY d.subscription_id ORDER BY d.next_attempt_at, d.id) AS rank
             FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND s.disabled_at IS NULL
         ) d JOIN outbox o ON o.id = d.outbox_id
         WHERE d.rank <= ?2
         ORDER BY d.next_attempt_at, d.id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![now.as_micros(), per_subscription as i64, limit as i64],
        delivery_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A subscription's deliveries, newest first, with ids below `before`.
pub fn of_subscription(
    conn: &Connection,
    subscription: &str,
    before: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY} FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
         WHERE d.subscription_id = ?1 AND d.id < ?2 ORDER BY d.id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![subscription, before, limit as i64], delivery_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
