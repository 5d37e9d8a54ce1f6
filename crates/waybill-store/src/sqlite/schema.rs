//! The database layout and its versioned migrations (`PRAGMA user_version`).
//!
//! The layout is built for the writer's hot path. Events are appended under an integer
//! `seq` and carry no secondary index at all: each shipment row lists the `seq`s of its
//! events (`event_seqs`), and that row is rewritten once per batch anyway. So an event
//! costs one append, and the pages a batch dirties are the log's last pages plus the
//! projection rows it touched. Dedup needs no global index either: an event id is unique
//! within its shipment, and the writer checks it against the shipment's entries in
//! memory.

use std::path::Path;

use rusqlite::Connection;

use crate::{StoreError, Synchronous};

/// Each step moves the schema one version up. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the event log and the order/shipment projections.
    "
    CREATE TABLE events (
        seq           INTEGER PRIMARY KEY,
        event_id      TEXT    NOT NULL,
        order_id      TEXT,
        carrier       TEXT,
        tracking_number TEXT,
        kind          TEXT    NOT NULL,
        occurred_at   INTEGER NOT NULL,
        utc_offset    INTEGER NOT NULL,
        received_at   INTEGER NOT NULL,
        location      TEXT,
        description   TEXT,
        raw_status    TEXT,
        details       TEXT
    );

    CREATE TABLE orders (
        ref         INTEGER PRIMARY KEY,
        order_id    TEXT    NOT NULL UNIQUE,
        status      TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        -- updated_at is the latest of its shipments' updated_at.
        details     TEXT
    );

    CREATE TABLE shipments (
        ref             INTEGER PRIMARY KEY,
        order_ref       INTEGER NOT NULL,
        carrier         TEXT,
        tracking_number TEXT,
        status          TEXT,
        status_at       INTEGER,
        high_water      TEXT,
        last_event_at   INTEGER,
        last_location   TEXT,
        updated_at      INTEGER,
        -- The seqs of this shipment's events, little-endian i64s.
        event_seqs      BLOB
    );
    CREATE UNIQUE INDEX shipments_by_tracking ON shipments (carrier, tracking_number)
        WHERE tracking_number IS NOT NULL;
    CREATE UNIQUE INDEX shipments_default ON shipments (order_ref)
        WHERE tracking_number IS NULL;
    CREATE INDEX shipments_by_order ON shipments (order_ref);
    ",
    // 2: how far the projection rows have caught up with the log. The writer lets them
    // lag by up to a second and catches up from here at start.
    "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value)
        VALUES ('projected_through', (SELECT coalesce(max(seq), 0) FROM events));
    ",
    // 3: shipments no order has claimed yet (provider pushes for unknown numbers), and
    // the quarantine of pushes that authenticated but could not be read. SQLite cannot
    // relax a NOT NULL in place, so the shipments table is rebuilt.
    "
    CREATE TABLE shipments_v3 (
        ref             INTEGER PRIMARY KEY,
        -- NULL: unlinked, waiting for an order to claim it.
        order_ref       INTEGER,
        carrier         TEXT,
        tracking_number TEXT,
        status          TEXT,
        status_at       INTEGER,
        high_water      TEXT,
        last_event_at   INTEGER,
        last_location   TEXT,
        updated_at      INTEGER,
        event_seqs      BLOB
    );
    INSERT INTO shipments_v3 SELECT * FROM shipments;
    DROP TABLE shipments;
    ALTER TABLE shipments_v3 RENAME TO shipments;
    CREATE UNIQUE INDEX shipments_by_tracking ON shipments (carrier, tracking_number)
        WHERE tracking_number IS NOT NULL;
    CREATE UNIQUE INDEX shipments_default ON shipments (order_ref)
        WHERE tracking_number IS NULL;
    CREATE INDEX shipments_by_order ON shipments (order_ref);

    CREATE TABLE quarantine (
        id          INTEGER PRIMARY KEY,
        provider    TEXT    NOT NULL,
        received_at INTEGER NOT NULL,
        reason      TEXT    NOT NULL,
        -- The request headers a parser may read (JSON object), without credentials.
        headers     TEXT    NOT NULL,
        body        BLOB    NOT NULL,
        -- Set once a replay applied it.
        replayed_at INTEGER
    );

    -- Names a carrier correction retired, and the carrier the parcel has now.
    CREATE TABLE carrier_aliases (
        carrier         TEXT NOT NULL,
        tracking_number TEXT NOT NULL,
        now_carrier     TEXT NOT NULL,
        PRIMARY KEY (carrier, tracking_number)
    ) WITHOUT ROWID;
    ",
    // 4: the outbox of domain events, written in the transaction of the change that
    // caused them. Its ids are the stable ids of deliveries and stream messages.
    "
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        type            TEXT    NOT NULL,
        order_id        TEXT    NOT NULL,
        carrier         TEXT,
        tracking_number TEXT,
        status          TEXT    NOT NULL,
        previous_status TEXT,
        -- When Waybill received the event that caused it (µs), and that event's id.
        at              INTEGER NOT NULL,
        cause           TEXT    NOT NULL
    );
    -- No secondary index: like the log, the outbox is only ever appended at its right
    -- edge, and an order's stream resumes by scanning ids from its last one.
    ",
    // 5: outbound webhooks: subscriptions, each following the outbox with its own
    // cursor, and one delivery per subscription and domain event.
    "
    CREATE TABLE subscriptions (
        id              TEXT    PRIMARY KEY,
        url             TEXT    NOT NULL,
        event_types     TEXT    NOT NULL,
        description     TEXT,
        secret          TEXT    NOT NULL,
        created_at      INTEGER NOT NULL,
        cursor          INTEGER NOT NULL,
        disabled_at     INTEGER,
        disabled_reason TEXT
    );
    CREATE TABLE deliveries (
        id              INTEGER PRIMARY KEY,
        subscription_id TEXT    NOT NULL,
        outbox_id       INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        -- pending, delivered, failed
        state           TEXT    NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        last_status     INTEGER,
        last_error      TEXT,
        delivered_at    INTEGER,
        created_at      INTEGER NOT NULL,
        UNIQUE (subscription_id, outbox_id)
    );
    CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
    ",
    // 6: dashboard sessions signed out before they expired.
    "
    CREATE TABLE signed_out (
        nonce TEXT    PRIMARY KEY,
        until INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 7: how a subscription's deliveries go out, said by a column of its own (the
    // e-mail channel was told apart by its URL before).
    "
    ALTER TABLE subscriptions ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook';
    UPDATE subscriptions SET channel = 'email' WHERE url = 'email:customer';
    ",
    // 8: a rotated secret may keep signing for a while beside the new one.
    "
    ALTER TABLE subscriptions ADD COLUMN previous_secret TEXT;
    ALTER TABLE subscriptions ADD COLUMN previous_until INTEGER;
    ",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// SQLite's page cache of a connection, in MiB. Each connection has its own: the
/// writer's is large (it keeps the hot right-hand pages and the id indexes of the
/// tables), the readers' and the checkpointer's are small, since the operating system's
/// page cache already holds the file for all of them; sixteen readers with the writer's
/// cache each would multiply the memory bound by seventeen.
pub const READER_CACHE_MIB: usize = 4;
pub const CHECKPOINTER_CACHE_MIB: usize = 2;

/// Opens a connection with the pragmas every Waybill connection uses, and a page cache
/// of at most `cache_mib`.
pub fn open(path: &Path, sync: Synchronous, cache_mib: usize) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    // Negative: in KiB, not pages.
    conn.pragma_update(None, "cache_size", -((cache_mib.max(1) * 1024) as i64))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // After a checkpoint lets the WAL start over, trim the file back to this size.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(conn)
}

/// Brings the schema up to [`VERSION`], one transaction per step.
pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: VERSION,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {step}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = open(&path, Synchronous::Full, 2).unwrap();
        migrate(&conn).unwrap();
        migrate(&conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&conn),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn version_3_keeps_shipments_and_lets_them_be_unlinked() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("db"), Synchronous::Full, 2).unwrap();
        for (i, step) in MIGRATIONS.iter().take(2).enumerate() {
            conn.execute_batch(&format!("{step}; PRAGMA user_version = {};", i + 1))
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO orders (order_id, status, created_at) VALUES ('o1', 'created', 1);
             INSERT INTO shipments (order_ref, carrier, tracking_number, event_seqs)
                 VALUES (1, 'ups', '1Z', x'0100000000000000');",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let (order_ref, seqs): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT order_ref, event_seqs FROM shipments WHERE tracking_number = '1Z'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((order_ref, seqs.len()), (1, 8));
        conn.execute(
            "INSERT INTO shipments (order_ref, carrier, tracking_number) VALUES (NULL, 'ups', '2Z')",
            [],
        )
        .unwrap();
        let dup = conn.execute(
            "INSERT INTO shipments (order_ref, carrier, tracking_number) VALUES (NULL, 'ups', '2Z')",
            [],
        );
        assert!(dup.is_err(), "(carrier, tracking_number) stays unique");
    }

    #[test]
    fn version_7_tells_the_email_channel_by_a_column() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("db"), Synchronous::Full, 2).unwrap();
        for (i, step) in MIGRATIONS.iter().take(6).enumerate() {
            conn.execute_batch(&format!("{step}; PRAGMA user_version = {};", i + 1))
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO subscriptions (id, url, event_types, secret, created_at, cursor)
                 VALUES ('sub_email', 'email:customer', 'order.status_changed', '-', 1, 0),
                        ('sub_1', 'https://erp.example/hook', '*', 'whsec_x', 2, 0);",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let channels: Vec<(String, String)> = conn
            .prepare("SELECT id, channel FROM subscriptions ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            channels,
            [
                ("sub_1".to_owned(), "webhook".to_owned()),
                ("sub_email".to_owned(), "email".to_owned())
            ]
        );
    }
}
