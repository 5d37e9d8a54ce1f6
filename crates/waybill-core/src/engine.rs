//! The engine: everything Waybill decides about one arriving event.
//!
//! Which order and shipment the event belongs to (a parcel's owner, a claim of an
//! unlinked parcel, a retired carrier name, a new order), whether it is a duplicate, the
//! fold, and the domain events it causes. It sees the world only through [`World`]: a
//! synchronous port that hands out the state of orders and shipments and is told of
//! every change, so that a store can persist exactly what the engine decided. The same
//! engine runs over SQLite's cache, over the rows a PostgreSQL transaction locked, and
//! over plain hash maps ([`crate::model::Model`], the reference the stores are tested
//! against); there is no second copy of these rules anywhere.

use crate::change::{Change, ChangeKind, Status, order_change, shipment_changes};
use crate::event::{EventKind, ParcelKey, Tracking, TrackingEvent, event_key};
use crate::ids::{Carrier, OrderId};
use crate::order::order_status;
#[cfg(doc)]
use crate::order::order_status_with_default;
use crate::status::{OrderStatus, ShipmentStatus};
use crate::time::Timestamp;
use crate::timeline::{Entry, Inserted, ShipmentLog};

/// Why an event could not be linked to an order. The event is not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("order_id is required: tracking number {0} is not linked to any order yet")]
    OrderRequired(String),
    #[error("tracking number {tracking_number} belongs to order {owner}, not {named}")]
    ParcelOfAnotherOrder {
        tracking_number: String,
        owner: OrderId,
        named: OrderId,
    },
    #[error("order {0} does not exist")]
    UnknownOrder(OrderId),
    #[error(
        "tracking number {tracking_number} is known under both {from} and {to}: a carrier correction cannot merge two shipments"
    )]
    CarrierConflict {
        tracking_number: String,
        from: String,
        to: String,
    },
}

/// Where an event comes from, which decides what happens to a scan for a parcel no
/// order has claimed, and to a link naming an order that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// `/v1/events`: such a scan needs an `order_id`.
    Canonical,
    /// `POST /v1/orders`: the order must not exist yet (with its details).
    NewOrder,
    /// Provider pushes, and the log itself (replay, catch-up): such a scan is kept on an
    /// unlinked shipment, and a link may create its order (a re-sent scan's claim
    /// created it live).
    Provider,
}

/// How an event is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct How {
    pub intake: Intake,
    /// The event is new to the log (live), not read back from it (replay, catch-up):
    /// only a live event can cause a record to be appended or a domain event.
    pub live: bool,
    /// Domain events are wanted (off for a bulk load of history, which should notify
    /// nobody).
    pub announce: bool,
}

impl How {
    /// A live event whose changes are announced.
    pub const fn live(intake: Intake) -> Self {
        Self {
            intake,
            live: true,
            announce: true,
        }
    }

    /// An event read back from the log.
    pub const fn logged() -> Self {
        Self {
            intake: Intake::Provider,
            live: false,
            announce: false,
        }
    }

    fn emits(self) -> bool {
        self.live && self.announce
    }
}

/// What applying an event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New, applied.
    Accepted,
    /// Known already: nothing changed.
    Duplicate,
    /// A new order (`Intake::NewOrder`) named one that exists with its details.
    OrderExists,
    /// Refused: not stored.
    Rejected(Rejection),
}

/// What goes into the log for an applied event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// Nothing.
    Nothing,
    /// The event itself.
    Event,
    /// A record in its place: a duplicate scan that claimed its parcel is in the log
    /// already, the claim is not, and a replay must see it.
    Record(Box<TrackingEvent>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub outcome: Outcome,
    pub logged: Logged,
}

impl Applied {
    fn only(outcome: Outcome) -> Self {
        Self {
            outcome,
            logged: Logged::Nothing,
        }
    }
}

/// An order as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The earliest receipt time of its events.
    pub created_at: Timestamp,
    /// Its status after the last applied event: a move is announced.
    pub status: OrderStatus,
    /// Its customer and metadata (a JSON object), from its first `created` event with
    /// an object, or as an admin last set them.
    pub details: Option<String>,
    /// Its parcels in the order they joined it, each with its shipment's status.
    pub shipments: Vec<(ParcelKey, Option<ShipmentStatus>)>,
}

impl Order {
    pub fn new(created_at: Timestamp) -> Self {
        Self {
            created_at,
            status: OrderStatus::Created,
            details: None,
            shipments: Vec::new(),
        }
    }

    /// The status its shipments give it (docs/state-machine.md): the rule of
    /// [`order_status_with_default`], without collecting the statuses first (this runs
    /// for every event).
    pub fn derived_status(&self) -> OrderStatus {
        let tracked = || {
            self.shipments
                .iter()
                .filter(|s| matches!(s.0, ParcelKey::Tracked(_)))
                .map(|s| s.1)
        };
        if tracked().any(|s| s.is_some()) {
            return order_status(tracked());
        }
        let default = self
            .shipments
            .iter()
            .find(|s| matches!(s.0, ParcelKey::OrderDefault(_)))
            .and_then(|s| s.1);
        order_status([default])
    }
}

/// A shipment as the engine sees it.
#[derive(Debug, Clone, Default)]
pub struct Shipment {
    /// `None`: no order has claimed the parcel yet.
    pub owner: Option<OrderId>,
    pub log: ShipmentLog,
    /// The latest receipt time of its events and of the link that claimed it: the
    /// order's `updated_at` is their maximum.
    pub updated_at: Timestamp,
}

/// What the engine needs of the world, and what it tells it. Lookups hand out the
/// current state (a store's cache, loading a row on a miss); the engine changes that
/// state in place and reports each change through the other methods, which is all a
/// store has to persist. Nothing here decides anything.
pub trait World {
    type Error;

    fn order(&mut self, id: &OrderId) -> Result<Option<&mut Order>, Self::Error>;
    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<&mut Shipment>, Self::Error>;
    /// The carrier a parcel once known as `t` has now, if a correction renamed it.
    fn renamed(&mut self, t: &Tracking) -> Result<Option<Carrier>, Self::Error>;
    /// `current` with an admin's `patch` applied, or `None` if that changes nothing.
    /// Details are JSON, which the core does not read: the adapter that stores them
    /// merges them.
    fn merged_details(current: Option<&str>, patch: &str) -> Option<String>;

    /// A new order.
    fn add_order(&mut self, id: &OrderId, order: Order) -> Result<(), Self::Error>;
    /// A new shipment, owned (its owner was added before) or not.
    fn add_shipment(&mut self, key: &ParcelKey, shipment: Shipment) -> Result<(), Self::Error>;
    /// An unlinked shipment now belongs to `order`.
    fn claimed(&mut self, key: &ParcelKey, order: &OrderId) -> Result<(), Self::Error>;
    /// A carrier correction: the shipment known as `from` is `to` from now on, and
    /// every earlier name of it leads to `to`.
    fn rename(&mut self, from: &ParcelKey, to: &ParcelKey) -> Result<(), Self::Error>;
    /// The event (with `Some`, a scan of that shipment) or a record enters the log.
    fn logged(&mut self, shipment: Option<&ParcelKey>) -> Result<(), Self::Error>;
    /// A shipment changed besides its log (its `updated_at`).
    fn touch_shipment(&mut self, key: &ParcelKey);
    /// An order changed; `row`: its own fields (created_at, details), not only what
    /// follows from its shipments.
    fn touch_order(&mut self, id: &OrderId, row: bool);
}

/// The entry the fold keeps of an event.
pub fn entry_of(ev: &TrackingEvent) -> Entry {
    Entry {
        occurred_at: ev.occurred_at,
        kind: ev.kind,
        key: event_key(&ev.event_id),
        location: ev.location.as_deref().map(Into::into),
    }
}

/// Which order an event belongs to, given who owns its parcel (if anyone). `Ok(None)`:
/// the parcel stays unlinked.
pub fn resolve_order(
    ev: &TrackingEvent,
    owner: Option<&OrderId>,
    intake: Intake,
) -> Result<Option<OrderId>, Rejection> {
    let number = || {
        ev.tracking
            .as_ref()
            .map(|t| t.tracking_number.to_string())
            .unwrap_or_default()
    };
    match (owner, &ev.order_id) {
        (Some(owner), Some(named)) if owner != named => Err(Rejection::ParcelOfAnotherOrder {
            tracking_number: number(),
            owner: owner.clone(),
            named: named.clone(),
        }),
        (Some(owner), _) => Ok(Some(owner.clone())),
        (None, Some(named)) => Ok(Some(named.clone())),
        (None, None) if ev.tracking.is_some() && intake == Intake::Provider => Ok(None),
        (None, None) => Err(Rejection::OrderRequired(number())),
    }
}

/// Applies one event (or record). Domain events it causes go to `changes`.
pub fn apply<W: World>(
    w: &mut W,
    ev: &TrackingEvent,
    how: How,
    changes: &mut Vec<Change>,
) -> Result<Applied, W::Error> {
    let outcome = match ev.kind {
        EventKind::Linked => link(w, ev, how, changes)?,
        EventKind::CarrierChanged => change_carrier(w, ev)?,
        EventKind::DetailsSet => set_details(w, ev)?,
        _ => return scan(w, ev, how, changes),
    };
    if outcome != Outcome::Accepted {
        return Ok(Applied::only(outcome));
    }
    w.logged(None)?;
    Ok(Applied {
        outcome,
        logged: Logged::Event,
    })
}

/// A domain event caused by `ev`.
fn change(
    kind: ChangeKind,
    order_id: &OrderId,
    parcel: Option<Tracking>,
    status: Status,
    previous: Option<Status>,
    ev: &TrackingEvent,
) -> Change {
    Change {
        kind,
        order_id: order_id.clone(),
        parcel,
        status,
        previous,
        at: ev.received_at,
        cause: ev.event_id.clone(),
    }
}

/// A scan (any event that is not a record): found a home, folded in.
fn scan<W: World>(
    w: &mut W,
    ev: &TrackingEvent,
    how: How,
    changes: &mut Vec<Change>,
) -> Result<Applied, W::Error> {
    // Where the parcel is, and who owns it, in one lookup.
    let (tracked, exists, owner) = match &ev.tracking {
        Some(t) => {
            let (key, exists, owner) = locate(w, t)?;
            (Some(key), exists, owner)
        }
        None => (None, false, None),
    };
    let order_id = match resolve_order(ev, owner.as_ref(), how.intake) {
        Ok(id) => id,
        Err(r) => return Ok(Applied::only(Outcome::Rejected(r))),
    };
    // Whether this event makes an order claim an unlinked parcel.
    let mut claims = false;
    let parcel = match &order_id {
        Some(order_id) => {
            match w.order(order_id)? {
                // An order that an event created first may still be given its customer
                // and metadata, once.
                Some(o) if how.intake == Intake::NewOrder && o.details.is_some() => {
                    return Ok(Applied::only(Outcome::OrderExists));
                }
                Some(_) => {}
                None => {
                    w.add_order(order_id, Order::new(ev.received_at))?;
                    if how.emits() {
                        changes.push(change(
                            ChangeKind::OrderCreated,
                            order_id,
                            None,
                            Status::Order(OrderStatus::Created),
                            None,
                            ev,
                        ));
                    }
                }
            }
            let parcel = tracked.unwrap_or_else(|| ParcelKey::OrderDefault(order_id.clone()));
            let exists = match &parcel {
                ParcelKey::Tracked(_) => exists,
                ParcelKey::OrderDefault(_) => w.shipment(&parcel)?.is_some(),
            };
            if !exists {
                add_shipment(w, &parcel, Some(order_id))?;
            } else if owner.is_none() && matches!(parcel, ParcelKey::Tracked(_)) {
                // A default shipment always has its order; a tracked one may not yet.
                attach(w, &parcel, order_id)?;
                claims = true;
            }
            parcel
        }
        None => {
            let parcel = tracked.expect("only a tracked parcel stays unlinked");
            if !exists {
                add_shipment(w, &parcel, None)?;
            }
            parcel
        }
    };

    let shipment = w.shipment(&parcel)?.expect("found or added above");
    let before = shipment.log.state().status;
    if shipment.log.insert(entry_of(ev)) == Inserted::Duplicate {
        // A re-sent scan that names the order of a parcel pushed without one still
        // claims it; the log must say so, or a replay would not.
        let (Some(order_id), Some(t), true, true) = (order_id, &ev.tracking, claims, how.live)
        else {
            return Ok(Applied::only(Outcome::Duplicate));
        };
        note_order_status(w, &order_id, ev, how, changes)?;
        w.logged(None)?;
        return Ok(Applied {
            outcome: Outcome::Duplicate,
            logged: Logged::Record(Box::new(TrackingEvent::link(
                order_id,
                t.clone(),
                ev.received_at,
            ))),
        });
    }
    shipment.updated_at = shipment.updated_at.max(ev.received_at);
    let status = shipment.log.state().status;
    w.logged(Some(&parcel))?;

    if let Some(order_id) = order_id {
        let order = w.order(&order_id)?.expect("found or added above");
        let mut row = false;
        if ev.received_at < order.created_at {
            order.created_at = ev.received_at;
            row = true;
        }
        if let Some(s) = order.shipments.iter_mut().find(|s| s.0 == parcel) {
            s.1 = status;
        }
        let object = ev
            .details
            .as_deref()
            .is_some_and(|d| d.trim_start().starts_with('{'));
        if ev.kind == EventKind::OrderCreated && order.details.is_none() && object {
            order.details.clone_from(&ev.details);
            row = true;
        }
        if how.emits() {
            let tracking = match &parcel {
                ParcelKey::Tracked(t) => Some(t),
                ParcelKey::OrderDefault(_) => None,
            };
            changes.extend(shipment_changes(before, status, |kind, now, previous| {
                change(kind, &order_id, tracking.cloned(), now, previous, ev)
            }));
        }
        restatus(order, &order_id, ev, how, changes);
        w.touch_order(&order_id, row);
    }
    Ok(Applied {
        outcome: Outcome::Accepted,
        logged: Logged::Event,
    })
}

/// Re-derives an order's status after a change to its shipments, and announces the
/// move when `how` says so; the order's status is kept current either way.
fn note_order_status<W: World>(
    w: &mut W,
    order_id: &OrderId,
    ev: &TrackingEvent,
    how: How,
    changes: &mut Vec<Change>,
) -> Result<(), W::Error> {
    if let Some(o) = w.order(order_id)? {
        restatus(o, order_id, ev, how, changes);
    }
    Ok(())
}

/// The order's status from its shipments as they are now; a move is announced when
/// `how` says so.
fn restatus(
    o: &mut Order,
    order_id: &OrderId,
    ev: &TrackingEvent,
    how: How,
    changes: &mut Vec<Change>,
) {
    let now = o.derived_status();
    let before = std::mem::replace(&mut o.status, now);
    if how.emits() {
        changes.extend(order_change(before, now, |kind, status, previous| {
            change(kind, order_id, None, status, previous, ev)
        }));
    }
}

/// A new shipment, joined to its order if it has one.
fn add_shipment<W: World>(
    w: &mut W,
    parcel: &ParcelKey,
    owner: Option<&OrderId>,
) -> Result<(), W::Error> {
    let shipment = Shipment {
        owner: owner.cloned(),
        ..Shipment::default()
    };
    w.add_shipment(parcel, shipment)?;
    if let Some(owner) = owner
        && let Some(o) = w.order(owner)?
    {
        o.shipments.push((parcel.clone(), None));
    }
    Ok(())
}

/// An unlinked shipment joins an order, with everything it has gathered.
fn attach<W: World>(w: &mut W, parcel: &ParcelKey, order_id: &OrderId) -> Result<(), W::Error> {
    let shipment = w.shipment(parcel)?.expect("attach a known shipment");
    shipment.owner = Some(order_id.clone());
    let status = shipment.log.state().status;
    w.claimed(parcel, order_id)?;
    if let Some(o) = w.order(order_id)? {
        o.shipments.push((parcel.clone(), status));
    }
    w.touch_order(order_id, false);
    Ok(())
}

/// The parcel's current name — its own, unless a carrier correction retired it (a late
/// push under the old name still reaches the parcel) — whether a shipment has that
/// name, and its owner if it has one.
fn locate<W: World>(
    w: &mut W,
    t: &Tracking,
) -> Result<(ParcelKey, bool, Option<OrderId>), W::Error> {
    let key = ParcelKey::Tracked(t.clone());
    if let Some(s) = w.shipment(&key)? {
        let owner = s.owner.clone();
        return Ok((key, true, owner));
    }
    let Some(carrier) = w.renamed(t)? else {
        return Ok((key, false, None));
    };
    let key = ParcelKey::Tracked(Tracking {
        carrier,
        tracking_number: t.tracking_number.clone(),
    });
    Ok(match w.shipment(&key)? {
        Some(s) => (key, true, s.owner.clone()),
        None => (key, false, None),
    })
}

/// `POST /v1/orders/{id}/shipments`: the parcel joins the order, now or before any
/// event names it.
fn link<W: World>(
    w: &mut W,
    ev: &TrackingEvent,
    how: How,
    changes: &mut Vec<Change>,
) -> Result<Outcome, W::Error> {
    let (Some(order_id), Some(t)) = (&ev.order_id, &ev.tracking) else {
        return Ok(Outcome::Rejected(Rejection::OrderRequired(String::new())));
    };
    if w.order(order_id)?.is_none() {
        if how.intake != Intake::Provider {
            return Ok(Outcome::Rejected(Rejection::UnknownOrder(order_id.clone())));
        }
        w.add_order(order_id, Order::new(ev.received_at))?;
    }
    let (parcel, _, _) = locate(w, t)?;
    match w.shipment(&parcel)?.map(|s| s.owner.clone()) {
        Some(Some(owner)) if owner == *order_id => return Ok(Outcome::Duplicate),
        Some(Some(owner)) => {
            return Ok(Outcome::Rejected(Rejection::ParcelOfAnotherOrder {
                tracking_number: t.tracking_number.to_string(),
                owner,
                named: order_id.clone(),
            }));
        }
        Some(None) => attach(w, &parcel, order_id)?,
        None => add_shipment(w, &parcel, Some(order_id))?,
    }
    let shipment = w.shipment(&parcel)?.expect("linked above");
    shipment.updated_at = shipment.updated_at.max(ev.received_at);
    w.touch_shipment(&parcel);
    note_order_status(w, order_id, ev, how, changes)?;
    w.touch_order(order_id, false);
    Ok(Outcome::Accepted)
}

/// A provider corrected the parcel's carrier: the shipment takes the new name and keeps
/// its events and its order.
fn change_carrier<W: World>(w: &mut W, ev: &TrackingEvent) -> Result<Outcome, W::Error> {
    let (Some(to), Some(from)) = (&ev.tracking, ev.previous_carrier()) else {
        return Ok(Outcome::Duplicate);
    };
    let old = ParcelKey::Tracked(Tracking {
        carrier: from.clone(),
        tracking_number: to.tracking_number.clone(),
    });
    let new = ParcelKey::Tracked(to.clone());
    let owner = match w.shipment(&old)? {
        Some(s) if old != new => s.owner.clone(),
        _ => return Ok(Outcome::Duplicate),
    };
    if w.shipment(&new)?.is_some() {
        return Ok(Outcome::Rejected(Rejection::CarrierConflict {
            tracking_number: to.tracking_number.to_string(),
            from: from.to_string(),
            to: to.carrier.to_string(),
        }));
    }
    w.rename(&old, &new)?;
    if let Some(owner) = owner {
        if let Some(o) = w.order(&owner)? {
            for s in &mut o.shipments {
                if s.0 == old {
                    s.0 = new.clone();
                }
            }
        }
        w.touch_order(&owner, false);
    }
    Ok(Outcome::Accepted)
}

/// An admin's customer and metadata replace the order's; a record that changes nothing
/// is a duplicate.
fn set_details<W: World>(w: &mut W, ev: &TrackingEvent) -> Result<Outcome, W::Error> {
    let Some(order_id) = &ev.order_id else {
        return Ok(Outcome::Rejected(Rejection::OrderRequired(String::new())));
    };
    let Some(order) = w.order(order_id)? else {
        return Ok(Outcome::Rejected(Rejection::UnknownOrder(order_id.clone())));
    };
    let patch = ev.details.as_deref().unwrap_or("");
    let Some(details) = W::merged_details(order.details.as_deref(), patch) else {
        return Ok(Outcome::Duplicate);
    };
    order.details = Some(details);
    w.touch_order(order_id, true);
    Ok(Outcome::Accepted)
}

#[cfg(test)]
#[path = "engine_rules.rs"]
mod rules;
