//! The engine's rules as given/when/then tables: given these events, when this one
//! arrives, then this outcome, this entry in the log, these changes reported to the
//! world (what a store persists) and these domain events. Every rule and every refusal
//! has a row; a rule changed in the engine fails the row that states it.

use super::*;
use crate::model::Model;
use crate::status::ShipmentStatus::{self, *};
use crate::timeline::Entry;

/// Records every change the engine reports, over the model.
#[derive(Default)]
struct Recorder {
    model: Model,
    calls: Vec<String>,
}

fn name(key: &ParcelKey) -> String {
    match key {
        ParcelKey::Tracked(t) => format!("{}:{}", t.carrier, t.tracking_number),
        ParcelKey::OrderDefault(o) => format!("default:{o}"),
    }
}

impl World for Recorder {
    type Error = std::convert::Infallible;

    fn order(&mut self, id: &OrderId) -> Result<Option<&mut Order>, Self::Error> {
        World::order(&mut self.model, id)
    }
    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<&mut Shipment>, Self::Error> {
        World::shipment(&mut self.model, key)
    }
    fn renamed(&mut self, t: &Tracking) -> Result<Option<Carrier>, Self::Error> {
        World::renamed(&mut self.model, t)
    }
    fn merged_details(current: Option<&str>, patch: &str) -> Option<String> {
        Model::merged_details(current, patch)
    }
    fn add_order(&mut self, id: &OrderId, order: Order) -> Result<(), Self::Error> {
        self.calls.push(format!("add_order {id}"));
        World::add_order(&mut self.model, id, order)
    }
    fn add_shipment(&mut self, key: &ParcelKey, s: Shipment) -> Result<(), Self::Error> {
        let owner = s
            .owner
            .as_ref()
            .map_or("unlinked".to_owned(), |o| o.to_string());
        self.calls
            .push(format!("add_shipment {} {owner}", name(key)));
        World::add_shipment(&mut self.model, key, s)
    }
    fn claimed(&mut self, key: &ParcelKey, order: &OrderId) -> Result<(), Self::Error> {
        self.calls.push(format!("claimed {} {order}", name(key)));
        World::claimed(&mut self.model, key, order)
    }
    fn rename(&mut self, from: &ParcelKey, to: &ParcelKey) -> Result<(), Self::Error> {
        self.calls
            .push(format!("rename {} {}", name(from), name(to)));
        World::rename(&mut self.model, from, to)
    }
    fn logged(&mut self, shipment: Option<&ParcelKey>) -> Result<(), Self::Error> {
        self.calls
            .push(format!("logged {}", shipment.map_or("-".to_owned(), name)));
        World::logged(&mut self.model, shipment)
    }
    fn touch_shipment(&mut self, key: &ParcelKey) {
        self.calls.push(format!("touch_shipment {}", name(key)));
    }
    fn touch_order(&mut self, id: &OrderId, row: bool) {
        let row = if row { " row" } else { "" };
        self.calls.push(format!("touch_order {id}{row}"));
    }
}

fn order(id: &str) -> Option<OrderId> {
    (!id.is_empty()).then(|| OrderId::parse(id).unwrap())
}

fn tracking(parcel: &str) -> Tracking {
    let (c, n) = parcel.split_once(':').unwrap();
    Tracking {
        carrier: Carrier::parse(c).unwrap(),
        tracking_number: crate::ids::TrackingNumber::parse(n).unwrap(),
    }
}

/// An event `id` of `kind` for `order` ("" for none) and `parcel` ("carrier:number",
/// "" for the order's default shipment), happening and received at `at`.
fn ev(id: &str, order_id: &str, parcel: &str, kind: EventKind, at: i64) -> TrackingEvent {
    TrackingEvent {
        event_id: id.to_owned(),
        order_id: order(order_id),
        tracking: (!parcel.is_empty()).then(|| tracking(parcel)),
        kind,
        occurred_at: Timestamp(at),
        utc_offset_seconds: 0,
        received_at: Timestamp(at),
        location: None,
        description: None,
        raw_status: None,
        details: None,
    }
}

fn scan(id: &str, order_id: &str, parcel: &str, s: ShipmentStatus, at: i64) -> TrackingEvent {
    ev(id, order_id, parcel, EventKind::Status(s), at)
}

/// An order's `created` event, with details.
fn created(id: &str, order_id: &str, details: &str, at: i64) -> TrackingEvent {
    TrackingEvent {
        details: (!details.is_empty()).then(|| details.to_owned()),
        ..ev(id, order_id, "", EventKind::OrderCreated, at)
    }
}

/// Received at `received`, though it happened at `at`.
fn late(mut e: TrackingEvent, received: i64) -> TrackingEvent {
    e.received_at = Timestamp(received);
    e
}

fn link(order_id: &str, parcel: &str, at: i64) -> TrackingEvent {
    TrackingEvent::link(order(order_id).unwrap(), tracking(parcel), Timestamp(at))
}

/// A link record whose order or parcel is missing (a record never comes so from our
/// own code; the engine still refuses it).
fn broken_link(order_id: &str, parcel: &str) -> TrackingEvent {
    ev("l", order_id, parcel, EventKind::Linked, 1)
}

fn recarrier(from: &str, to: &str, at: i64) -> TrackingEvent {
    TrackingEvent::carrier_change(Carrier::parse(from).unwrap(), tracking(to), Timestamp(at))
}

fn details(order_id: &str, json: &str, at: i64) -> TrackingEvent {
    TrackingEvent::details_set(order(order_id).unwrap(), json.to_owned(), Timestamp(at))
}

/// What a row of a table expects of the log.
#[derive(Debug, PartialEq)]
enum Log {
    Nothing,
    Event,
    /// A link record for this order and parcel.
    Link(&'static str, &'static str),
}

struct Case {
    rule: &'static str,
    given: Vec<TrackingEvent>,
    when: TrackingEvent,
    how: How,
    outcome: Outcome,
    log: Log,
    calls: &'static [&'static str],
    /// `kind status` or `kind previous>status`.
    changes: &'static [&'static str],
}

const CANONICAL: How = How::live(Intake::Canonical);
const PROVIDER: How = How::live(Intake::Provider);
const NEW_ORDER: How = How::live(Intake::NewOrder);

fn change_line(c: &Change) -> String {
    // The kind says which statuses it may carry.
    let order = matches!(c.status, crate::change::Status::Order(_));
    assert_eq!(
        order,
        c.kind.as_str().starts_with("order."),
        "{:?} with {:?}",
        c.kind,
        c.status
    );
    match c.previous {
        Some(p) => format!("{} {p}>{}", c.kind.as_str(), c.status),
        None => format!("{} {}", c.kind.as_str(), c.status),
    }
}

fn run(case: Case) -> Recorder {
    let mut w = Recorder::default();
    let mut ignored = Vec::new();
    for g in &case.given {
        let Ok(applied) = apply(&mut w, g, PROVIDER, &mut ignored);
        assert!(
            !matches!(applied.outcome, Outcome::Rejected(_)),
            "{}: the given event {} was refused",
            case.rule,
            g.event_id
        );
    }
    w.calls.clear();
    let mut changes = Vec::new();
    let Ok(applied) = apply(&mut w, &case.when, case.how, &mut changes);
    assert_eq!(applied.outcome, case.outcome, "{}: outcome", case.rule);
    let log = match &applied.logged {
        Logged::Nothing => Log::Nothing,
        Logged::Event => Log::Event,
        Logged::Record(r) => {
            assert_eq!(r.kind, EventKind::Linked, "{}", case.rule);
            let o = r.order_id.as_ref().unwrap().to_string();
            let p = name(&ParcelKey::Tracked(r.tracking.clone().unwrap()));
            let (o, p) = (o.leak() as &str, p.leak() as &str);
            Log::Link(o, p)
        }
    };
    assert_eq!(log, case.log, "{}: log", case.rule);
    assert_eq!(w.calls, case.calls, "{}: changes reported", case.rule);
    let lines: Vec<String> = changes.iter().map(change_line).collect();
    assert_eq!(lines, case.changes, "{}: domain events", case.rule);
    for c in &changes {
        assert_eq!(c.cause, case.when.event_id, "{}: cause", case.rule);
        assert_eq!(c.at, case.when.received_at, "{}: at", case.rule);
    }
    w
}

fn table(cases: Vec<Case>) {
    for case in cases {
        run(case);
    }
}

#[test]
fn scans_find_their_order_and_shipment() {
    table(vec![
        Case {
            rule: "a scan naming a new order creates it and its shipment",
            given: vec![],
            when: scan("e1", "o1", "sf:A1", PickedUp, 10),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_order o1",
                "add_shipment sf:A1 o1",
                "logged sf:A1",
                "touch_order o1",
            ],
            changes: &[
                "order.created created",
                "shipment.status_changed picked_up",
                "order.status_changed created>picked_up",
            ],
        },
        Case {
            rule: "a scan without a parcel goes to the order's default shipment",
            given: vec![],
            when: scan("e1", "o1", "", InfoReceived, 10),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_order o1",
                "add_shipment default:o1 o1",
                "logged default:o1",
                "touch_order o1",
            ],
            changes: &[
                "order.created created",
                "shipment.status_changed info_received",
                "order.status_changed created>shipped",
            ],
        },
        Case {
            rule: "a scan of an owned parcel needs no order_id",
            given: vec![scan("e1", "o1", "sf:A1", PickedUp, 10)],
            when: scan("e2", "", "sf:A1", InTransit, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged sf:A1", "touch_order o1"],
            changes: &[
                "shipment.status_changed picked_up>in_transit",
                "order.status_changed picked_up>in_transit",
            ],
        },
        Case {
            rule: "a second parcel joins its order; the order's status is the laggard's",
            given: vec![scan("e1", "o1", "sf:A1", InTransit, 10)],
            when: scan("e2", "o1", "zto:B2", InfoReceived, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["add_shipment zto:B2 o1", "logged zto:B2", "touch_order o1"],
            changes: &[
                "shipment.status_changed info_received",
                "order.status_changed in_transit>shipped",
            ],
        },
        Case {
            rule: "a scan that does not move a status announces nothing",
            given: vec![scan("e1", "o1", "sf:A1", InTransit, 10)],
            when: scan("e2", "o1", "sf:A1", InTransit, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged sf:A1", "touch_order o1"],
            changes: &[],
        },
        Case {
            rule: "delivered is announced twice: the move and the outcome",
            given: vec![scan("e1", "o1", "sf:A1", OutForDelivery, 10)],
            when: scan("e2", "o1", "sf:A1", Delivered, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged sf:A1", "touch_order o1"],
            changes: &[
                "shipment.status_changed out_for_delivery>delivered",
                "shipment.delivered out_for_delivery>delivered",
                "order.status_changed out_for_delivery>delivered",
            ],
        },
        Case {
            rule: "an exception is announced twice too",
            given: vec![scan("e1", "o1", "sf:A1", InTransit, 10)],
            when: scan("e2", "o1", "sf:A1", Exception, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged sf:A1", "touch_order o1"],
            changes: &[
                "shipment.status_changed in_transit>exception",
                "shipment.exception in_transit>exception",
                "order.status_changed in_transit>exception",
            ],
        },
        Case {
            rule: "a late scan is folded in its place and moves nothing backwards",
            given: vec![scan("e2", "o1", "sf:A1", InTransit, 20)],
            when: late(scan("e1", "o1", "sf:A1", PickedUp, 10), 30),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged sf:A1", "touch_order o1"],
            changes: &[],
        },
        Case {
            rule: "an earlier receipt moves the order's created_at (its row changes)",
            given: vec![late(scan("e2", "o1", "sf:A1", InTransit, 20), 50)],
            when: scan("e1", "o1", "sf:A1", PickedUp, 10),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged sf:A1", "touch_order o1 row"],
            changes: &[],
        },
    ]);
}

#[test]
fn duplicates_change_nothing_unless_they_claim() {
    table(vec![
        Case {
            rule: "the same event_id twice on one shipment is a duplicate",
            given: vec![scan("e1", "o1", "sf:A1", PickedUp, 10)],
            when: scan("e1", "o1", "sf:A1", PickedUp, 99),
            how: CANONICAL,
            outcome: Outcome::Duplicate,
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a duplicate decided by event_id alone, whatever else it says",
            given: vec![scan("e1", "o1", "sf:A1", PickedUp, 10)],
            when: scan("e1", "", "sf:A1", Delivered, 99),
            how: CANONICAL,
            outcome: Outcome::Duplicate,
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a re-sent push that now names its order claims the parcel: a link record",
            given: vec![scan("e1", "", "sf:A1", PickedUp, 10)],
            when: scan("e1", "o1", "sf:A1", PickedUp, 20),
            how: CANONICAL,
            outcome: Outcome::Duplicate,
            log: Log::Link("o1", "sf:A1"),
            calls: &[
                "add_order o1",
                "claimed sf:A1 o1",
                "touch_order o1",
                "logged -",
            ],
            changes: &[
                "order.created created",
                "order.status_changed created>picked_up",
            ],
        },
        Case {
            rule: "read back from the log, such a duplicate makes no record",
            given: vec![scan("e1", "", "sf:A1", PickedUp, 10)],
            when: scan("e1", "o1", "sf:A1", PickedUp, 20),
            how: How::logged(),
            outcome: Outcome::Duplicate,
            log: Log::Nothing,
            calls: &["add_order o1", "claimed sf:A1 o1", "touch_order o1"],
            changes: &[],
        },
    ]);
}

#[test]
fn unclaimed_parcels_depend_on_where_the_scan_comes_from() {
    table(vec![
        Case {
            rule: "a provider's scan of an unknown parcel is kept, unlinked, silently",
            given: vec![],
            when: scan("e1", "", "sf:A1", PickedUp, 10),
            how: PROVIDER,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["add_shipment sf:A1 unlinked", "logged sf:A1"],
            changes: &[],
        },
        Case {
            rule: "/v1/events refuses a scan of a parcel no order claimed",
            given: vec![],
            when: scan("e1", "", "sf:A1", PickedUp, 10),
            how: CANONICAL,
            outcome: Outcome::Rejected(Rejection::OrderRequired("A1".into())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "so does a new order without an order_id",
            given: vec![],
            when: scan("e1", "", "sf:A1", PickedUp, 10),
            how: NEW_ORDER,
            outcome: Outcome::Rejected(Rejection::OrderRequired("A1".into())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "an event with neither order nor parcel is refused even from a provider",
            given: vec![],
            when: scan("e1", "", "", PickedUp, 10),
            how: PROVIDER,
            outcome: Outcome::Rejected(Rejection::OrderRequired(String::new())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a scan naming an order claims the unlinked parcel with its history",
            given: vec![scan("e1", "", "sf:A1", InTransit, 10)],
            when: scan("e2", "o1", "sf:A1", OutForDelivery, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_order o1",
                "claimed sf:A1 o1",
                "touch_order o1",
                "logged sf:A1",
                "touch_order o1",
            ],
            changes: &[
                "order.created created",
                "shipment.status_changed in_transit>out_for_delivery",
                "order.status_changed created>out_for_delivery",
            ],
        },
        Case {
            rule: "a scan naming another order than the parcel's owner is refused",
            given: vec![scan("e1", "o1", "sf:A1", PickedUp, 10)],
            when: scan("e2", "o2", "sf:A1", InTransit, 20),
            how: PROVIDER,
            outcome: Outcome::Rejected(Rejection::ParcelOfAnotherOrder {
                tracking_number: "A1".into(),
                owner: order("o1").unwrap(),
                named: order("o2").unwrap(),
            }),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
    ]);
}

#[test]
fn orders_are_created_once_with_their_details() {
    table(vec![
        Case {
            rule: "a new order takes the details of its created event",
            given: vec![],
            when: created("c1", "o1", r#"{"customer":{}}"#, 10),
            how: NEW_ORDER,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_order o1",
                "add_shipment default:o1 o1",
                "logged default:o1",
                "touch_order o1 row",
            ],
            changes: &["order.created created"],
        },
        Case {
            rule: "a new order that exists with details already is refused as existing",
            given: vec![created("c1", "o1", r#"{"a":1}"#, 10)],
            when: created("c2", "o1", r#"{"a":2}"#, 20),
            how: NEW_ORDER,
            outcome: Outcome::OrderExists,
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "an order an event created first may still be given its details, once",
            given: vec![scan("e1", "o1", "sf:A1", PickedUp, 10)],
            when: created("c1", "o1", r#"{"a":1}"#, 20),
            how: NEW_ORDER,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_shipment default:o1 o1",
                "logged default:o1",
                "touch_order o1 row",
            ],
            changes: &[],
        },
        Case {
            rule: "a later created event with other details does not replace them",
            given: vec![created("c1", "o1", r#"{"a":1}"#, 10)],
            when: created("c2", "o1", r#"{"a":2}"#, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged default:o1", "touch_order o1"],
            changes: &[],
        },
        Case {
            rule: "details that are not a JSON object are not the order's details",
            given: vec![],
            when: created("c1", "o1", "[1,2]", 10),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_order o1",
                "add_shipment default:o1 o1",
                "logged default:o1",
                "touch_order o1",
            ],
            changes: &["order.created created"],
        },
        Case {
            rule: "a bulk load of history announces nothing",
            given: vec![],
            when: scan("e1", "o1", "sf:A1", PickedUp, 10),
            how: How {
                announce: false,
                ..CANONICAL
            },
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_order o1",
                "add_shipment sf:A1 o1",
                "logged sf:A1",
                "touch_order o1",
            ],
            changes: &[],
        },
    ]);
}

#[test]
fn links_join_a_parcel_to_an_order() {
    table(vec![
        Case {
            rule: "a link makes an empty shipment for a parcel not yet seen",
            given: vec![created("c1", "o1", "", 10)],
            when: link("o1", "sf:A1", 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_shipment sf:A1 o1",
                "touch_shipment sf:A1",
                "touch_order o1",
                "logged -",
            ],
            changes: &[],
        },
        Case {
            rule: "a link claims an unlinked parcel and the order takes its status",
            given: vec![
                created("c1", "o1", "", 10),
                scan("e1", "", "sf:A1", InTransit, 15),
            ],
            when: link("o1", "sf:A1", 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "claimed sf:A1 o1",
                "touch_order o1",
                "touch_shipment sf:A1",
                "touch_order o1",
                "logged -",
            ],
            changes: &["order.status_changed created>in_transit"],
        },
        Case {
            rule: "linking a parcel the order owns already is a duplicate",
            given: vec![scan("e1", "o1", "sf:A1", PickedUp, 10)],
            when: link("o1", "sf:A1", 20),
            how: CANONICAL,
            outcome: Outcome::Duplicate,
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "another order's parcel cannot be linked",
            given: vec![
                scan("e1", "o1", "sf:A1", PickedUp, 10),
                created("c2", "o2", "", 10),
            ],
            when: link("o2", "sf:A1", 20),
            how: CANONICAL,
            outcome: Outcome::Rejected(Rejection::ParcelOfAnotherOrder {
                tracking_number: "A1".into(),
                owner: order("o1").unwrap(),
                named: order("o2").unwrap(),
            }),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a live link needs an existing order",
            given: vec![],
            when: link("o1", "sf:A1", 20),
            how: CANONICAL,
            outcome: Outcome::Rejected(Rejection::UnknownOrder(order("o1").unwrap())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "read back from the log, a link creates its order (a claim made it live)",
            given: vec![],
            when: link("o1", "sf:A1", 20),
            how: How::logged(),
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &[
                "add_order o1",
                "add_shipment sf:A1 o1",
                "touch_shipment sf:A1",
                "touch_order o1",
                "logged -",
            ],
            changes: &[],
        },
        Case {
            rule: "a link without its parcel is refused",
            given: vec![created("c1", "o1", "", 10)],
            when: broken_link("o1", ""),
            how: CANONICAL,
            outcome: Outcome::Rejected(Rejection::OrderRequired(String::new())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a link without its order is refused",
            given: vec![],
            when: broken_link("", "sf:A1"),
            how: PROVIDER,
            outcome: Outcome::Rejected(Rejection::OrderRequired(String::new())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
    ]);
}

#[test]
fn carrier_corrections_rename_a_shipment() {
    table(vec![
        Case {
            rule: "a correction renames the shipment, which keeps its order",
            given: vec![scan("e1", "o1", "china-post:A1", PickedUp, 10)],
            when: recarrier("china-post", "ups:A1", 20),
            how: PROVIDER,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["rename china-post:A1 ups:A1", "touch_order o1", "logged -"],
            changes: &[],
        },
        Case {
            rule: "a correction of an unlinked parcel touches no order",
            given: vec![scan("e1", "", "china-post:A1", PickedUp, 10)],
            when: recarrier("china-post", "ups:A1", 20),
            how: PROVIDER,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["rename china-post:A1 ups:A1", "logged -"],
            changes: &[],
        },
        Case {
            rule: "a correction of a parcel nobody has is a duplicate",
            given: vec![],
            when: recarrier("china-post", "ups:A1", 20),
            how: PROVIDER,
            outcome: Outcome::Duplicate,
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a correction to the carrier it has is a duplicate",
            given: vec![scan("e1", "o1", "ups:A1", PickedUp, 10)],
            when: recarrier("ups", "ups:A1", 20),
            how: PROVIDER,
            outcome: Outcome::Duplicate,
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a correction cannot merge two shipments",
            given: vec![
                scan("e1", "o1", "china-post:A1", PickedUp, 10),
                scan("e2", "o2", "ups:A1", PickedUp, 10),
            ],
            when: recarrier("china-post", "ups:A1", 20),
            how: PROVIDER,
            outcome: Outcome::Rejected(Rejection::CarrierConflict {
                tracking_number: "A1".into(),
                from: "china-post".into(),
                to: "ups".into(),
            }),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "a late scan under the retired name reaches the renamed shipment",
            given: vec![
                scan("e1", "o1", "china-post:A1", PickedUp, 10),
                recarrier("china-post", "ups:A1", 20),
            ],
            when: scan("e2", "", "china-post:A1", InTransit, 30),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged ups:A1", "touch_order o1"],
            changes: &[
                "shipment.status_changed picked_up>in_transit",
                "order.status_changed picked_up>in_transit",
            ],
        },
        Case {
            rule: "after two corrections the first name leads to the last",
            given: vec![
                scan("e1", "o1", "china-post:A1", PickedUp, 10),
                recarrier("china-post", "ups:A1", 20),
                recarrier("ups", "dhl:A1", 25),
            ],
            when: scan("e2", "", "china-post:A1", InTransit, 30),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged dhl:A1", "touch_order o1"],
            changes: &[
                "shipment.status_changed picked_up>in_transit",
                "order.status_changed picked_up>in_transit",
            ],
        },
        Case {
            rule: "a name corrected back is its own again, not an alias",
            given: vec![
                scan("e1", "o1", "china-post:A1", PickedUp, 10),
                recarrier("china-post", "ups:A1", 20),
                recarrier("ups", "china-post:A1", 25),
            ],
            when: scan("e2", "", "china-post:A1", InTransit, 30),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["logged china-post:A1", "touch_order o1"],
            changes: &[
                "shipment.status_changed picked_up>in_transit",
                "order.status_changed picked_up>in_transit",
            ],
        },
    ]);
}

#[test]
fn details_are_set_by_an_admin() {
    table(vec![
        Case {
            rule: "new details replace the order's (its row changes)",
            given: vec![created("c1", "o1", r#"{"a":1}"#, 10)],
            when: details("o1", r#"{"a":2}"#, 20),
            how: CANONICAL,
            outcome: Outcome::Accepted,
            log: Log::Event,
            calls: &["touch_order o1 row", "logged -"],
            changes: &[],
        },
        Case {
            rule: "details that change nothing are a duplicate",
            given: vec![created("c1", "o1", r#"{"a":1}"#, 10)],
            when: details("o1", r#"{"a":1}"#, 20),
            how: CANONICAL,
            outcome: Outcome::Duplicate,
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "details of an order that does not exist are refused",
            given: vec![],
            when: details("o1", r#"{"a":1}"#, 20),
            how: CANONICAL,
            outcome: Outcome::Rejected(Rejection::UnknownOrder(order("o1").unwrap())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
        Case {
            rule: "details need an order",
            given: vec![],
            when: ev("d", "", "", EventKind::DetailsSet, 20),
            how: CANONICAL,
            outcome: Outcome::Rejected(Rejection::OrderRequired(String::new())),
            log: Log::Nothing,
            calls: &[],
            changes: &[],
        },
    ]);
}

/// What the tables cannot show row by row: the state the engine leaves behind.
#[test]
fn the_state_left_behind() {
    let w = run(Case {
        rule: "claim",
        given: vec![
            scan("e1", "", "sf:A1", InTransit, 10),
            scan("e2", "o1", "zto:B2", Delivered, 5),
        ],
        when: scan("e3", "o1", "sf:A1", Delivered, 30),
        how: CANONICAL,
        outcome: Outcome::Accepted,
        log: Log::Event,
        calls: &[
            "claimed sf:A1 o1",
            "touch_order o1",
            "logged sf:A1",
            "touch_order o1",
        ],
        changes: &[
            "shipment.status_changed in_transit>delivered",
            "shipment.delivered in_transit>delivered",
        ],
    });
    let o = w.model.order_state(&order("o1").unwrap()).unwrap();
    assert_eq!(o.status, OrderStatus::Delivered);
    assert_eq!(o.created_at, Timestamp(5));
    let parcels: Vec<String> = o.shipments.iter().map(|s| name(&s.0)).collect();
    assert_eq!(parcels, ["zto:B2", "sf:A1"], "in the order they joined");
    let s = w
        .model
        .shipment_state(&ParcelKey::Tracked(tracking("sf:A1")))
        .unwrap();
    assert_eq!(s.owner, order("o1"));
    assert_eq!(s.updated_at, Timestamp(30));
    let keys: Vec<u64> = s.log.entries().iter().map(|e: &Entry| e.key).collect();
    assert_eq!(keys, [event_key("e1"), event_key("e3")]);
}
