//! The one clock: every receipt time, expiry and retry schedule reads it here.

use waybill_core::Timestamp;

/// Now, as the domain counts time (microseconds since the Unix epoch).
pub fn now() -> Timestamp {
    Timestamp(jiff::Timestamp::now().as_microsecond())
}
