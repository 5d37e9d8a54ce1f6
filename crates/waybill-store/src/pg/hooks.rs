//! Subscriptions and deliveries on PostgreSQL (see `crate::hooks`). A delivery's
//! `outbox_id` is the domain event's position, its public id.

use deadpool_postgres::{Client, Transaction};
use waybill_core::Timestamp;
use waybill_core::change::ChangeKind;

use crate::StoreError;
use crate::model::columns::named;

use crate::model::hooks::{Attempt, Channel, Delivery, DeliveryState, HookOp, Subscription};

/// Applies one op; `false` when it named nothing that exists.
pub(crate) async fn apply(tx: &Transaction<'_>, op: &HookOp) -> Result<bool, StoreError> {
    let changed = match op {
        // DO NOTHING: the built-in e-mail channel is created at every start.
        HookOp::Create(s) => {
            tx.execute(
                "INSERT INTO subscriptions
                     (id, url, event_types, description, secret, created_at, cursor, channel)
                 VALUES ($1, $2, $3, $4, $5, $6,
                         (SELECT coalesce(max(position), 0) FROM outbox), $7)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &s.id,
                    &s.url,
                    &s.event_types,
                    &s.description,
                    &s.secret,
                    &s.created_at.as_micros(),
                    &s.channel.as_str(),
                ],
            )
            .await?
        }
        HookOp::Delete(id) => {
            tx.execute("DELETE FROM deliveries WHERE subscription_id = $1", &[id])
                .await?;
            tx.execute("DELETE FROM subscriptions WHERE id = $1", &[id])
                .await?
        }
        HookOp::Rotate {
            id,
            secret,
            previous_until,
        } => {
            let until = previous_until.map(|t| t.as_micros());
            tx.execute(
                "UPDATE subscriptions SET
                     previous_secret = CASE WHEN $3::bigint IS NULL THEN NULL ELSE secret END,
                     previous_until = $3, secret = $2
                 WHERE id = $1",
                &[id, secret, &until],
            )
            .await?
        }
        HookOp::Enqueue {
            subscription,
            outbox_ids,
            cursor,
            at,
        } => {
            let n = tx
                .execute(
                    "UPDATE subscriptions SET cursor = greatest(cursor, $2) WHERE id = $1",
                    &[subscription, cursor],
                )
                .await?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO deliveries
                         (subscription_id, outbox_id, state, next_attempt_at, created_at)
                     SELECT $1, id, 'pending', $3, $3 FROM UNNEST($2::bigint[]) AS u(id)
                     ON CONFLICT (subscription_id, outbox_id) DO NOTHING",
                    &[subscription, outbox_ids, &at.as_micros()],
                )
                .await?;
            }
            n
        }
        HookOp::Attempted { delivery, attempt } => attempted(tx, *delivery, attempt).await?,
        HookOp::Disable {
            subscription,
            reason,
            at,
        } => {
            tx.execute(
                "UPDATE subscriptions SET disabled_at = $2, disabled_reason = $3 WHERE id = $1",
                &[subscription, &at.as_micros(), reason],
            )
            .await?
        }
        HookOp::Redeliver {
            subscription,
            delivery,
            since,
            at,
        } => {
            let n = tx
                .execute(
                    "UPDATE subscriptions SET disabled_at = NULL, disabled_reason = NULL
                     WHERE id = $1",
                    &[subscription],
                )
                .await?;
            if n > 0 {
                // A fresh start: the whole schedule again.
                tx.execute(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = $2, attempts = 0
                     WHERE subscription_id = $1
                       AND ($3::bigint IS NULL OR id = $3)
                       AND ($4::bigint IS NULL OR created_at >= $4)",
                    &[
                        subscription,
                        &at.as_micros(),
                        delivery,
                        &since.map(Timestamp::as_micros),
                    ],
                )
                .await?;
            }
            n
        }
    };
    Ok(changed > 0)
}

/// Results land only on a delivery still pending: a redelivery or a deletion while the
/// send was in flight must not be overwritten by it.
async fn attempted(tx: &Transaction<'_>, id: i64, attempt: &Attempt) -> Result<u64, StoreError> {
    let status = |s: &Option<u16>| s.map(i32::from);
    Ok(match attempt {
        Attempt::Delivered { status, at } => {
            tx.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1,
                     last_status = $2, last_error = NULL, delivered_at = $3
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &i32::from(*status), &at.as_micros()],
            )
            .await?
        }
        Attempt::Retry {
            status: s,
            error,
            next_at,
        } => {
            tx.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_status = $2,
                     last_error = $3, next_attempt_at = $4
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &status(s), error, &next_at.as_micros()],
            )
            .await?
        }
        Attempt::Skipped { reason, at } => {
            tx.execute(
                "UPDATE deliveries SET state = 'skipped', last_error = $2, next_attempt_at = $3
                 WHERE id = $1 AND state = 'pending'",
                &[&id, reason, &at.as_micros()],
            )
            .await?
        }
        Attempt::GaveUp {
            status: s,
            error,
            at,
        } => {
            tx.execute(
                "UPDATE deliveries SET state = 'failed', attempts = attempts + 1,
                     last_status = $2, last_error = $3, next_attempt_at = $4
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &status(s), error, &at.as_micros()],
            )
            .await?
        }
    })
}

fn subscription_row(r: &tokio_postgres::Row) -> Result<Subscription, StoreError> {
    let channel: &str = r.get(9);
    Ok(Subscription {
        channel: named("channel", channel, Channel::parse)?,
        id: r.get(0),
        url: r.get(1),
        event_types: r.get(2),
        description: r.get(3),
        secret: r.get(4),
        created_at: Timestamp(r.get(5)),
        cursor: r.get(6),
        disabled_at: r.get::<_, Option<i64>>(7).map(Timestamp),
        disabled_reason: r.get(8),
        previous_secret: r.get(10),
        previous_until: r.get::<_, Option<i64>>(11).map(Timestamp),
    })
}

const SUBSCRIPTION: &str = "id, url, event_types, description, secret, created_at, cursor,
    disabled_at, disabled_reason, channel, previous_secret, previous_until";

pub(crate) async fn subscriptions(c: &Client) -> Result<Vec<Subscription>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {SUBSCRIPTION} FROM subscriptions ORDER BY created_at, id"
        ))
        .await?;
    c.query(&stmt, &[])
        .await?
        .iter()
        .map(subscription_row)
        .collect()
}

pub(crate) async fn subscription(c: &Client, id: &str) -> Result<Option<Subscription>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {SUBSCRIPTION} FROM subscriptions WHERE id = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(subscription_row)
        .transpose()
}

fn delivery_row(r: &tokio_postgres::Row) -> Result<Delivery, StoreError> {
    let (kind, state): (&str, &str) = (r.get(3), r.get(5));
    Ok(Delivery {
        id: r.get(0),
        subscription_id: r.get(1),
        outbox_id: r.get(2),
        kind: named("type", kind, ChangeKind::parse)?,
        attempts: i64::from(r.get::<_, i32>(4)),
        state: named("state", state, DeliveryState::parse)?,
        next_attempt_at: Timestamp(r.get(6)),
        last_status: r
            .get::<_, Option<i32>>(7)
            .and_then(|s| u16::try_from(s).ok()),
        last_error: r.get(8),
        delivered_at: r.get::<_, Option<i64>>(9).map(Timestamp),
        created_at: Timestamp(r.get(10)),
    })
}

const DELIVERY: &str = "d.id, d.subscription_id, d.outbox_id, o.type, d.attempts, d.state,
    d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at";

/// As `crate::sqlite::hooks::due`.
pub(crate) async fn due(
    c: &Client,
    now: Timestamp,
    per_subscription: usize,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {DELIVERY} FROM (
                 SELECT d.*, row_number() OVER (
                     PARTITION BY d.subscription_id ORDER BY d.next_attempt_at, d.id) AS rank
                 FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
                 WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND s.disabled_at IS NULL
             ) d JOIN outbox o ON o.position = d.outbox_id
             WHERE d.rank <= $2
             ORDER BY d.next_attempt_at, d.id LIMIT $3"
        ))
        .await?;
    let rows = c
        .query(
            &stmt,
            &[
                &now.as_micros(),
                &(per_subscription as i64),
                &(limit as i64),
            ],
        )
        .await?;
    rows.iter().map(delivery_row).collect()
}

/// As `crate::sqlite::hooks::of_subscription`.
pub(crate) async fn of_subscription(
    c: &Client,
    subscription: &str,
    before: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {DELIVERY} FROM deliveries d JOIN outbox o ON o.position = d.outbox_id
             WHERE d.subscription_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3"
        ))
        .await?;
    let rows = c
        .query(&stmt, &[&subscription, &before, &(limit as i64)])
        .await?;
    rows.iter().map(delivery_row).collect()
}
