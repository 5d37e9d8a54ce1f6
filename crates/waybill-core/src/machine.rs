//! The shipment state machine, as data.
//!
//! [`TRANSITIONS`] lists, for each status, the statuses a carrier may report next. On top
//! of the table one rule keeps a shipment from going backwards: a new status must rank at
//! least as high as the best rank the shipment has reached (its high-water mark), except
//! `exception`, which may interrupt anything that is not terminal. That rule matters after
//! an exception, whose row lists every status: recovering from `exception` to
//! `in_transit` is fine, unless the parcel had already been out for delivery.
//!
//! `docs/state-machine.md` draws the same table; the tests below walk it cell by cell.

use crate::status::ShipmentStatus::{
    self, AvailableForPickup, Cancelled, Delivered, Exception, FailedAttempt, InTransit,
    InfoReceived, OutForDelivery, PickedUp, Returned, Returning,
};

/// `(from, allowed next statuses)`. A shipment with no status yet may take any status:
/// carriers often skip the first scans.
pub const TRANSITIONS: &[(ShipmentStatus, &[ShipmentStatus])] = &[
    (
        InfoReceived,
        &[
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
        ],
    ),
    (
        PickedUp,
        &[
            PickedUp,
            InTransit,
            OutForDelivery,
            AvailableForPickup,
            FailedAttempt,
            Exception,
            Returning,
            Delivered,
            Returned,
        ],
    ),
    (
        InTransit,
        &[
            InTransit,
            OutForDelivery,
            AvailableForPickup,
            FailedAttempt,
            Exception,
            Returning,
            Delivered,
            Returned,
        ],
    ),
    (
        OutForDelivery,
        &[
            OutForDelivery,
            AvailableForPickup,
            FailedAttempt,
            Exception,
            Returning,
            Delivered,
        ],
    ),
    (
        AvailableForPickup,
        &[
            AvailableForPickup,
            OutForDelivery,
            Exception,
            Returning,
            Delivered,
        ],
    ),
    (
        FailedAttempt,
        &[
            FailedAttempt,
            OutForDelivery,
            AvailableForPickup,
            Exception,
            Returning,
            Delivered,
        ],
    ),
    (
        Exception,
        &[
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
        ],
    ),
    (Returning, &[Returning, Exception, Returned]),
    (Delivered, &[Delivered]),
    (Returned, &[Returned]),
    (Cancelled, &[Cancelled]),
];

/// Why a reported status was not applied. The event is kept in the timeline, flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// The table has no edge `from → to`.
    NoEdge {
        from: ShipmentStatus,
        to: ShipmentStatus,
    },
    /// The edge exists but would take the shipment below a rank it has already reached.
    Backwards {
        to: ShipmentStatus,
        high_water: ShipmentStatus,
    },
    /// The shipment's outcome is decided by another terminal event (see
    /// [`decisive_outcome`]), and this status contradicts it.
    Contradicts {
        status: ShipmentStatus,
        outcome: ShipmentStatus,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoEdge { from, to } => write!(f, "no transition from {from} to {to}"),
            Self::Backwards { to, high_water } => {
                write!(f, "{to} would move the shipment back from {high_water}")
            }
            Self::Contradicts { status, outcome } => {
                write!(f, "{status} contradicts the shipment's outcome, {outcome}")
            }
        }
    }
}

/// Which terminal status decides a shipment's outcome when its events report several:
/// delivered over returned over cancelled. Carriers' data does contradict itself (a
/// `cancelled` stamped before the `delivered` that was already shown); the customer's
/// parcel having arrived is the fact least likely to be wrong.
pub const fn outcome_priority(status: ShipmentStatus) -> u8 {
    match status {
        Delivered => 3,
        Returned => 2,
        Cancelled => 1,
        _ => 0,
    }
}

/// Is `from → to` an edge of the table?
pub fn has_edge(from: ShipmentStatus, to: ShipmentStatus) -> bool {
    TRANSITIONS
        .iter()
        .find(|(f, _)| *f == from)
        .is_some_and(|(_, next)| next.contains(&to))
}

/// Checks one step. `high_water` is the highest-ranked status applied so far.
pub fn check(
    from: Option<ShipmentStatus>,
    high_water: Option<ShipmentStatus>,
    to: ShipmentStatus,
) -> Result<(), Violation> {
    let Some(from) = from else {
        return Ok(());
    };
    if !has_edge(from, to) {
        return Err(Violation::NoEdge { from, to });
    }
    if let Some(hw) = high_water
        && to != Exception
        && to.rank() < hw.rank()
    {
        return Err(Violation::Backwards { to, high_water: hw });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cell of the 11×11 table, written out so that a change to the table shows
    /// up here as a deliberate edit. `x` = allowed.
    const EXPECTED: &str = "
        from\\to              IR PU IT OD AP FA EX RG DL RD CA
        info_received        x  x  x  x  x  x  x  x  x  x  x
        picked_up            .  x  x  x  x  x  x  x  x  x  .
        in_transit           .  .  x  x  x  x  x  x  x  x  .
        out_for_delivery     .  .  .  x  x  x  x  x  x  .  .
        available_for_pickup .  .  .  x  x  .  x  x  x  .  .
        failed_attempt       .  .  .  x  x  x  x  x  x  .  .
        exception            x  x  x  x  x  x  x  x  x  x  x
        returning            .  .  .  .  .  .  x  x  .  x  .
        delivered            .  .  .  .  .  .  .  .  x  .  .
        returned             .  .  .  .  .  .  .  .  .  x  .
        cancelled            .  .  .  .  .  .  .  .  .  .  x
    ";

    #[test]
    fn table_matches_the_documented_grid_cell_by_cell() {
        let rows: Vec<&str> = EXPECTED.trim().lines().skip(1).collect();
        assert_eq!(rows.len(), ShipmentStatus::ALL.len());
        for row in rows {
            let mut cells = row.split_whitespace();
            let from = ShipmentStatus::parse(cells.next().unwrap()).unwrap();
            for (to, cell) in ShipmentStatus::ALL.into_iter().zip(cells) {
                assert_eq!(
                    has_edge(from, to),
                    cell == "x",
                    "edge {from} -> {to} disagrees with the grid"
                );
            }
        }
    }

    #[test]
    fn every_status_has_a_row() {
        for s in ShipmentStatus::ALL {
            assert!(TRANSITIONS.iter().any(|(f, _)| *f == s), "{s} has no row");
        }
    }

    #[test]
    fn anything_goes_first() {
        for to in ShipmentStatus::ALL {
            assert_eq!(check(None, None, to), Ok(()));
        }
    }

    #[test]
    fn terminal_statuses_accept_only_a_repeat() {
        for from in ShipmentStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in ShipmentStatus::ALL {
                assert_eq!(check(Some(from), Some(from), to).is_ok(), to == from);
            }
        }
    }

    #[test]
    fn exception_recovers_forward_only() {
        let hw = Some(OutForDelivery);
        assert_eq!(
            check(Some(Exception), hw, InTransit),
            Err(Violation::Backwards {
                to: InTransit,
                high_water: OutForDelivery
            })
        );
        assert_eq!(check(Some(Exception), hw, OutForDelivery), Ok(()));
        assert_eq!(check(Some(Exception), hw, Delivered), Ok(()));
        assert_eq!(check(Some(Exception), Some(PickedUp), InTransit), Ok(()));
        assert_eq!(check(Some(InTransit), Some(InTransit), Exception), Ok(()));
    }

    #[test]
    fn violations_explain_themselves() {
        assert_eq!(
            check(Some(Delivered), Some(Delivered), InTransit)
                .unwrap_err()
                .to_string(),
            "no transition from delivered to in_transit"
        );
    }
}
