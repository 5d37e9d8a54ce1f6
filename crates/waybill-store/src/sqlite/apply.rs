//! SQLite's side of applying events: the engine's world as a cache over the rows.
//!
//! The engine (`waybill_core::engine`) decides; [`Applier`] keeps the writer's memory of
//! hot orders and shipments (each shipment with its folded [`ShipmentLog`]), so the hot
//! path is a hash lookup, the engine's in-memory fold and a seq handed out. The writer
//! appends the accepted events afterwards, many rows per statement, and
//! [`Applier::flush`] writes each touched shipment once per batch; an order row is
//! written only when its status or its own fields change. The same code serves the live
//! writer, catch-up and replay, which is what makes a replayed projection equal the
//! live one.

use waybill_core::change::Change;
use waybill_core::engine::{self, How, Logged, Order, Outcome, Shipment, World};
use waybill_core::event::Tracking;
use waybill_core::{
    Carrier, Entry, EventKind, OrderId, OrderStatus, ParcelKey, ShipmentLog, ShipmentStatus,
    Timestamp, TrackingEvent, TrackingNumber,
};

pub use waybill_core::engine::Intake;

use crate::StoreError;

/// What the applier needs of a database, inside one transaction. The embedded store
/// answers from SQLite; the PostgreSQL store from rows it has locked for the batch.
pub trait Rows {
    /// An order's row and the parcels it owns (in row order).
    fn order(&mut self, id: &OrderId) -> Result<Option<OrderRow>, StoreError>;
    /// A shipment's row with the entries of its events.
    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<ShipmentRow>, StoreError>;
    /// Creates an order row with status `created`; returns its ref.
    fn insert_order(&mut self, id: &OrderId, at: Timestamp) -> Result<i64, StoreError>;
    /// Creates a shipment row, owned or not; returns its ref.
    fn insert_shipment(
        &mut self,
        owner: Option<i64>,
        parcel: &ParcelKey,
    ) -> Result<i64, StoreError>;
    /// An unlinked shipment joins an order.
    fn set_owner(&mut self, sref: i64, oref: i64) -> Result<(), StoreError>;
    /// A shipment takes a new carrier: earlier names of the parcel now lead to it.
    fn rename(
        &mut self,
        sref: i64,
        number: &TrackingNumber,
        from: &Carrier,
        to: &Carrier,
    ) -> Result<(), StoreError>;
    /// Whether any carrier correction ever left an alias.
    fn any_alias(&mut self) -> Result<bool, StoreError>;
    /// The carrier a parcel known under `t` has now, if a correction renamed it.
    fn alias(&mut self, t: &Tracking) -> Result<Option<Carrier>, StoreError>;
    /// A seq for the next appended event.
    fn next_seq(&mut self) -> Result<i64, StoreError>;
    /// Writes the projection rows of a flush.
    fn write(
        &mut self,
        shipments: &[ShipmentWrite],
        orders: &[OrderWrite],
    ) -> Result<(), StoreError>;
}

/// An order's row as [`Rows::order`] reads it.
pub struct OrderRow {
    pub oref: i64,
    pub created_at: Timestamp,
    pub status: OrderStatus,
    pub details: Option<String>,
    /// Its shipments, in row order, as the engine keeps them: name and status.
    pub shipments: Vec<(ParcelKey, Option<ShipmentStatus>)>,
}

/// A shipment's row as [`Rows::shipment`] reads it.
pub struct ShipmentRow {
    pub sref: i64,
    pub order: Option<OrderId>,
    pub entries: Vec<Entry>,
    pub seqs: Vec<i64>,
    pub updated_at: Timestamp,
}

/// A shipment's projection as a flush writes it.
pub struct ShipmentWrite {
    pub sref: i64,
    pub status: Option<ShipmentStatus>,
    pub status_at: Option<Timestamp>,
    pub high_water: Option<ShipmentStatus>,
    pub last_event_at: Option<Timestamp>,
    pub last_location: Option<String>,
    pub updated_at: Timestamp,
    pub seqs: Vec<i64>,
}

/// An order's row as a flush writes it (details, when known, replace the column's).
pub struct OrderWrite {
    pub oref: i64,
    pub status: OrderStatus,
    pub created_at: Timestamp,
    pub details: Option<String>,
}

use crate::cache::TwoGen;
use crate::model::records::{OrderRecord, ShipmentRecord};
use crate::model::submission::ItemOutcome;
use crate::sqlite::overlay::PendingOrder;

struct OrderSlot {
    order: Order,
    oref: i64,
    /// The status the row holds; the row is rewritten only when the order's differs.
    stored_status: OrderStatus,
    /// What the row needs besides a status: new details, or an earlier `created_at`.
    row_stale: bool,
    /// Changed by the batch in progress: its state is published to the overlay.
    touched: bool,
    dirty: bool,
}

struct ShipmentSlot {
    shipment: Shipment,
    sref: i64,
    /// Where this shipment's events are in the log.
    seqs: Vec<i64>,
    dirty: bool,
}

/// Where an accepted event is: to be appended (live), or already in the log (replay).
#[derive(Clone, Copy)]
pub enum Sink {
    Append,
    Logged { seq: i64 },
}

/// What [`Applier::apply`] did; `seq` is set for an event that must be appended.
#[derive(Debug)]
pub struct Applied {
    pub outcome: ItemOutcome,
    pub append_as: Option<i64>,
    /// What to append under `append_as` instead of the event itself (see
    /// [`Logged::Record`]).
    pub record: Option<TrackingEvent>,
}

/// SQLite's memory of hot orders and shipments, with what its rows still lack.
pub struct Applier {
    orders: TwoGen<OrderId, OrderSlot>,
    shipments: TwoGen<ParcelKey, ShipmentSlot>,
    dirty_orders: Vec<OrderId>,
    dirty_shipments: Vec<ParcelKey>,
    /// Orders changed by the batch in progress.
    touched: Vec<OrderId>,
    /// The seq the next appended event gets; read from the log when unknown.
    next_seq: Option<i64>,
    last_flush: std::time::Instant,
    /// Shipments whose rows may wait at once: a quarter of the cache.
    max_dirty: usize,
    /// Who owns a shipment or what it is called changed: the rows must catch up with
    /// the log in this very transaction, or a catch-up after a crash would re-apply
    /// earlier scans to a shipment that no longer has that owner or name.
    must_flush: bool,
    /// Whether any carrier correction left an alias; `None`: not known yet. Almost
    /// always false, which spares every new parcel a lookup.
    aliases_exist: Option<bool>,
    /// Whether live changes are announced (domain events for the outbox). Off for a
    /// bulk load of history, which should notify nobody.
    announce: bool,
    /// Domain events of the batch in progress, for the outbox.
    changes: Vec<Change>,
}

/// The engine's world in SQLite: the cache, loading rows on a miss and writing the rows
/// the engine's changes need at once (new rows, owners, names); the rest waits for
/// [`Applier::flush`].
struct Cached<'a> {
    a: &'a mut Applier,
    rows: &'a mut dyn Rows,
    sink: Sink,
    /// The seq of what the engine logged.
    seq: Option<i64>,
}

impl Cached<'_> {
    fn take_seq(&mut self) -> Result<i64, StoreError> {
        let seq = match self.sink {
            Sink::Append => {
                let seq = match self.a.next_seq {
                    Some(s) => s,
                    None => self.rows.next_seq()?,
                };
                self.a.next_seq = Some(seq + 1);
                seq
            }
            Sink::Logged { seq } => seq,
        };
        self.seq = Some(seq);
        Ok(seq)
    }
}

impl Cached<'_> {
    /// A shipment's slot, from the cache or else from its row (and kept).
    fn slot(&mut self, key: &ParcelKey) -> Result<Option<&mut ShipmentSlot>, StoreError> {
        let rows = &mut *self.rows;
        self.a
            .shipments
            .get_or_load(key, || -> Result<_, StoreError> {
                Ok(rows.shipment(key)?.map(|row| ShipmentSlot {
                    shipment: Shipment {
                        owner: row.order,
                        log: ShipmentLog::from_entries(row.entries),
                        updated_at: row.updated_at,
                    },
                    sref: row.sref,
                    seqs: row.seqs,
                    dirty: false,
                }))
            })
    }
}

impl World for Cached<'_> {
    type Error = StoreError;

    fn order(&mut self, id: &OrderId) -> Result<Option<&mut Order>, StoreError> {
        let rows = &mut *self.rows;
        let slot = self.a.orders.get_or_load(id, || -> Result<_, StoreError> {
            Ok(rows.order(id)?.map(|row| OrderSlot {
                order: Order {
                    created_at: row.created_at,
                    // The cache only loads rows that are current.
                    status: row.status,
                    details: row.details,
                    shipments: row.shipments,
                },
                oref: row.oref,
                stored_status: row.status,
                row_stale: false,
                touched: false,
                dirty: false,
            }))
        })?;
        Ok(slot.map(|o| &mut o.order))
    }

    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<&mut Shipment>, StoreError> {
        Ok(self.slot(key)?.map(|s| &mut s.shipment))
    }

    fn renamed(&mut self, t: &Tracking) -> Result<Option<Carrier>, StoreError> {
        if self.a.aliases_exist.is_none() {
            self.a.aliases_exist = Some(self.rows.any_alias()?);
        }
        if self.a.aliases_exist == Some(false) {
            return Ok(None);
        }
        self.rows.alias(t)
    }

    fn merged_details(current: Option<&str>, patch: &str) -> Option<String> {
        crate::model::details::merged(current, patch)
    }

    fn add_order(&mut self, id: &OrderId, order: Order) -> Result<(), StoreError> {
        let oref = self.rows.insert_order(id, order.created_at)?;
        let slot = OrderSlot {
            stored_status: order.status,
            order,
            oref,
            row_stale: false,
            touched: false,
            dirty: false,
        };
        self.a.orders.insert(id.clone(), slot);
        Ok(())
    }

    fn add_shipment(&mut self, key: &ParcelKey, shipment: Shipment) -> Result<(), StoreError> {
        let owner = match &shipment.owner {
            Some(o) => Some(self.a.orders.get_mut(o).expect("owner added first").oref),
            None => None,
        };
        let sref = self.rows.insert_shipment(owner, key)?;
        let slot = ShipmentSlot {
            shipment,
            sref,
            seqs: Vec::new(),
            dirty: false,
        };
        self.a.shipments.insert(key.clone(), slot);
        Ok(())
    }

    fn claimed(&mut self, key: &ParcelKey, order: &OrderId) -> Result<(), StoreError> {
        let sref = self
            .a
            .shipments
            .get_mut(key)
            .expect("claimed when cached")
            .sref;
        let oref = self
            .a
            .orders
            .get_mut(order)
            .expect("a claim's order is cached")
            .oref;
        self.rows.set_owner(sref, oref)?;
        self.a.must_flush = true;
        Ok(())
    }

    fn rename(&mut self, from: &ParcelKey, to: &ParcelKey) -> Result<(), StoreError> {
        let mut slot = self.a.shipments.remove(from).expect("renamed when cached");
        if let (ParcelKey::Tracked(f), ParcelKey::Tracked(t)) = (from, to) {
            self.rows
                .rename(slot.sref, &t.tracking_number, &f.carrier, &t.carrier)?;
        }
        // Its old key may wait in the dirty list; flush skips keys it cannot find.
        slot.dirty = false;
        self.a.shipments.insert(to.clone(), slot);
        self.touch_shipment(to);
        self.a.aliases_exist = Some(true);
        self.a.must_flush = true;
        Ok(())
    }

    fn logged(&mut self, shipment: Option<&ParcelKey>) -> Result<(), StoreError> {
        let seq = self.take_seq()?;
        if let Some(key) = shipment {
            let slot = self.a.shipments.get_mut(key).expect("logged when cached");
            slot.seqs.push(seq);
            if !slot.dirty {
                slot.dirty = true;
                self.a.dirty_shipments.push(key.clone());
            }
        }
        Ok(())
    }

    fn touch_shipment(&mut self, key: &ParcelKey) {
        if let Some(slot) = self.a.shipments.get_mut(key)
            && !slot.dirty
        {
            slot.dirty = true;
            self.a.dirty_shipments.push(key.clone());
        }
    }

    fn touch_order(&mut self, id: &OrderId, row: bool) {
        let Some(o) = self.a.orders.get_mut(id) else {
            return;
        };
        o.row_stale |= row;
        if !o.touched {
            o.touched = true;
            self.a.touched.push(id.clone());
        }
        if !o.dirty {
            o.dirty = true;
            self.a.dirty_orders.push(id.clone());
        }
    }
}

impl Applier {
    pub fn new(cache_capacity: usize) -> Self {
        Self {
            orders: TwoGen::new(cache_capacity),
            shipments: TwoGen::new(cache_capacity),
            dirty_orders: Vec::new(),
            dirty_shipments: Vec::new(),
            touched: Vec::new(),
            next_seq: None,
            last_flush: std::time::Instant::now(),
            max_dirty: (cache_capacity / 4).max(1),
            must_flush: false,
            aliases_exist: None,
            announce: true,
            changes: Vec::new(),
        }
    }

    /// Should this batch write the projection rows? When they have waited `interval`,
    /// when too many are waiting, or when the cache must shed entries (it may only drop
    /// what the rows already hold).
    pub fn flush_due(&self, interval: std::time::Duration) -> bool {
        self.must_flush
            || !self.dirty_shipments.is_empty()
                && (self.last_flush.elapsed() >= interval
                    || self.dirty_shipments.len() >= self.max_dirty
                    || self.shipments.wants_to_age()
                    || self.orders.wants_to_age())
    }

    /// Rows wait to be written.
    pub fn has_dirty(&self) -> bool {
        !self.dirty_shipments.is_empty() || !self.dirty_orders.is_empty()
    }

    /// The orders the batch changed so far (each once).
    pub fn touched(&self) -> &[OrderId] {
        &self.touched
    }

    /// The batch's changes went to the rows: nothing to publish.
    pub fn forget_touched(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            if let Some(o) = self.orders.get_mut(&id) {
                o.touched = false;
            }
        }
    }

    /// Learns the log's end, so that [`Applier::flush`] can record the watermark after
    /// applying events that were already in the log.
    pub fn note_logged_through(&mut self, rows: &mut dyn Rows) -> Result<(), StoreError> {
        self.next_seq = Some(rows.next_seq()?);
        Ok(())
    }

    /// The current state of every order the batch changed, for the overlay.
    pub fn views(&mut self, rows: &mut dyn Rows) -> Result<Vec<PendingOrder>, StoreError> {
        let touched = std::mem::take(&mut self.touched);
        let mut views = Vec::with_capacity(touched.len());
        for id in touched {
            let Some(o) = self.orders.get_mut(&id) else {
                continue;
            };
            o.touched = false;
            let (oref, created_at, details) = (o.oref, o.order.created_at, o.order.details.clone());
            let status = o.order.derived_status();
            let parcels: Vec<ParcelKey> = o.order.shipments.iter().map(|s| s.0.clone()).collect();
            let mut world = Cached {
                a: self,
                rows: &mut *rows,
                sink: Sink::Append,
                seq: None,
            };
            // One lookup per parcel; then in row order, as readers of the rows list them.
            let mut found = Vec::with_capacity(parcels.len());
            for parcel in parcels {
                let Some(s) = world.slot(&parcel)? else {
                    continue;
                };
                let st = s.shipment.log.state();
                let carrier = match &parcel {
                    ParcelKey::Tracked(t) => Some(t.carrier.to_string()),
                    ParcelKey::OrderDefault(_) => None,
                };
                // The default shipment shows once something has happened to it.
                let record = (carrier.is_some() || st.status.is_some()).then(|| ShipmentRecord {
                    carrier: carrier.clone(),
                    tracking_number: match &parcel {
                        ParcelKey::Tracked(t) => Some(t.tracking_number.to_string()),
                        ParcelKey::OrderDefault(_) => None,
                    },
                    status: st.status,
                    status_at: st.status_at.map(Timestamp::as_micros),
                    last_event_at: st.last_event_at.map(Timestamp::as_micros),
                    last_location: st.last_location.as_deref().map(str::to_owned),
                });
                found.push((
                    s.sref,
                    s.shipment.updated_at,
                    s.seqs.clone(),
                    carrier,
                    record,
                ));
            }
            found.sort_unstable_by_key(|f| f.0);
            let mut shipments = Vec::new();
            let mut seqs = Vec::new();
            let mut carriers = Vec::new();
            let mut updated_at = created_at;
            for (_, at, s, carrier, record) in found {
                updated_at = updated_at.max(at);
                seqs.push(s);
                carriers.extend(carrier);
                shipments.extend(record);
            }
            views.push(PendingOrder {
                oref,
                record: OrderRecord {
                    order_id: id.to_string(),
                    status,
                    created_at: created_at.as_micros(),
                    updated_at: updated_at.as_micros(),
                    details,
                    shipments,
                },
                seqs,
                carriers,
            });
        }
        Ok(views)
    }

    /// Forgets everything: after a failed transaction the memory may be ahead of the
    /// database, and the database is the truth.
    pub fn reset(&mut self) {
        self.orders.clear();
        self.shipments.clear();
        self.dirty_orders.clear();
        self.dirty_shipments.clear();
        self.touched.clear();
        self.next_seq = None;
        self.must_flush = false;
        self.aliases_exist = None;
        self.changes.clear();
    }

    /// Announce live changes (the default), or not (a bulk load of history).
    pub fn set_announce(&mut self, on: bool) {
        self.announce = on;
    }

    /// The batch's domain events, in the order they happened.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Applies one event (or record) inside the transaction `rows` reads.
    pub fn apply(
        &mut self,
        rows: &mut dyn Rows,
        ev: &TrackingEvent,
        intake: Intake,
        sink: Sink,
    ) -> Result<Applied, StoreError> {
        let how = How {
            intake,
            live: matches!(sink, Sink::Append),
            announce: self.announce,
        };
        let mut changes = std::mem::take(&mut self.changes);
        let mut world = Cached {
            a: self,
            rows,
            sink,
            seq: None,
        };
        let applied = engine::apply(&mut world, ev, how, &mut changes);
        let seq = world.seq;
        self.changes = changes;
        let applied = applied?;
        if ev.kind == EventKind::Linked && applied.outcome == Outcome::Accepted {
            // The link's time lives in rows that would otherwise wait; a catch-up would
            // see the parcel already owned and skip it.
            self.must_flush = true;
        }
        let live = matches!(sink, Sink::Append);
        let (append_as, record) = match applied.logged {
            Logged::Nothing => (None, None),
            Logged::Event => (seq.filter(|_| live), None),
            Logged::Record(r) => (seq.filter(|_| live), Some(*r)),
        };
        Ok(Applied {
            outcome: applied.outcome.into(),
            append_as,
            record,
        })
    }

    /// Writes the projections of everything touched since the last flush.
    pub fn flush(&mut self, rows: &mut dyn Rows) -> Result<(), StoreError> {
        let mut shipments = Vec::with_capacity(self.dirty_shipments.len());
        for key in self.dirty_shipments.drain(..) {
            let Some(s) = self.shipments.get_mut(&key) else {
                continue;
            };
            s.dirty = false;
            let st = s.shipment.log.state();
            shipments.push(ShipmentWrite {
                sref: s.sref,
                status: st.status,
                status_at: st.status_at,
                high_water: st.high_water,
                last_event_at: st.last_event_at,
                last_location: st.last_location.as_deref().map(str::to_owned),
                updated_at: s.shipment.updated_at,
                seqs: s.seqs.clone(),
            });
        }
        let mut orders = Vec::new();
        for id in self.dirty_orders.drain(..) {
            let Some(o) = self.orders.get_mut(&id) else {
                continue;
            };
            o.dirty = false;
            let status = o.order.derived_status();
            if status == o.stored_status && !o.row_stale {
                continue;
            }
            orders.push(OrderWrite {
                oref: o.oref,
                status,
                created_at: o.order.created_at,
                details: o.order.details.clone(),
            });
            o.stored_status = status;
            o.row_stale = false;
        }
        rows.write(&shipments, &orders)?;
        self.last_flush = std::time::Instant::now();
        self.must_flush = false;
        Ok(())
    }

    /// The last seq the applier knows to be in the log (its rows are current through
    /// it once [`Applier::flush`] has run).
    pub fn logged_through(&self) -> Option<i64> {
        self.next_seq.map(|n| n - 1)
    }

    /// Called after a commit. Only when the rows hold everything (`flushed`) may the
    /// cache shed what is old.
    pub fn committed(&mut self, flushed: bool) {
        let nothing_waits = self.dirty_shipments.is_empty() && self.dirty_orders.is_empty();
        if flushed || nothing_waits {
            self.orders.maybe_age();
            self.shipments.maybe_age();
        }
    }
}

/// What a batch appends to the log: accepted events under their seqs, and the records
/// the applier made up (the link of a duplicate that claimed its parcel).
#[derive(Default)]
pub struct Appends<'e> {
    pub events: Vec<(i64, &'e TrackingEvent)>,
    pub records: Vec<(i64, TrackingEvent)>,
}

impl<'e> Appends<'e> {
    /// Everything to append, in one list.
    pub fn all(&self) -> Vec<(i64, &TrackingEvent)> {
        let mut all = self.events.clone();
        all.extend(self.records.iter().map(|(seq, r)| (*seq, r)));
        all
    }
}

impl Applier {
    /// Applies a submission's events in order; what must be appended goes to `log`.
    pub fn apply_all<'e>(
        &mut self,
        rows: &mut dyn Rows,
        events: &'e [TrackingEvent],
        intake: Intake,
        log: &mut Appends<'e>,
    ) -> Result<Vec<ItemOutcome>, StoreError> {
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            let applied = self.apply(rows, ev, intake, Sink::Append)?;
            match (applied.append_as, applied.record) {
                (Some(seq), Some(record)) => log.records.push((seq, record)),
                (Some(seq), None) => log.events.push((seq, ev)),
                _ => {}
            }
            out.push(applied.outcome);
        }
        Ok(out)
    }
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("orders", &self.orders.len())
            .field("shipments", &self.shipments.len())
            .finish()
    }
}
