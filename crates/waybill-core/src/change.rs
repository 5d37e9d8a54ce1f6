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

/// One domain event, before it has an outbox id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub order_id: OrderId,
    /// The tracked parcel of a `shipment.*` event; `None` for the order's default
    /// shipment and for `order.*` events.
    pub parcel: Option<Tracking>,
    /// The status after the change (an order status for `order.*`, a shipment status
    /// for `shipment.*`).
    pub status: &'static str,
    pub previous: Option<&'static str>,
    /// When Waybill received the event that caused it.
    pub at: Timestamp,
    /// The `event_id` of that event.
    pub cause: String,
}

/// The domain events of a shipment's status moving from `before` to `after`.
pub fn shipment_changes(
    before: Option<ShipmentStatus>,
    after: Option<ShipmentStatus>,
    base: impl Fn(ChangeKind, &'static str, Option<&'static str>) -> Change,
) -> Vec<Change> {
    let Some(now) = after else {
        return Vec::new();
    };
    if before == after {
        return Vec::new();
    }
    let prev = before.map(ShipmentStatus::as_str);
    let mut out = vec![base(ChangeKind::ShipmentStatusChanged, now.as_str(), prev)];
    match now {
        ShipmentStatus::Delivered => {
            out.push(base(ChangeKind::ShipmentDelivered, now.as_str(), prev));
        }
        ShipmentStatus::Exception => {
            out.push(base(ChangeKind::ShipmentException, now.as_str(), prev));
        }
        _ => {}
    }
    out
}

/// The domain event of an order's status moving from `before` to `after`, if it moved.
pub fn order_change(
    before: OrderStatus,
    after: OrderStatus,
    base: impl Fn(ChangeKind, &'static str, Option<&'static str>) -> Change,
) -> Option<Change> {
    (before != after).then(|| {
        base(
            ChangeKind::OrderStatusChanged,
            after.as_str(),
            Some(before.as_str()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus::*;

    fn base(kind: ChangeKind, status: &'static str, previous: Option<&'static str>) -> Change {
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
        assert_eq!((c.status, c.previous), ("exception", Some("in_transit")));
    }

    #[test]
    fn an_order_announces_only_real_moves() {
        assert!(order_change(OrderStatus::Shipped, OrderStatus::Shipped, base).is_none());
        let c = order_change(OrderStatus::Shipped, OrderStatus::PickedUp, base).unwrap();
        assert_eq!(c.kind, ChangeKind::OrderStatusChanged);
        assert_eq!((c.status, c.previous), ("picked_up", Some("shipped")));
    }

    #[test]
    fn kinds_round_trip() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("shipment.*"), None);
    }
}
