//! An in-memory engine: the reference model of what a store must end up with.
//!
//! It links events to orders and shipments, deduplicates and folds, all in maps. The
//! stores do the same with a cache and SQL; the property tests hold them to this model.

use std::collections::{BTreeMap, HashMap};

use crate::event::{EventKind, ParcelKey, Tracking, TrackingEvent, event_key};
use crate::ids::OrderId;
use crate::order::order_status_with_default;
use crate::status::OrderStatus;
use crate::time::Timestamp;
use crate::timeline::{Entry, Inserted, ShipmentLog, ShipmentState};

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

/// What to do with a scan for a tracking number that no order has claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclaimed {
    /// Refuse it: `/v1/events` needs an `order_id` unless the parcel is linked.
    Refuse,
    /// Keep it on an unlinked shipment (provider pushes, and replays of the log).
    Keep,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
}

/// Everything a reader can see of an order, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub status: OrderStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub shipments: BTreeMap<ParcelKey, ShipmentView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentView {
    pub state: ShipmentState,
    /// Event keys in timeline order.
    pub timeline: Vec<u64>,
}

struct OrderModel {
    created_at: Timestamp,
    shipments: Vec<ParcelKey>,
}

#[derive(Default)]
struct ShipmentModel {
    /// `None`: no order has claimed the parcel yet.
    owner: Option<OrderId>,
    log: ShipmentLog,
    /// The latest receipt time of its events (and of the record that linked it).
    updated_at: Timestamp,
}

#[derive(Default)]
pub struct Tracker {
    orders: BTreeMap<OrderId, OrderModel>,
    shipments: HashMap<ParcelKey, ShipmentModel>,
    /// Names a carrier correction retired, and the name the parcel has now: a late push
    /// under the old name still reaches the parcel.
    renamed: HashMap<ParcelKey, ParcelKey>,
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
    unclaimed: Unclaimed,
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
        (None, None) if ev.tracking.is_some() && unclaimed == Unclaimed::Keep => Ok(None),
        (None, None) => Err(Rejection::OrderRequired(number())),
    }
}

impl Tracker {
    pub fn apply(
        &mut self,
        ev: &TrackingEvent,
        unclaimed: Unclaimed,
    ) -> Result<Outcome, Rejection> {
        match ev.kind {
            EventKind::Linked => self.link(ev, unclaimed),
            EventKind::CarrierChanged => self.change_carrier(ev),
            // Details are not part of this model: the record needs its order, that is all
            // (the store also calls a record that changes nothing a duplicate).
            EventKind::DetailsSet => match &ev.order_id {
                Some(o) if self.orders.contains_key(o) => Ok(Outcome::Accepted),
                Some(o) => Err(Rejection::UnknownOrder(o.clone())),
                None => Err(Rejection::OrderRequired(String::new())),
            },
            _ => self.scan(ev, unclaimed),
        }
    }

    fn scan(&mut self, ev: &TrackingEvent, unclaimed: Unclaimed) -> Result<Outcome, Rejection> {
        let tracked = ev
            .tracking
            .clone()
            .map(|t| self.current_name(ParcelKey::Tracked(t)));
        let owner = tracked
            .as_ref()
            .and_then(|k| self.shipments.get(k))
            .and_then(|s| s.owner.as_ref());
        let order_id = resolve_order(ev, owner, unclaimed)?;
        let parcel = match (&order_id, tracked) {
            (_, Some(key)) => key,
            (Some(o), None) => ParcelKey::OrderDefault(o.clone()),
            (None, None) => unreachable!("resolve_order refuses an event without parcel or order"),
        };
        if let Some(order_id) = &order_id {
            self.orders
                .entry(order_id.clone())
                .or_insert_with(|| OrderModel {
                    created_at: ev.received_at,
                    shipments: Vec::new(),
                });
            self.claim(order_id, &parcel);
        } else {
            self.shipments.entry(parcel.clone()).or_default();
        }
        let shipment = self.shipments.get_mut(&parcel).expect("created above");
        match shipment.log.insert(entry_of(ev)) {
            Inserted::Duplicate => Ok(Outcome::Duplicate),
            Inserted::Added => {
                shipment.updated_at = shipment.updated_at.max(ev.received_at);
                if let Some(order) = order_id.and_then(|o| self.orders.get_mut(&o)) {
                    order.created_at = order.created_at.min(ev.received_at);
                }
                Ok(Outcome::Accepted)
            }
        }
    }

    /// Makes `order_id` own `parcel`, creating the shipment if need be.
    fn claim(&mut self, order_id: &OrderId, parcel: &ParcelKey) {
        let shipment = self.shipments.entry(parcel.clone()).or_default();
        if shipment.owner.is_none() {
            shipment.owner = Some(order_id.clone());
            if let Some(order) = self.orders.get_mut(order_id) {
                order.shipments.push(parcel.clone());
            }
        }
    }

    /// The parcel's current name: its own, unless a carrier correction retired it.
    fn current_name(&self, key: ParcelKey) -> ParcelKey {
        if self.shipments.contains_key(&key) {
            return key;
        }
        self.renamed.get(&key).cloned().unwrap_or(key)
    }

    fn link(&mut self, ev: &TrackingEvent, unclaimed: Unclaimed) -> Result<Outcome, Rejection> {
        let (Some(order_id), Some(t)) = (&ev.order_id, &ev.tracking) else {
            return Err(Rejection::OrderRequired(String::new()));
        };
        if !self.orders.contains_key(order_id) {
            // From the log, a link may name an order that a re-sent scan's claim
            // created; elsewhere the order must exist.
            if unclaimed == Unclaimed::Refuse {
                return Err(Rejection::UnknownOrder(order_id.clone()));
            }
            self.orders.insert(
                order_id.clone(),
                OrderModel {
                    created_at: ev.received_at,
                    shipments: Vec::new(),
                },
            );
        }
        let parcel = self.current_name(ParcelKey::Tracked(t.clone()));
        match self.shipments.get(&parcel).and_then(|s| s.owner.as_ref()) {
            Some(owner) if owner == order_id => return Ok(Outcome::Duplicate),
            Some(owner) => {
                return Err(Rejection::ParcelOfAnotherOrder {
                    tracking_number: t.tracking_number.to_string(),
                    owner: owner.clone(),
                    named: order_id.clone(),
                });
            }
            None => {}
        }
        self.claim(order_id, &parcel);
        let shipment = self.shipments.get_mut(&parcel).expect("claimed above");
        shipment.updated_at = shipment.updated_at.max(ev.received_at);
        Ok(Outcome::Accepted)
    }

    fn change_carrier(&mut self, ev: &TrackingEvent) -> Result<Outcome, Rejection> {
        let (Some(to), Some(from)) = (&ev.tracking, ev.previous_carrier()) else {
            return Ok(Outcome::Duplicate);
        };
        let old = ParcelKey::Tracked(Tracking {
            carrier: from.clone(),
            tracking_number: to.tracking_number.clone(),
        });
        let new = ParcelKey::Tracked(to.clone());
        if old == new || !self.shipments.contains_key(&old) {
            return Ok(Outcome::Duplicate);
        }
        if self.shipments.contains_key(&new) {
            return Err(Rejection::CarrierConflict {
                tracking_number: to.tracking_number.to_string(),
                from: from.to_string(),
                to: to.carrier.to_string(),
            });
        }
        let shipment = self.shipments.remove(&old).expect("checked above");
        if let Some(order) = shipment.owner.as_ref().and_then(|o| self.orders.get_mut(o)) {
            for p in &mut order.shipments {
                if *p == old {
                    *p = new.clone();
                }
            }
        }
        self.shipments.insert(new.clone(), shipment);
        // Earlier names of the parcel now lead to the new one; the new name is no
        // longer an alias of anything.
        for target in self.renamed.values_mut() {
            if *target == old {
                *target = new.clone();
            }
        }
        self.renamed.remove(&new);
        self.renamed.insert(old, new);
        Ok(Outcome::Accepted)
    }

    pub fn order(&self, id: &OrderId) -> Option<OrderView> {
        let order = self.orders.get(id)?;
        let shipments: BTreeMap<ParcelKey, ShipmentView> = order
            .shipments
            .iter()
            .map(|p| {
                let s = &self.shipments[p];
                let view = ShipmentView {
                    state: s.log.state().clone(),
                    timeline: s.log.entries().iter().map(|e| e.key).collect(),
                };
                (p.clone(), view)
            })
            .collect();
        Some(OrderView {
            status: order_status_with_default(
                shipments
                    .iter()
                    .filter(|(p, _)| matches!(p, ParcelKey::Tracked(_)))
                    .map(|(_, s)| s.state.status),
                shipments
                    .iter()
                    .find(|(p, _)| matches!(p, ParcelKey::OrderDefault(_)))
                    .and_then(|(_, s)| s.state.status),
            ),
            created_at: order.created_at,
            updated_at: order
                .shipments
                .iter()
                .map(|p| self.shipments[p].updated_at)
                .max()
                .unwrap_or(order.created_at),
            shipments,
        })
    }

    pub fn order_ids(&self) -> impl Iterator<Item = &OrderId> {
        self.orders.keys()
    }
}
