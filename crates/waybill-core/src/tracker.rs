//! An in-memory engine: the reference model of what a store must end up with.
//!
//! It links events to orders and shipments, deduplicates and folds, all in maps. The
//! stores do the same with a cache and SQL; the property tests hold them to this model.

use std::collections::{BTreeMap, HashMap};

use crate::event::{ParcelKey, TrackingEvent, event_key};
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
    updated_at: Timestamp,
    shipments: Vec<ParcelKey>,
}

#[derive(Default)]
pub struct Tracker {
    orders: BTreeMap<OrderId, OrderModel>,
    shipments: HashMap<ParcelKey, (OrderId, ShipmentLog)>,
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

/// Which order an event belongs to, given who owns its parcel (if anyone).
pub fn resolve_order(ev: &TrackingEvent, owner: Option<&OrderId>) -> Result<OrderId, Rejection> {
    match (owner, &ev.order_id) {
        (Some(owner), Some(named)) if owner != named => Err(Rejection::ParcelOfAnotherOrder {
            tracking_number: ev
                .tracking
                .as_ref()
                .map(|t| t.tracking_number.to_string())
                .unwrap_or_default(),
            owner: owner.clone(),
            named: named.clone(),
        }),
        (Some(owner), _) => Ok(owner.clone()),
        (None, Some(named)) => Ok(named.clone()),
        (None, None) => Err(Rejection::OrderRequired(
            ev.tracking
                .as_ref()
                .map(|t| t.tracking_number.to_string())
                .unwrap_or_default(),
        )),
    }
}

impl Tracker {
    pub fn apply(&mut self, ev: &TrackingEvent) -> Result<Outcome, Rejection> {
        let owner = ev.tracking.as_ref().and_then(|t| {
            self.shipments
                .get(&ParcelKey::Tracked(t.clone()))
                .map(|(o, _)| o)
        });
        let order_id = resolve_order(ev, owner)?;
        let parcel = ev.parcel(&order_id);
        let order = self
            .orders
            .entry(order_id.clone())
            .or_insert_with(|| OrderModel {
                created_at: ev.received_at,
                updated_at: ev.received_at,
                shipments: Vec::new(),
            });
        let (_, log) = self.shipments.entry(parcel.clone()).or_insert_with(|| {
            order.shipments.push(parcel.clone());
            (order_id.clone(), ShipmentLog::default())
        });
        match log.insert(entry_of(ev)) {
            Inserted::Duplicate => Ok(Outcome::Duplicate),
            Inserted::Added => {
                order.created_at = order.created_at.min(ev.received_at);
                order.updated_at = order.updated_at.max(ev.received_at);
                Ok(Outcome::Accepted)
            }
        }
    }

    pub fn order(&self, id: &OrderId) -> Option<OrderView> {
        let order = self.orders.get(id)?;
        let shipments: BTreeMap<ParcelKey, ShipmentView> = order
            .shipments
            .iter()
            .map(|p| {
                let (_, log) = &self.shipments[p];
                let view = ShipmentView {
                    state: log.state().clone(),
                    timeline: log.entries().iter().map(|e| e.key).collect(),
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
            updated_at: order.updated_at,
            shipments,
        })
    }

    pub fn order_ids(&self) -> impl Iterator<Item = &OrderId> {
        self.orders.keys()
    }
}
