//! Domain events: what the engine tells the world when state changes.
//!
//! They are produced while events are applied and written to the outbox in the same
//! transaction as the state change, so nothing is announced that did not happen and
//! nothing that happened goes unannounced. Webhooks, streams and e-mail read them from
//! there.

use crate::event::Tracking;
use crate::ids::OrderId;
use crate::status::{OrderStatus, ShipmentStatus};
use crate::time::Timestamp;

/// The kinds of domain event. A shipment reaching `delivered` or `exception` produces
/// its `shipment.status_changed` *and* the specific event, so a subscriber can ask for
/// either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    OrderCreated,
    OrderStatusChanged,
    ShipmentStatusChanged,
    ShipmentException,
    ShipmentDelivered,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 5] = [
        Self::OrderCreated,
        Self::OrderStatusChanged,
        Self::ShipmentStatusChanged,
        Self::ShipmentException,
        Self::ShipmentDelivered,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
            Self::ShipmentStatusChanged => "shipment.status_changed",
            Self::ShipmentException => "shipment.exception",
            Self::ShipmentDelivered => "shipment.delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The status a domain event names: an order's for `order.*`, a shipment's for
/// `shipment.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Order(OrderStatus),
    Shipment(ShipmentStatus),
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Order(s) => s.as_str(),
            Self::Shipment(s) => s.as_str(),
        }
    }

    /// A stored status back, read as the kind of event it belongs to says.
    pub fn parse(kind: ChangeKind, s: &str) -> Option<Self> {
        match kind {
            ChangeKind::OrderCreated | ChangeKind::OrderStatusChanged => {
                OrderStatus::parse(s).map(Self::Order)
            }
            ChangeKind::ShipmentStatusChanged
            | ChangeKind::ShipmentException
            | ChangeKind::ShipmentDelivered => ShipmentStatus::parse(s).map(Self::Shipment),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One domain event, before it has an outbox id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub order_id: OrderId,
    /// The tracked parcel of a `shipment.*` event; `None` for the order's default
    /// shipment and for `order.*` events.
    pub parcel: Option<Tracking>,
    /// The status after the change.
    pub status: Status,
    pub previous: Option<Status>,
    /// When Waybill received the event that caused it.
    pub at: Timestamp,
    /// The `event_id` of that event.
    pub cause: String,
}

/// The domain events of a shipment's status moving from `before` to `after`.
pub fn shipment_changes(
    before: Option<ShipmentStatus>,
    after: Option<ShipmentStatus>,
    base: impl Fn(ChangeKind, Status, Option<Status>) -> Change,
) -> Vec<Change> {
    let Some(now) = after else {
        return Vec::new();
    };
    if before == after {
        return Vec::new();
    }
    let (now_s, prev) = (Status::Shipment(now), before.map(Status::Shipment));
    let mut out = vec![base(ChangeKind::ShipmentStatusChanged, now_s, prev)];
    match now {
        ShipmentStatus::Delivered => {
            out.push(base(ChangeKind::ShipmentDelivered, now_s, prev));
        }
        ShipmentStatus::Exception => {
            out.push(base(ChangeKind::ShipmentException, now_s, prev));
        }
        _ => {}
    }
    out
}

/// The domain event of an order's status moving from `before` to `after`, if it moved.
pub fn order_change(
    before: OrderStatus,
    after: OrderStatus,
    base: impl Fn(ChangeKind, Status, Option<Status>) -> Change,
) -> Option<Change> {
    (before != after).then(|| {
        base(
            ChangeKind::OrderStatusChanged,
            Status::Order(after),
            Some(Status::Order(before)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus::*;

    fn base(kind: ChangeKind, status: Status, previous: Option<Status>) -> Change {
        Change {
            kind,
            order_id: OrderId::parse("o1").unwrap(),
            parcel: None,
            status,
            previous,
            at: Timestamp(1),
            cause: "e".into(),
        }
    }

    fn kinds(before: Option<ShipmentStatus>, after: Option<ShipmentStatus>) -> Vec<&'static str> {
        shipment_changes(before, after, base)
            .iter()
            .map(|c| c.kind.as_str())
            .collect()
    }

    #[test]
    fn a_shipment_announces_moves_and_its_outcomes() {
        assert_eq!(kinds(None, Some(PickedUp)), ["shipment.status_changed"]);
        assert!(kinds(Some(InTransit), Some(InTransit)).is_empty());
        assert!(kinds(Some(InTransit), None).is_empty());
        assert_eq!(
            kinds(Some(OutForDelivery), Some(Delivered)),
            ["shipment.status_changed", "shipment.delivered"]
        );
        assert_eq!(
            kinds(Some(InTransit), Some(Exception)),
            ["shipment.status_changed", "shipment.exception"]
        );
        let c = &shipment_changes(Some(InTransit), Some(Exception), base)[1];
        assert_eq!(
            (c.status, c.previous),
            (
                Status::Shipment(Exception),
                Some(Status::Shipment(InTransit))
            )
        );
    }

    #[test]
    fn an_order_announces_only_real_moves() {
        assert!(order_change(OrderStatus::Shipped, OrderStatus::Shipped, base).is_none());
        let c = order_change(OrderStatus::Shipped, OrderStatus::PickedUp, base).unwrap();
        assert_eq!(c.kind, ChangeKind::OrderStatusChanged);
        assert_eq!(c.status.as_str(), "picked_up");
        assert_eq!(c.previous, Some(Status::Order(OrderStatus::Shipped)));
    }

    #[test]
    fn statuses_are_read_back_as_their_kind_says() {
        for k in ChangeKind::ALL {
            let status = match k {
                ChangeKind::OrderCreated | ChangeKind::OrderStatusChanged => {
                    Status::Order(OrderStatus::Delivered)
                }
                _ => Status::Shipment(Delivered),
            };
            assert_eq!(Status::parse(k, status.as_str()), Some(status));
        }
        assert_eq!(
            Status::parse(ChangeKind::OrderCreated, "info_received"),
            None
        );
        assert_eq!(
            Status::parse(ChangeKind::ShipmentDelivered, "partially_delivered"),
            None
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("shipment.*"), None);
    }
}
