//! The reference model: the engine over plain maps, with nothing to persist.
//!
//! It is what a store must end up with after the same events; the stores' property
//! tests hold them to it. Being the engine itself, it cannot drift from the rules —
//! what it checks is persistence: caching, rows that lag the log, catch-up and replay.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use crate::engine::{self, How, Intake, Order, Outcome, Rejection, Shipment, World};
use crate::event::{ParcelKey, Tracking, TrackingEvent};
use crate::ids::{Carrier, OrderId};
use crate::status::OrderStatus;
use crate::time::Timestamp;
use crate::timeline::ShipmentState;

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

#[derive(Debug, Default)]
pub struct Model {
    orders: BTreeMap<OrderId, Order>,
    shipments: HashMap<ParcelKey, Shipment>,
    /// Names a carrier correction retired, and the name the parcel has now.
    renamed: HashMap<ParcelKey, ParcelKey>,
}

impl World for Model {
    type Error = Infallible;

    fn order(&mut self, id: &OrderId) -> Result<Option<&mut Order>, Infallible> {
        Ok(self.orders.get_mut(id))
    }

    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<&mut Shipment>, Infallible> {
        Ok(self.shipments.get_mut(key))
    }

    fn renamed(&mut self, t: &Tracking) -> Result<Option<Carrier>, Infallible> {
        Ok(match self.renamed.get(&ParcelKey::Tracked(t.clone())) {
            Some(ParcelKey::Tracked(now)) => Some(now.carrier.clone()),
            _ => None,
        })
    }

    /// The model does not read JSON: a patch replaces the details unless it equals
    /// them. (The stores merge objects; no rule of the engine depends on how.)
    fn merged_details(current: Option<&str>, patch: &str) -> Option<String> {
        (current != Some(patch)).then(|| patch.to_owned())
    }

    fn add_order(&mut self, id: &OrderId, order: Order) -> Result<(), Infallible> {
        self.orders.insert(id.clone(), order);
        Ok(())
    }

    fn add_shipment(&mut self, key: &ParcelKey, shipment: Shipment) -> Result<(), Infallible> {
        self.shipments.insert(key.clone(), shipment);
        Ok(())
    }

    fn claimed(&mut self, _: &ParcelKey, _: &OrderId) -> Result<(), Infallible> {
        Ok(())
    }

    fn rename(&mut self, from: &ParcelKey, to: &ParcelKey) -> Result<(), Infallible> {
        if let Some(s) = self.shipments.remove(from) {
            self.shipments.insert(to.clone(), s);
        }
        // Earlier names of the parcel now lead to the new one; the new name is no
        // longer an alias of anything.
        for target in self.renamed.values_mut() {
            if target == from {
                *target = to.clone();
            }
        }
        self.renamed.remove(to);
        self.renamed.insert(from.clone(), to.clone());
        Ok(())
    }

    fn logged(&mut self, _: Option<&ParcelKey>) -> Result<(), Infallible> {
        Ok(())
    }

    fn touch_shipment(&mut self, _: &ParcelKey) {}

    fn touch_order(&mut self, _: &OrderId, _: bool) {}
}

impl Model {
    /// Applies a live event; a refusal is the error. (The domain events it causes are
    /// the rule tables' to check, not the model's to keep.)
    pub fn apply(&mut self, ev: &TrackingEvent, intake: Intake) -> Result<Outcome, Rejection> {
        let Ok(applied) = engine::apply(self, ev, How::live(intake), &mut Vec::new());
        match applied.outcome {
            Outcome::Rejected(r) => Err(r),
            other => Ok(other),
        }
    }

    pub fn order(&self, id: &OrderId) -> Option<OrderView> {
        let order = self.orders.get(id)?;
        let shipments: BTreeMap<ParcelKey, ShipmentView> = order
            .shipments
            .iter()
            .map(|(p, _)| {
                let s = &self.shipments[p];
                let view = ShipmentView {
                    state: s.log.state().clone(),
                    timeline: s.log.entries().iter().map(|e| e.key).collect(),
                };
                (p.clone(), view)
            })
            .collect();
        Some(OrderView {
            status: order.derived_status(),
            created_at: order.created_at,
            updated_at: order
                .shipments
                .iter()
                .map(|(p, _)| self.shipments[p].updated_at)
                .max()
                .unwrap_or(order.created_at),
            shipments,
        })
    }

    /// The raw state of an order, as the engine keeps it.
    pub fn order_state(&self, id: &OrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// The raw state of a shipment, under its current name.
    pub fn shipment_state(&self, key: &ParcelKey) -> Option<&Shipment> {
        self.shipments.get(key)
    }

    pub fn order_ids(&self) -> impl Iterator<Item = &OrderId> {
        self.orders.keys()
    }
}
