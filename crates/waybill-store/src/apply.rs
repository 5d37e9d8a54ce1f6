//! Applying events to the database: link, deduplicate, fold, write.
//!
//! [`Applier`] keeps the writer's memory of hot orders and shipments (each shipment with
//! its folded [`ShipmentLog`]), so the hot path is: a hash lookup, an in-memory fold and
//! one appended row. Projection rows are written once per batch, not once per event.
//! The same code serves the live writer and [`replay`], which is what makes a replayed
//! projection equal the live one.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use waybill_core::event::Tracking;
use waybill_core::timeline::Inserted;
use waybill_core::tracker::{entry_of, resolve_order};
use waybill_core::{
    Carrier, Entry, EventKind, OrderId, ParcelKey, ShipmentLog, ShipmentStatus, Timestamp,
    TrackingEvent, TrackingNumber, event_key, order_status,
};

use crate::StoreError;
use crate::cache::TwoGen;
use crate::writer::ItemOutcome;

struct OrderSlot {
    oref: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
    has_details: bool,
    details: Option<String>,
    shipments: Vec<(i64, Option<ShipmentStatus>)>,
    dirty: bool,
}

struct ShipmentSlot {
    sref: i64,
    order: OrderId,
    log: ShipmentLog,
    /// Where this shipment's events are in the log.
    seqs: Vec<i64>,
    dirty: bool,
}

/// Where an accepted event is: appended now (live), or already in the log (replay).
#[derive(Clone, Copy)]
pub enum Sink {
    Append,
    Logged { seq: i64 },
}

pub struct Applier {
    orders: TwoGen<OrderId, OrderSlot>,
    shipments: TwoGen<ParcelKey, ShipmentSlot>,
    dirty_orders: Vec<OrderId>,
    dirty_shipments: Vec<ParcelKey>,
}

impl Applier {
    pub fn new(cache_capacity: usize) -> Self {
        Self {
            orders: TwoGen::new(cache_capacity),
            shipments: TwoGen::new(cache_capacity),
            dirty_orders: Vec::new(),
            dirty_shipments: Vec::new(),
        }
    }

    /// Forgets everything: after a failed transaction the memory may be ahead of the
    /// database, and the database is the truth.
    pub fn reset(&mut self) {
        self.orders.clear();
        self.shipments.clear();
        self.dirty_orders.clear();
        self.dirty_shipments.clear();
    }

    /// Applies one event inside `tx`. `new_order` refuses an order that already exists.
    pub fn apply(
        &mut self,
        tx: &Transaction<'_>,
        ev: &TrackingEvent,
        new_order: bool,
        sink: Sink,
    ) -> Result<ItemOutcome, StoreError> {
        let tracked = ev.tracking.clone().map(ParcelKey::Tracked);
        let owner = match &tracked {
            Some(key) => self.shipment(tx, key)?.map(|s| s.order.clone()),
            None => None,
        };
        let order_id = match resolve_order(ev, owner.as_ref()) {
            Ok(id) => id,
            Err(r) => return Ok(ItemOutcome::Rejected(r)),
        };
        let existed = self.order(tx, &order_id)?.is_some();
        if new_order && existed {
            return Ok(ItemOutcome::OrderExists);
        }
        if !existed {
            let created = ev.received_at.as_micros();
            tx.prepare_cached(
                "INSERT INTO orders (order_id, status, created_at, updated_at) VALUES (?1, 'created', ?2, ?2)",
            )?
            .execute(params![order_id.as_str(), created])?;
            self.orders.insert(
                order_id.clone(),
                OrderSlot {
                    oref: tx.last_insert_rowid(),
                    created_at: ev.received_at,
                    updated_at: ev.received_at,
                    has_details: false,
                    details: None,
                    shipments: Vec::new(),
                    dirty: false,
                },
            );
        }
        let parcel = tracked.unwrap_or_else(|| ParcelKey::OrderDefault(order_id.clone()));
        let oref = self
            .orders
            .get_mut(&order_id)
            .map(|o| o.oref)
            .unwrap_or_default();
        if self.shipment(tx, &parcel)?.is_none() {
            let (carrier, number) = match &ev.tracking {
                Some(t) => (Some(t.carrier.as_str()), Some(t.tracking_number.as_str())),
                None => (None, None),
            };
            tx.prepare_cached(
                "INSERT INTO shipments (order_ref, carrier, tracking_number) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![oref, carrier, number])?;
            let sref = tx.last_insert_rowid();
            self.shipments.insert(
                parcel.clone(),
                ShipmentSlot {
                    sref,
                    order: order_id.clone(),
                    log: ShipmentLog::default(),
                    seqs: Vec::new(),
                    dirty: false,
                },
            );
            if let Some(o) = self.orders.get_mut(&order_id) {
                o.shipments.push((sref, None));
            }
        }

        let slot = self
            .shipments
            .get_mut(&parcel)
            .expect("loaded or created above");
        if slot.log.insert(entry_of(ev)) == Inserted::Duplicate {
            return Ok(ItemOutcome::Duplicate);
        }
        let sref = slot.sref;
        let status = slot.log.state().status;
        slot.seqs.push(match sink {
            Sink::Append => insert_event(tx, ev)?,
            Sink::Logged { seq } => seq,
        });
        if !slot.dirty {
            slot.dirty = true;
            self.dirty_shipments.push(parcel);
        }
        let order = self
            .orders
            .get_mut(&order_id)
            .expect("loaded or created above");
        order.created_at = order.created_at.min(ev.received_at);
        order.updated_at = order.updated_at.max(ev.received_at);
        if let Some(s) = order.shipments.iter_mut().find(|(r, _)| *r == sref) {
            s.1 = status;
        }
        if ev.kind == EventKind::OrderCreated && !order.has_details && ev.details.is_some() {
            order.has_details = true;
            order.details.clone_from(&ev.details);
        }
        if !order.dirty {
            order.dirty = true;
            self.dirty_orders.push(order_id);
        }
        Ok(ItemOutcome::Accepted)
    }

    /// Writes the projections of everything touched since the last flush.
    pub fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut upd = tx.prepare_cached(
            "UPDATE shipments SET status = ?2, status_at = ?3, high_water = ?4,
                 last_event_at = ?5, last_location = ?6, event_seqs = ?7 WHERE ref = ?1",
        )?;
        for key in self.dirty_shipments.drain(..) {
            let Some(s) = self.shipments.get_mut(&key) else {
                continue;
            };
            s.dirty = false;
            let st = s.log.state();
            upd.execute(params![
                s.sref,
                st.status.map(ShipmentStatus::as_str),
                st.status_at.map(Timestamp::as_micros),
                st.high_water.map(ShipmentStatus::as_str),
                st.last_event_at.map(Timestamp::as_micros),
                st.last_location.as_deref(),
                encode_seqs(&s.seqs),
            ])?;
        }
        let mut upd = tx.prepare_cached(
            "UPDATE orders SET status = ?2, created_at = ?3, updated_at = ?4,
                 details = COALESCE(details, ?5) WHERE ref = ?1",
        )?;
        for id in self.dirty_orders.drain(..) {
            let Some(o) = self.orders.get_mut(&id) else {
                continue;
            };
            o.dirty = false;
            let status = order_status(o.shipments.iter().map(|s| s.1));
            upd.execute(params![
                o.oref,
                status.as_str(),
                o.created_at.as_micros(),
                o.updated_at.as_micros(),
                o.details.take(),
            ])?;
        }
        Ok(())
    }

    /// Called after a commit: the cache may now shed what is old.
    pub fn committed(&mut self) {
        self.orders.maybe_age();
        self.shipments.maybe_age();
    }

    fn order(
        &mut self,
        tx: &Connection,
        id: &OrderId,
    ) -> Result<Option<&mut OrderSlot>, StoreError> {
        if self.orders.get_mut(id).is_none() {
            let Some(slot) = load_order(tx, id)? else {
                return Ok(None);
            };
            self.orders.insert(id.clone(), slot);
        }
        Ok(self.orders.get_mut(id))
    }

    fn shipment(
        &mut self,
        tx: &Connection,
        key: &ParcelKey,
    ) -> Result<Option<&mut ShipmentSlot>, StoreError> {
        if self.shipments.get_mut(key).is_none() {
            let Some(slot) = load_shipment(tx, key)? else {
                return Ok(None);
            };
            self.shipments.insert(key.clone(), slot);
        }
        Ok(self.shipments.get_mut(key))
    }
}

/// `event_seqs` as stored: little-endian i64s.
pub fn encode_seqs(seqs: &[i64]) -> Vec<u8> {
    seqs.iter().flat_map(|s| s.to_le_bytes()).collect()
}

pub fn decode_seqs(blob: &[u8]) -> Vec<i64> {
    blob.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// Appends the event to the log; returns its `seq`.
fn insert_event(tx: &Transaction<'_>, ev: &TrackingEvent) -> Result<i64, StoreError> {
    let (carrier, number) = match &ev.tracking {
        Some(t) => (Some(t.carrier.as_str()), Some(t.tracking_number.as_str())),
        None => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO events (event_id, order_id, carrier, tracking_number, kind,
             occurred_at, utc_offset, received_at, location, description, raw_status, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        ev.event_id,
        ev.order_id.as_ref().map(OrderId::as_str),
        carrier,
        number,
        ev.kind.as_str(),
        ev.occurred_at.as_micros(),
        ev.utc_offset_seconds,
        ev.received_at.as_micros(),
        ev.location,
        ev.description,
        ev.raw_status,
        ev.details,
    ])?;
    Ok(tx.last_insert_rowid())
}

fn load_order(conn: &Connection, id: &OrderId) -> Result<Option<OrderSlot>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT ref, created_at, updated_at, details IS NOT NULL FROM orders WHERE order_id = ?1",
        )?
        .query_row([id.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((oref, created, updated, has_details)) = row else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached("SELECT ref, status FROM shipments WHERE order_ref = ?1")?;
    let shipments = stmt
        .query_map([oref], |r| {
            let status: Option<String> = r.get(1)?;
            Ok((r.get(0)?, status.as_deref().and_then(ShipmentStatus::parse)))
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(OrderSlot {
        oref,
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
        has_details,
        details: None,
        shipments,
        dirty: false,
    }))
}

type SeqRow = (i64, String, Option<Vec<u8>>);

fn seq_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SeqRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn load_shipment(conn: &Connection, key: &ParcelKey) -> Result<Option<ShipmentSlot>, StoreError> {
    let row = match key {
        ParcelKey::Tracked(Tracking {
            carrier,
            tracking_number,
        }) => conn
            .prepare_cached(
                "SELECT s.ref, o.order_id, s.event_seqs FROM shipments s
                 JOIN orders o ON o.ref = s.order_ref
                 WHERE s.carrier = ?1 AND s.tracking_number = ?2",
            )?
            .query_row([carrier.as_str(), tracking_number.as_str()], seq_row)
            .optional()?,
        ParcelKey::OrderDefault(order) => conn
            .prepare_cached(
                "SELECT s.ref, o.order_id, s.event_seqs FROM shipments s
                 JOIN orders o ON o.ref = s.order_ref
                 WHERE o.order_id = ?1 AND s.tracking_number IS NULL",
            )?
            .query_row([order.as_str()], seq_row)
            .optional()?,
    };
    let Some((sref, order, seqs)) = row else {
        return Ok(None);
    };
    let order = OrderId::parse(&order).map_err(|e| StoreError::BatchFailed(e.to_string()))?;
    let seqs = decode_seqs(&seqs.unwrap_or_default());
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, kind, occurred_at, location FROM events WHERE seq = ?1",
    )?;
    let mut entries = Vec::with_capacity(seqs.len());
    for seq in &seqs {
        entries.push(stmt.query_row([seq], |r| {
            let id: String = r.get(0)?;
            let kind: String = r.get(1)?;
            let location: Option<String> = r.get(3)?;
            Ok(Entry {
                occurred_at: Timestamp(r.get(2)?),
                kind: EventKind::parse(&kind).unwrap_or(EventKind::Unmapped),
                key: event_key(&id),
                location: location.map(Into::into),
            })
        })?);
    }
    Ok(Some(ShipmentSlot {
        sref,
        order,
        log: ShipmentLog::from_entries(entries),
        seqs,
        dirty: false,
    }))
}

/// Reads an event row back into the domain type (for replay).
pub fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<TrackingEvent>> {
    let order_id: Option<String> = r.get("order_id")?;
    let carrier: Option<String> = r.get("carrier")?;
    let number: Option<String> = r.get("tracking_number")?;
    let kind: String = r.get("kind")?;
    let tracking = match (carrier, number) {
        (Some(c), Some(n)) => match (Carrier::parse(&c), TrackingNumber::parse(&n)) {
            (Ok(carrier), Ok(tracking_number)) => Some(Tracking {
                carrier,
                tracking_number,
            }),
            _ => return Ok(None),
        },
        _ => None,
    };
    let order_id = match order_id.map(|o| OrderId::parse(&o)).transpose() {
        Ok(o) => o,
        Err(_) => return Ok(None),
    };
    Ok(Some(TrackingEvent {
        event_id: r.get("event_id")?,
        order_id,
        tracking,
        kind: EventKind::parse(&kind).unwrap_or(EventKind::Unmapped),
        occurred_at: Timestamp(r.get("occurred_at")?),
        utc_offset_seconds: r.get("utc_offset")?,
        received_at: Timestamp(r.get("received_at")?),
        location: r.get("location")?,
        description: r.get("description")?,
        raw_status: r.get("raw_status")?,
        details: r.get("details")?,
    }))
}

/// Drops the projections and re-applies the whole log in the order it was accepted.
/// Returns the number of events replayed.
pub fn replay(conn: &mut Connection) -> Result<u64, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("DELETE FROM orders; DELETE FROM shipments;")?;
    let mut applier = Applier::new(usize::MAX / 4);
    let mut n = 0u64;
    {
        let mut stmt = tx.prepare("SELECT * FROM events ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get("seq")?;
            let Some(ev) = event_from_row(row)? else {
                return Err(StoreError::BatchFailed(format!(
                    "event seq {seq} is unreadable"
                )));
            };
            match applier.apply(&tx, &ev, false, Sink::Logged { seq })? {
                ItemOutcome::Accepted => n += 1,
                other => {
                    return Err(StoreError::BatchFailed(format!(
                        "event seq {seq} no longer applies: {other:?}"
                    )));
                }
            }
        }
    }
    applier.flush(&tx)?;
    tx.commit()?;
    Ok(n)
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("orders", &self.orders.len())
            .field("shipments", &self.shipments.len())
            .finish()
    }
}
