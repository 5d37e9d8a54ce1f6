//! The engine's world for one PostgreSQL transaction: the rows the batch locked, in
//! memory, and what the engine changed in them.
//!
//! [`super::rows::load`] fills it before the engine runs and [`super::rows::save`]
//! writes it after; the engine itself runs with no I/O at all. What the load did not
//! find does not exist: it reads every row the batch's events can reach (their parcels
//! under every name, their orders, the owners of their parcels and all those orders'
//! shipments).

use std::collections::HashMap;

use waybill_core::engine::{Order, Shipment, World};
use waybill_core::event::Tracking;
use waybill_core::{Carrier, OrderId, OrderStatus, ParcelKey};

use crate::StoreError;

pub(crate) struct OrderSlot {
    pub order: Order,
    /// `None`: added by this batch, not inserted yet.
    pub oref: Option<i64>,
    /// The status its row holds.
    pub stored_status: OrderStatus,
    /// Its own fields (created_at, details) changed.
    pub row_stale: bool,
    pub touched: bool,
}

pub(crate) struct ShipmentSlot {
    pub shipment: Shipment,
    /// Its name now (after any correction in this batch).
    pub key: ParcelKey,
    /// `None`: added by this batch, not inserted yet.
    pub sref: Option<i64>,
    /// Where its events are in the log; provisional seqs are negative.
    pub seqs: Vec<i64>,
    /// An unlinked row that an order claimed in this batch.
    pub claimed: bool,
    pub dirty: bool,
}

/// A carrier correction to write: the row `slot` (by index) was `from`, is `to`.
pub(crate) struct Rename {
    pub slot: usize,
    pub from: Tracking,
    pub to: Tracking,
}

/// Where an accepted event's seq comes from.
#[derive(Clone, Copy)]
pub(crate) enum Seqs {
    /// Provisional (-1, -2, …), made real once every row is locked.
    Provisional,
    /// The event is in the log under this seq (replay).
    Logged(i64),
}

#[derive(Default)]
pub(crate) struct PgWorld {
    pub orders: HashMap<OrderId, OrderSlot>,
    /// Orders in the order this batch added them.
    pub added_orders: Vec<OrderId>,
    pub shipments: Vec<ShipmentSlot>,
    by_key: HashMap<ParcelKey, usize>,
    /// `(carrier, number)` → the carrier the parcel has now.
    aliases: HashMap<Tracking, Carrier>,
    pub renames: Vec<Rename>,
    /// Orders changed, each once, in order.
    pub touched: Vec<OrderId>,
    provisional: i64,
    pub seqs: Option<Seqs>,
    /// The seq of what the engine logged last.
    pub seq: Option<i64>,
}

impl PgWorld {
    pub fn with_seqs(seqs: Seqs) -> Self {
        Self {
            seqs: Some(seqs),
            ..Self::default()
        }
    }

    /// A row read by the load.
    pub fn known_order(&mut self, id: OrderId, oref: i64, order: Order) {
        let slot = OrderSlot {
            stored_status: order.status,
            order,
            oref: Some(oref),
            row_stale: false,
            touched: false,
        };
        self.orders.insert(id, slot);
    }

    /// A row read by the load.
    pub fn known_shipment(&mut self, key: ParcelKey, sref: i64, seqs: Vec<i64>, s: Shipment) {
        self.insert_slot(ShipmentSlot {
            shipment: s,
            key,
            sref: Some(sref),
            seqs,
            claimed: false,
            dirty: false,
        });
    }

    pub fn known_alias(&mut self, was: Tracking, now: Carrier) {
        self.aliases.insert(was, now);
    }

    /// How many provisional seqs were handed out.
    pub fn provisional(&self) -> i64 {
        self.provisional
    }

    fn insert_slot(&mut self, slot: ShipmentSlot) -> usize {
        let at = self.shipments.len();
        self.by_key.insert(slot.key.clone(), at);
        self.shipments.push(slot);
        at
    }

    fn slot(&mut self, key: &ParcelKey) -> Option<&mut ShipmentSlot> {
        let at = *self.by_key.get(key)?;
        Some(&mut self.shipments[at])
    }
}

impl World for PgWorld {
    type Error = StoreError;

    fn order(&mut self, id: &OrderId) -> Result<Option<&mut Order>, StoreError> {
        Ok(self.orders.get_mut(id).map(|o| &mut o.order))
    }

    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<&mut Shipment>, StoreError> {
        Ok(self.slot(key).map(|s| &mut s.shipment))
    }

    fn renamed(&mut self, t: &Tracking) -> Result<Option<Carrier>, StoreError> {
        Ok(self.aliases.get(t).cloned())
    }

    fn merged_details(current: Option<&str>, patch: &str) -> Option<String> {
        crate::model::details::merged(current, patch)
    }

    fn add_order(&mut self, id: &OrderId, order: Order) -> Result<(), StoreError> {
        let slot = OrderSlot {
            stored_status: order.status,
            order,
            oref: None,
            row_stale: false,
            touched: false,
        };
        self.orders.insert(id.clone(), slot);
        self.added_orders.push(id.clone());
        Ok(())
    }

    fn add_shipment(&mut self, key: &ParcelKey, shipment: Shipment) -> Result<(), StoreError> {
        self.insert_slot(ShipmentSlot {
            shipment,
            key: key.clone(),
            sref: None,
            seqs: Vec::new(),
            claimed: false,
            dirty: true,
        });
        Ok(())
    }

    fn claimed(&mut self, key: &ParcelKey, _: &OrderId) -> Result<(), StoreError> {
        if let Some(s) = self.slot(key) {
            s.claimed = true;
            s.dirty = true;
        }
        Ok(())
    }

    fn rename(&mut self, from: &ParcelKey, to: &ParcelKey) -> Result<(), StoreError> {
        let (ParcelKey::Tracked(f), ParcelKey::Tracked(t)) = (from, to) else {
            return Ok(());
        };
        let Some(at) = self.by_key.remove(from) else {
            return Ok(());
        };
        self.by_key.insert(to.clone(), at);
        let slot = &mut self.shipments[at];
        slot.key = to.clone();
        slot.dirty = true;
        // As the alias table is kept: earlier names lead to the new one, and the new
        // name is no longer an alias of anything.
        for now in self
            .aliases
            .iter_mut()
            .filter(|(was, _)| was.tracking_number == t.tracking_number)
        {
            if *now.1 == f.carrier {
                *now.1 = t.carrier.clone();
            }
        }
        self.aliases.remove(t);
        self.aliases.insert(f.clone(), t.carrier.clone());
        self.renames.push(Rename {
            slot: at,
            from: f.clone(),
            to: t.clone(),
        });
        Ok(())
    }

    fn logged(&mut self, shipment: Option<&ParcelKey>) -> Result<(), StoreError> {
        let seq = match self.seqs {
            Some(Seqs::Logged(seq)) => seq,
            _ => {
                self.provisional += 1;
                -self.provisional
            }
        };
        self.seq = Some(seq);
        if let Some(key) = shipment
            && let Some(s) = self.slot(key)
        {
            s.seqs.push(seq);
            s.dirty = true;
        }
        Ok(())
    }

    fn touch_shipment(&mut self, key: &ParcelKey) {
        if let Some(s) = self.slot(key) {
            s.dirty = true;
        }
    }

    fn touch_order(&mut self, id: &OrderId, row: bool) {
        if let Some(o) = self.orders.get_mut(id) {
            o.row_stale |= row;
            if !o.touched {
                o.touched = true;
                self.touched.push(id.clone());
            }
        }
    }
}
