//! Instants as microseconds since the Unix epoch, UTC.
//!
//! The core only compares and orders instants, so a plain integer is all it needs; parsing
//! and formatting RFC 3339 (with the sender's offset) happen at the edges.

/// An instant, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn as_micros(self) -> i64 {
        self.0
    }
}
