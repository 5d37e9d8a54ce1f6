//! Dashboard sessions that were signed out, by nonce, kept until the session would have
//! expired anyway. Sessions themselves are signed and stateless; only their end is
//! stored, so that it holds across restarts and on every node of one database.

use rusqlite::{Connection, OptionalExtension, params};
use waybill_core::Timestamp;

use crate::StoreError;

/// One session to forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOut {
    pub nonce: String,
    /// When the session expires: the row is useless after that.
    pub until: Timestamp,
    /// When it was signed out: rows already past their `until` go in the same write.
    pub at: Timestamp,
}

pub(crate) fn record(conn: &Connection, s: &SignOut) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM signed_out WHERE until <= ?1")?
        .execute([s.at.as_micros()])?;
    conn.prepare_cached("INSERT OR IGNORE INTO signed_out (nonce, until) VALUES (?1, ?2)")?
        .execute(params![s.nonce, s.until.as_micros()])?;
    Ok(())
}

pub fn is_signed_out(conn: &Connection, nonce: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM signed_out WHERE nonce = ?1")?
        .query_row([nonce], |_| Ok(()))
        .optional()?
        .is_some())
}
