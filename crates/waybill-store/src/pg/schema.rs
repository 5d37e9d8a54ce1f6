//! The PostgreSQL layout and its versioned migrations (table `waybill_schema`).
//!
//! The same tables as the embedded store, so that one applier serves both: times are
//! microseconds since the epoch (`BIGINT`), a shipment lists the seqs of its events
//! (`event_seqs`, little-endian i64s). What differs is what concurrent writers need:
//! seqs come from a sequence, and outbox rows get their `position` — the order readers
//! follow — from another, at the end of the writer's transaction under a lock that
//! makes positions commit in order (see `pg::outbox`).

use tokio_postgres::Client;

use crate::StoreError;

/// Each step moves the schema one version up. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: everything the embedded store has at its schema 5.
    "
    CREATE SEQUENCE event_seq;
    CREATE TABLE events (
        seq             BIGINT  PRIMARY KEY,
        event_id        TEXT    NOT NULL,
        order_id        TEXT,
        carrier         TEXT,
        tracking_number TEXT,
        kind            TEXT    NOT NULL,
        occurred_at     BIGINT  NOT NULL,
        utc_offset      INTEGER NOT NULL,
        received_at     BIGINT  NOT NULL,
        location        TEXT,
        description     TEXT,
        raw_status      TEXT,
        details         TEXT
    );

    CREATE TABLE orders (
        ref         BIGSERIAL PRIMARY KEY,
        order_id    TEXT    NOT NULL UNIQUE,
        status      TEXT    NOT NULL,
        created_at  BIGINT  NOT NULL,
        details     TEXT
    );

    CREATE TABLE shipments (
        ref             BIGSERIAL PRIMARY KEY,
        order_ref       BIGINT REFERENCES orders (ref),
        carrier         TEXT,
        tracking_number TEXT,
        status          TEXT,
        status_at       BIGINT,
        high_water      TEXT,
        last_event_at   BIGINT,
        last_location   TEXT,
        updated_at      BIGINT,
        event_seqs      BYTEA
    );
    CREATE UNIQUE INDEX shipments_by_tracking ON shipments (carrier, tracking_number)
        WHERE tracking_number IS NOT NULL;
    CREATE UNIQUE INDEX shipments_default ON shipments (order_ref)
        WHERE tracking_number IS NULL;
    CREATE INDEX shipments_by_order ON shipments (order_ref);

    CREATE TABLE carrier_aliases (
        carrier         TEXT NOT NULL,
        tracking_number TEXT NOT NULL,
        now_carrier     TEXT NOT NULL,
        PRIMARY KEY (carrier, tracking_number)
    );

    CREATE TABLE quarantine (
        id          BIGSERIAL PRIMARY KEY,
        provider    TEXT    NOT NULL,
        received_at BIGINT  NOT NULL,
        reason      TEXT    NOT NULL,
        headers     TEXT    NOT NULL,
        body        BYTEA   NOT NULL,
        replayed_at BIGINT
    );

    CREATE TABLE outbox (
        id              BIGSERIAL PRIMARY KEY,
        -- Set by the sequencer, in commit order: what readers follow and resume from.
        position        BIGINT UNIQUE,
        type            TEXT    NOT NULL,
        order_id        TEXT    NOT NULL,
        carrier         TEXT,
        tracking_number TEXT,
        status          TEXT    NOT NULL,
        previous_status TEXT,
        at              BIGINT  NOT NULL,
        cause           TEXT    NOT NULL
    );
    CREATE INDEX outbox_unsequenced ON outbox (id) WHERE position IS NULL;
    -- An order's stream resumes from its own events (many writers, no right edge).
    CREATE INDEX outbox_by_order ON outbox (order_id, position);

    CREATE TABLE subscriptions (
        id              TEXT    PRIMARY KEY,
        url             TEXT    NOT NULL,
        event_types     TEXT    NOT NULL,
        description     TEXT,
        secret          TEXT    NOT NULL,
        created_at      BIGINT  NOT NULL,
        cursor          BIGINT  NOT NULL,
        disabled_at     BIGINT,
        disabled_reason TEXT
    );
    CREATE TABLE deliveries (
        id              BIGSERIAL PRIMARY KEY,
        subscription_id TEXT    NOT NULL,
        outbox_id       BIGINT  NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        state           TEXT    NOT NULL,
        next_attempt_at BIGINT  NOT NULL,
        last_status     INTEGER,
        last_error      TEXT,
        delivered_at    BIGINT,
        created_at      BIGINT  NOT NULL,
        UNIQUE (subscription_id, outbox_id)
    );
    CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
    ",
    // 2: how far each relay (the broker's copy of the outbox) has published.
    "
    CREATE TABLE relay_cursors (
        name     TEXT   PRIMARY KEY,
        position BIGINT NOT NULL
    );
    ",
    // 3: dashboard sessions signed out before they expired.
    "
    CREATE TABLE signed_out (
        nonce TEXT   PRIMARY KEY,
        until BIGINT NOT NULL
    );
    ",
    // 4: how a subscription's deliveries go out, said by a column of its own (the
    // e-mail channel was told apart by its URL before).
    "
    ALTER TABLE subscriptions ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook';
    UPDATE subscriptions SET channel = 'email' WHERE url = 'email:customer';
    ",
    // 5: outbox positions handed out at insert, in commit order (see `pg::outbox`),
    // instead of by a sequencer rewriting committed rows; the position is then the
    // row's key, and the id it had only for the sequencer goes. Rows an older node
    // left without a position are numbered here, as its sequencer would have.
    // Shipments and orders are rewritten at almost every event: room in their pages
    // lets PostgreSQL update them in place (HOT), without new index entries.
    "
    WITH base AS (SELECT coalesce(max(position), 0) AS p FROM outbox),
         waiting AS (SELECT id, row_number() OVER (ORDER BY id) AS n
                     FROM outbox WHERE position IS NULL)
    UPDATE outbox o SET position = base.p + waiting.n
    FROM base, waiting WHERE o.id = waiting.id;
    CREATE SEQUENCE outbox_position;
    SELECT setval('outbox_position', max(position)) FROM outbox HAVING max(position) > 0;
    ALTER TABLE outbox DROP COLUMN id;
    ALTER TABLE outbox DROP CONSTRAINT outbox_position_key;
    ALTER TABLE outbox ADD PRIMARY KEY (position);
    ALTER TABLE shipments SET (fillfactor = 70);
    ALTER TABLE orders SET (fillfactor = 70);
    ",
    // 6: a rotated secret may keep signing for a while beside the new one.
    "
    ALTER TABLE subscriptions ADD COLUMN previous_secret TEXT;
    ALTER TABLE subscriptions ADD COLUMN previous_until BIGINT;
    ",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`VERSION`], in one transaction. Nodes that start together
/// take turns.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    migrate_to(client, VERSION).await
}

/// Brings the schema up to `target` (at most [`VERSION`]): what an older release left
/// behind, for the tests of each step.
pub async fn migrate_to(client: &mut Client, target: i64) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute(
        &format!(
            "SELECT pg_advisory_xact_lock({})",
            super::lock_key("'migrations'")
        ),
        &[],
    )
    .await?;
    // Inside the lock: two nodes creating it at once would collide.
    tx.batch_execute("CREATE TABLE IF NOT EXISTS waybill_schema (version BIGINT NOT NULL)")
        .await?;
    let current: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM waybill_schema", &[])
        .await?
        .get(0);
    if current > VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: VERSION,
        });
    }
    let upto = target.clamp(0, VERSION) as usize;
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .take(upto)
        .skip(current as usize)
    {
        tx.batch_execute(step).await?;
        tx.execute(
            "INSERT INTO waybill_schema (version) VALUES ($1)",
            &[&(i as i64 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
