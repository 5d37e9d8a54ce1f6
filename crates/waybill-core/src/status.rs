//! The canonical statuses (docs/state-machine.md).

use std::fmt;

/// Where a parcel is. The eleven canonical statuses of docs/state-machine.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShipmentStatus {
    InfoReceived,
    PickedUp,
    InTransit,
    OutForDelivery,
    AvailableForPickup,
    FailedAttempt,
    Exception,
    Returning,
    Delivered,
    Returned,
    Cancelled,
}

impl ShipmentStatus {
    pub const ALL: [ShipmentStatus; 11] = [
        Self::InfoReceived,
        Self::PickedUp,
        Self::InTransit,
        Self::OutForDelivery,
        Self::AvailableForPickup,
        Self::FailedAttempt,
        Self::Exception,
        Self::Returning,
        Self::Delivered,
        Self::Returned,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InfoReceived => "info_received",
            Self::PickedUp => "picked_up",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::AvailableForPickup => "available_for_pickup",
            Self::FailedAttempt => "failed_attempt",
            Self::Exception => "exception",
            Self::Returning => "returning",
            Self::Delivered => "delivered",
            Self::Returned => "returned",
            Self::Cancelled => "cancelled",
        }
    }

    pub const fn zh(self) -> &'static str {
        match self {
            Self::InfoReceived => "已发货（待揽收）",
            Self::PickedUp => "已揽收",
            Self::InTransit => "运输中",
            Self::OutForDelivery => "派送中",
            Self::AvailableForPickup => "待取件",
            Self::FailedAttempt => "投递失败",
            Self::Exception => "异常",
            Self::Returning => "退回中",
            Self::Delivered => "已签收",
            Self::Returned => "已退回",
            Self::Cancelled => "已取消",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Delivered | Self::Returned | Self::Cancelled)
    }

    /// How far along the parcel is. The state machine never lets a shipment fall below the
    /// highest rank it has reached; `exception` has no rank of its own (it is a detour,
    /// not a step), so it is 0 and never raises the high-water mark.
    pub const fn rank(self) -> u8 {
        match self {
            Self::Exception => 0,
            Self::InfoReceived => 1,
            Self::PickedUp => 2,
            Self::InTransit => 3,
            Self::OutForDelivery | Self::AvailableForPickup | Self::FailedAttempt => 4,
            Self::Returning => 5,
            Self::Delivered | Self::Returned | Self::Cancelled => 6,
        }
    }
}

impl fmt::Display for ShipmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order's status, derived from its shipments (see [`crate::order_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Created,
    Shipped,
    PickedUp,
    InTransit,
    OutForDelivery,
    AvailableForPickup,
    FailedAttempt,
    PartiallyDelivered,
    Delivered,
    Exception,
    Returning,
    Returned,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 13] = [
        Self::Created,
        Self::Shipped,
        Self::PickedUp,
        Self::InTransit,
        Self::OutForDelivery,
        Self::AvailableForPickup,
        Self::FailedAttempt,
        Self::PartiallyDelivered,
        Self::Delivered,
        Self::Exception,
        Self::Returning,
        Self::Returned,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Shipped => "shipped",
            Self::PickedUp => "picked_up",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::AvailableForPickup => "available_for_pickup",
            Self::FailedAttempt => "failed_attempt",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Delivered => "delivered",
            Self::Exception => "exception",
            Self::Returning => "returning",
            Self::Returned => "returned",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The order status a single live shipment in `status` stands for.
    pub const fn of_shipment(status: ShipmentStatus) -> Self {
        match status {
            ShipmentStatus::InfoReceived => Self::Shipped,
            ShipmentStatus::PickedUp => Self::PickedUp,
            ShipmentStatus::InTransit => Self::InTransit,
            ShipmentStatus::OutForDelivery => Self::OutForDelivery,
            ShipmentStatus::AvailableForPickup => Self::AvailableForPickup,
            ShipmentStatus::FailedAttempt => Self::FailedAttempt,
            ShipmentStatus::Exception => Self::Exception,
            ShipmentStatus::Returning => Self::Returning,
            ShipmentStatus::Delivered => Self::Delivered,
            ShipmentStatus::Returned => Self::Returned,
            ShipmentStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ShipmentStatus::ALL {
            assert_eq!(ShipmentStatus::parse(s.as_str()), Some(s));
        }
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ShipmentStatus::parse("shipped"), None);
        assert_eq!(ShipmentStatus::parse("Delivered"), None);
    }

    #[test]
    fn terminal_statuses_are_the_contracts_three() {
        let terminal: Vec<_> = ShipmentStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                ShipmentStatus::Delivered,
                ShipmentStatus::Returned,
                ShipmentStatus::Cancelled
            ]
        );
    }
}
