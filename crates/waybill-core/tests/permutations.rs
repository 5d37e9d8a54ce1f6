//! The engine's central promise, as a property: any arrival order of a valid event set
//! for multi-parcel orders, with any duplicates, ends in exactly the state of in-order
//! application; and while events trickle in, no shipment ever moves backwards.

use proptest::prelude::*;
use waybill_core::ShipmentStatus::{self, *};
use waybill_core::engine::{Intake, Outcome};
use waybill_core::event::Tracking;
use waybill_core::model::Model as Tracker;
use waybill_core::{Carrier, EventKind, OrderId, Timestamp, TrackingEvent, TrackingNumber};

/// Carrier paths that happen in life, each a valid walk of the state machine.
const PATHS: &[&[ShipmentStatus]] = &[
    &[
        InfoReceived,
        PickedUp,
        InTransit,
        InTransit,
        OutForDelivery,
        Delivered,
    ],
    &[
        PickedUp,
        InTransit,
        OutForDelivery,
        FailedAttempt,
        OutForDelivery,
        Delivered,
    ],
    &[
        InfoReceived,
        PickedUp,
        InTransit,
        AvailableForPickup,
        Delivered,
    ],
    &[
        InfoReceived,
        PickedUp,
        InTransit,
        Exception,
        InTransit,
        OutForDelivery,
        Delivered,
    ],
    &[
        InfoReceived,
        PickedUp,
        InTransit,
        Exception,
        Returning,
        Returned,
    ],
    &[
        InfoReceived,
        PickedUp,
        InTransit,
        OutForDelivery,
        FailedAttempt,
        Returning,
    ],
    &[InfoReceived, Cancelled],
    &[InfoReceived, PickedUp, InTransit],
    &[InfoReceived, PickedUp, Exception],
];

fn event(order: usize, parcel: Option<usize>, step: usize, kind: EventKind) -> TrackingEvent {
    let tracking = parcel.map(|p| Tracking {
        carrier: Carrier::parse(["sf-express", "zto", "ups"][p % 3]).unwrap(),
        tracking_number: TrackingNumber::parse(&format!("T{order}-{p}")).unwrap(),
    });
    TrackingEvent {
        event_id: format!("e-{order}-{parcel:?}-{step}"),
        order_id: Some(OrderId::parse(&format!("order{order}")).unwrap()),
        tracking,
        kind,
        // Several parcels share instants: ties must break the same way every time.
        occurred_at: Timestamp(1_000 * step as i64),
        utc_offset_seconds: 8 * 3600,
        received_at: Timestamp(1_000_000 + step as i64),
        location: (!step.is_multiple_of(3)).then(|| format!("hub {step}")),
        description: None,
        raw_status: None,
        details: None,
    }
}

/// A parcel's statuses: one of the [`PATHS`] of life, or (a third of the time) any
/// sequence at all, contradictions and several terminal statuses included.
fn parcel_path() -> impl Strategy<Value = Vec<ShipmentStatus>> {
    prop_oneof![
        2 => (0..PATHS.len()).prop_map(|i| PATHS[i].to_vec()),
        1 => prop::collection::vec(prop::sample::select(ShipmentStatus::ALL.to_vec()), 1..8),
    ]
}

/// Orders of one to three parcels.
fn event_set() -> impl Strategy<Value = Vec<TrackingEvent>> {
    prop::collection::vec(
        (prop::collection::vec(parcel_path(), 1..=3), any::<bool>()),
        1..=4,
    )
    .prop_map(|orders| {
        let mut events = Vec::new();
        for (o, (paths, seed_create)) in orders.into_iter().enumerate() {
            if seed_create {
                events.push(event(o, None, 0, EventKind::OrderCreated));
            }
            for (p, path) in paths.into_iter().enumerate() {
                for (i, status) in path.iter().enumerate() {
                    events.push(event(o, Some(p), i + 1, EventKind::Status(*status)));
                }
            }
        }
        events.sort_by_key(|e| e.occurred_at);
        events
    })
}

/// The same events, shuffled, some of them several times.
fn arrivals() -> impl Strategy<Value = (Vec<TrackingEvent>, Vec<TrackingEvent>)> {
    event_set().prop_flat_map(|events| {
        let n = events.len();
        let dups = prop::collection::vec(0..n, 0..=n);
        (Just(events.clone()), dups).prop_flat_map(|(events, dups)| {
            let mut all = events.clone();
            all.extend(dups.iter().map(|&i| events[i].clone()));
            (Just(events), Just(all).prop_shuffle())
        })
    })
}

fn views(t: &Tracker) -> Vec<(OrderId, waybill_core::model::OrderView)> {
    t.order_ids()
        .map(|id| (id.clone(), t.order(id).unwrap()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_arrival_order_with_duplicates_ends_in_the_in_order_state((in_order, shuffled) in arrivals()) {
        let mut expected = Tracker::default();
        for ev in &in_order {
            prop_assert_eq!(expected.apply(ev, Intake::Canonical), Ok(Outcome::Accepted));
        }
        let mut actual = Tracker::default();
        let mut accepted = 0;
        for ev in &shuffled {
            if actual.apply(ev, Intake::Canonical).unwrap() == Outcome::Accepted {
                accepted += 1;
            }
        }
        prop_assert_eq!(accepted, in_order.len(), "each distinct event is accepted once");
        prop_assert_eq!(views(&actual), views(&expected));
    }

    /// Once a shipment has reached a rank, no later arrival, however contradictory,
    /// takes it below; and once it has a terminal status, it keeps one.
    #[test]
    fn no_shipment_ever_moves_backwards((_, shuffled) in arrivals()) {
        let mut t = Tracker::default();
        let mut best = std::collections::HashMap::new();
        for ev in &shuffled {
            t.apply(ev, Intake::Canonical).unwrap();
            let order = ev.order_id.clone().unwrap();
            for (parcel, s) in t.order(&order).unwrap().shipments {
                let rank = s.state.high_water.map_or(0, |h| h.rank());
                let prev = best.insert(parcel.clone(), rank).unwrap_or(0);
                prop_assert!(rank >= prev, "{:?} fell from rank {} to {}", parcel, prev, rank);
                if prev == 6 {
                    prop_assert!(s.state.status.is_some_and(|st| st.is_terminal()));
                }
            }
        }
    }
}
