//! Waybill's domain core.
//!
//! Everything here is pure: no I/O, no async runtime, no SQL, no JSON. The store and the
//! server feed it typed values and persist what it decides. Keeping it pure is what lets
//! the state machine and the fold be tested exhaustively (see the property tests) and
//! reused unchanged by every storage backend.
//!
//! - [`status`]: the canonical shipment statuses and the derived order statuses.
//! - [`machine`]: the state machine, as a table.
//! - [`change`]: the domain events announced when state changes (the outbox's rows).
//! - [`event`]: the tracking event, its identity (`event_id` and the derived key) and ids.
//! - [`timeline`]: one shipment's ordered events and the fold that turns them into state.
//! - [`order`]: how an order's status follows from its shipments.
//! - [`engine`]: everything decided about one arriving event, through a port ([`engine::World`]).
//! - [`model`]: the engine over hash maps, the reference the stores are tested against.

pub mod change;
pub mod engine;
pub mod event;
pub mod ids;
pub mod machine;
pub mod model;
pub mod order;
pub mod status;
pub mod time;
pub mod timeline;

pub use event::{EventKind, ParcelKey, TrackingEvent, event_key};
pub use ids::{Carrier, IdError, OrderId, TrackingNumber};
pub use order::{order_status, order_status_with_default};
pub use status::{OrderStatus, ShipmentStatus};
pub use time::Timestamp;
pub use timeline::{Entry, ShipmentLog, ShipmentState, Verdict};
