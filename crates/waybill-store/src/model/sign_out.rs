//! A dashboard session signed out before its expiry, on either backend.

use waybill_core::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOut {
    pub nonce: String,
    /// When the session expires: the row is useless after that.
    pub until: Timestamp,
    /// When it was signed out: rows already past their `until` go in the same write.
    pub at: Timestamp,
}
