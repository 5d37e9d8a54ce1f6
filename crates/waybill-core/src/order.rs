//! An order's status, derived from its shipments (docs/state-machine.md).

use crate::status::{OrderStatus, ShipmentStatus};

/// Derives the order's status from its shipments' statuses. `None` is a shipment that
/// has no status yet (registered, or only informational events): it is not shipped and
/// does not count.
///
/// The rules, first match wins: no shipment with a status → `created`; any in
/// `exception` → `exception`; all cancelled → `cancelled`; of the rest (the live ones),
/// all returned → `returned`; all delivered → `delivered`; some delivered →
/// `partially_delivered`; otherwise the least advanced live shipment.
pub fn order_status(shipments: impl IntoIterator<Item = Option<ShipmentStatus>>) -> OrderStatus {
    use ShipmentStatus::{Cancelled, Delivered, Exception, Returned};
    let mut any = false;
    let mut exception = false;
    let mut live = 0usize;
    let mut delivered = 0usize;
    let mut returned = 0usize;
    let mut least: Option<ShipmentStatus> = None;
    for status in shipments.into_iter().flatten() {
        any = true;
        match status {
            Exception => exception = true,
            Cancelled => continue,
            Delivered => delivered += 1,
            Returned => returned += 1,
            _ => {}
        }
        live += 1;
        if status != Delivered && least.is_none_or(|l| (status.rank(), status) < (l.rank(), l)) {
            least = Some(status);
        }
    }
    if !any {
        OrderStatus::Created
    } else if exception {
        OrderStatus::Exception
    } else if live == 0 {
        OrderStatus::Cancelled
    } else if returned == live {
        OrderStatus::Returned
    } else if delivered == live {
        OrderStatus::Delivered
    } else if delivered > 0 {
        OrderStatus::PartiallyDelivered
    } else {
        least.map_or(OrderStatus::Created, OrderStatus::of_shipment)
    }
}

/// The order's status when it may have a default shipment (events without a tracking
/// number, like the seed's `ship`). The default shipment stands for the order's parcels
/// until their tracking numbers are known: once any tracked shipment has a status, it
/// no longer counts, so a merchant's `ship` followed by the carrier's scans of the
/// parcel does not leave the order half-delivered forever.
pub fn order_status_with_default(
    tracked: impl IntoIterator<Item = Option<ShipmentStatus>>,
    default: Option<ShipmentStatus>,
) -> OrderStatus {
    let tracked: Vec<Option<ShipmentStatus>> = tracked.into_iter().collect();
    if tracked.iter().any(Option::is_some) {
        order_status(tracked)
    } else {
        order_status([default])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus::*;

    fn check(shipments: &[Option<ShipmentStatus>], expected: OrderStatus) {
        assert_eq!(
            order_status(shipments.iter().copied()),
            expected,
            "shipments {shipments:?}"
        );
    }

    #[test]
    fn the_default_shipment_counts_only_until_a_tracked_one_moves() {
        let ship = Some(InfoReceived);
        assert_eq!(order_status_with_default([], ship), OrderStatus::Shipped);
        assert_eq!(
            order_status_with_default([None], ship),
            OrderStatus::Shipped
        );
        assert_eq!(
            order_status_with_default([Some(Delivered)], ship),
            OrderStatus::Delivered
        );
        assert_eq!(
            order_status_with_default([Some(Delivered), Some(InTransit)], Some(Delivered)),
            OrderStatus::PartiallyDelivered
        );
        assert_eq!(order_status_with_default([], None), OrderStatus::Created);
    }

    #[test]
    fn derivation_rules() {
        check(&[], OrderStatus::Created);
        check(&[None], OrderStatus::Created);
        check(&[Some(InfoReceived)], OrderStatus::Shipped);
        check(
            &[Some(InTransit), Some(OutForDelivery)],
            OrderStatus::InTransit,
        );
        check(&[Some(PickedUp), None], OrderStatus::PickedUp);
        check(
            &[Some(Delivered), Some(InTransit)],
            OrderStatus::PartiallyDelivered,
        );
        check(&[Some(Delivered), Some(Delivered)], OrderStatus::Delivered);
        check(&[Some(Delivered), Some(Cancelled)], OrderStatus::Delivered);
        check(&[Some(Delivered), Some(Exception)], OrderStatus::Exception);
        check(&[Some(Cancelled), Some(Cancelled)], OrderStatus::Cancelled);
        check(&[Some(Returned), Some(Cancelled)], OrderStatus::Returned);
        check(
            &[Some(Returned), Some(Delivered)],
            OrderStatus::PartiallyDelivered,
        );
        check(&[Some(Returned), Some(InTransit)], OrderStatus::InTransit);
        check(&[Some(Returning), Some(Returned)], OrderStatus::Returning);
        check(
            &[Some(FailedAttempt), Some(OutForDelivery)],
            OrderStatus::OutForDelivery,
        );
        check(
            &[Some(FailedAttempt), Some(AvailableForPickup)],
            OrderStatus::AvailableForPickup,
        );
    }
}
