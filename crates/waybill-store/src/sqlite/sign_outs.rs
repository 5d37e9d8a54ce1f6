//! Dashboard sessions that were signed out, by nonce, kept until the session would have
//! expired anyway. Sessions themselves are signed and stateless; only their end is
//! stored, so that it holds across restarts and on every node of one database.

use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;
use crate::model::sign_out::SignOut;

/// One session to forget.
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
