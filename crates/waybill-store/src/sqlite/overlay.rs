//! Orders whose projection rows are behind: what readers see until the next flush.
//!
//! The writer does not rewrite a shipment's row at every commit: that random write, and
//! the WAL page it dirties, was most of the cost of a small transaction. It writes the
//! rows about once a second (see `WriterOptions::flush_interval`). In between, after
//! each commit and before anyone is answered, it publishes here the current state of
//! every order the commit touched; readers look here first. After a flush commits, the
//! overlay is emptied: the rows are current again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::model::records::OrderRecord;

/// An order as the writer knows it, ahead of its rows.
#[derive(Debug, Clone)]
pub struct PendingOrder {
    /// The order's row id: list pagination is by it.
    pub oref: i64,
    pub record: OrderRecord,
    /// The seqs of each shipment's events, default shipment included.
    pub seqs: Vec<Vec<i64>>,
    /// Carriers of its shipments, for the list filter.
    pub carriers: Vec<String>,
}

#[derive(Default)]
struct Maps {
    by_id: HashMap<String, Arc<PendingOrder>>,
    by_ref: BTreeMap<i64, Arc<PendingOrder>>,
}

#[derive(Default)]
pub struct Overlay(RwLock<Maps>);

impl Overlay {
    pub fn get(&self, order_id: &str) -> Option<Arc<PendingOrder>> {
        self.0.read().ok()?.by_id.get(order_id).cloned()
    }

    /// The first `n` pending orders with a row id in `(after, through]` that `keep`
    /// accepts, in row order.
    pub fn scan(
        &self,
        after: i64,
        through: Option<i64>,
        n: usize,
        keep: impl Fn(&PendingOrder) -> bool,
    ) -> Vec<Arc<PendingOrder>> {
        let Ok(m) = self.0.read() else {
            return Vec::new();
        };
        let upper = through.unwrap_or(i64::MAX);
        m.by_ref
            .range(after.saturating_add(1)..=upper)
            .map(|(_, p)| p)
            .filter(|p| keep(p))
            .take(n)
            .cloned()
            .collect()
    }

    pub fn contains(&self, order_id: &str) -> bool {
        self.0.read().is_ok_and(|m| m.by_id.contains_key(order_id))
    }

    pub fn publish(&self, orders: Vec<PendingOrder>) {
        if orders.is_empty() {
            return;
        }
        if let Ok(mut m) = self.0.write() {
            for o in orders {
                let o = Arc::new(o);
                m.by_ref.insert(o.oref, o.clone());
                m.by_id.insert(o.record.order_id.clone(), o);
            }
        }
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.0.write() {
            m.by_id.clear();
            m.by_ref.clear();
        }
    }
}
