//! Applying events to the database: link, deduplicate, fold, write.
//!
//! [`Applier`] keeps the writer's memory of hot orders and shipments (each shipment with
//! its folded [`ShipmentLog`]), so the hot path is: a hash lookup, an in-memory fold and
//! a seq handed out. The writer appends the accepted events afterwards, many rows per
//! statement, and [`Applier::flush`] writes each touched shipment once per batch; an
//! order row is written only when its status changes. The same code serves the live
//! writer and [`replay`], which is what makes a replayed projection equal the live one.

use waybill_core::change::{Change, ChangeKind, order_change, shipment_changes};
use waybill_core::event::Tracking;
use waybill_core::timeline::Inserted;
use waybill_core::tracker::{Rejection, Unclaimed, entry_of, resolve_order};
use waybill_core::{
    Carrier, Entry, EventKind, OrderId, OrderStatus, ParcelKey, ShipmentLog, ShipmentStatus,
    Timestamp, TrackingEvent, TrackingNumber, order_status_with_default,
};

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
    /// Its shipments: ref, status, name.
    pub shipments: Vec<(i64, Option<ShipmentStatus>, ParcelKey)>,
    pub default_ref: Option<i64>,
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

/// A domain event caused by `ev`.
fn change(
    kind: ChangeKind,
    order_id: &OrderId,
    parcel: Option<Tracking>,
    status: &'static str,
    previous: Option<&'static str>,
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
use crate::cache::TwoGen;
use crate::overlay::PendingOrder;
use crate::read::{OrderRecord, ShipmentRecord};
use crate::writer::ItemOutcome;

struct OrderSlot {
    oref: i64,
    created_at: Timestamp,
    /// The status the row holds; the row is rewritten only when the derived one differs.
    stored_status: OrderStatus,
    /// The status after the last applied event: announced when it moves.
    live_status: OrderStatus,
    /// The order's details (customer, metadata), from its first `created` event whose
    /// details are a JSON object.
    details: Option<String>,
    /// What the row needs besides a status: the first `created` event's details, or an
    /// earlier `created_at`.
    row_stale: bool,
    shipments: Vec<(i64, Option<ShipmentStatus>, ParcelKey)>,
    /// Which of `shipments` is the default one, if any.
    default_ref: Option<i64>,
    /// Changed by the batch in progress: its state is published to the overlay.
    touched: bool,
    dirty: bool,
}

impl OrderSlot {
    /// The order's status from its shipments' (docs/state-machine.md).
    fn derived_status(&self) -> OrderStatus {
        order_status_with_default(
            self.shipments
                .iter()
                .filter(|s| Some(s.0) != self.default_ref)
                .map(|s| s.1),
            self.shipments
                .iter()
                .find(|s| Some(s.0) == self.default_ref)
                .and_then(|s| s.1),
        )
    }
}

struct ShipmentSlot {
    sref: i64,
    /// `None`: no order has claimed the parcel yet.
    order: Option<OrderId>,
    log: ShipmentLog,
    /// Where this shipment's events are in the log.
    seqs: Vec<i64>,
    /// The latest receipt time of its events: the order's `updated_at` is their maximum.
    updated_at: Timestamp,
    dirty: bool,
}

/// Where a submission comes from, which decides what happens to a scan for a parcel no
/// order has claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// `/v1/events`: such a scan needs an `order_id`.
    Canonical,
    /// `POST /v1/orders`: the order must not exist yet (with its details).
    NewOrder,
    /// Provider pushes, and the log itself (replay, catch-up): kept unlinked.
    Provider,
}

impl Intake {
    fn unclaimed(self) -> Unclaimed {
        match self {
            Self::Canonical | Self::NewOrder => Unclaimed::Refuse,
            Self::Provider => Unclaimed::Keep,
        }
    }
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
    /// What to append under `append_as` instead of the event itself: the link record
    /// of a duplicate that claimed its parcel (the event is already in the log, the
    /// claim is not).
    pub record: Option<TrackingEvent>,
}

impl Applied {
    fn only(outcome: ItemOutcome) -> Self {
        Self {
            outcome,
            record: None,
            append_as: None,
        }
    }
}

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
    /// A carrier correction renamed a shipment row: the rows must catch up with the log
    /// in this very transaction, or a catch-up after a crash would re-apply the old
    /// carrier's scans to a shipment that no longer has that name.
    must_flush: bool,
    /// Whether any carrier correction left an alias; `None`: not known yet. Almost
    /// always false, which spares every new parcel a lookup.
    aliases_exist: Option<bool>,
    /// Whether live changes are announced (domain events for the outbox). Off for a
    /// bulk load of history, which should notify nobody.
    announce: bool,
    /// Domain events of the batch in progress, for the outbox.
    changes: Vec<Change>,
    /// Other writers append to the same log (PostgreSQL): every seq comes from
    /// [`Rows::next_seq`], none is counted here.
    shared_log: bool,
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
            shared_log: false,
        }
    }

    /// An applier for one transaction of a log that other writers append to.
    pub fn for_shared_log(capacity: usize) -> Self {
        Self {
            shared_log: true,
            ..Self::new(capacity)
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
            let (oref, created_at, details) = (o.oref, o.created_at, o.details.clone());
            let parcels = o.shipments.clone();
            let mut shipments = Vec::new();
            let mut seqs = Vec::new();
            let mut carriers = Vec::new();
            let mut updated_at = created_at;
            let (mut tracked, mut default) = (Vec::new(), None);
            for (_, _, parcel) in parcels {
                let Some(s) = self.shipment(rows, &parcel)? else {
                    continue;
                };
                let st = s.log.state();
                updated_at = updated_at.max(s.updated_at);
                seqs.push(s.seqs.clone());
                let (carrier, number) = match &parcel {
                    ParcelKey::Tracked(t) => {
                        carriers.push(t.carrier.to_string());
                        tracked.push(st.status);
                        (
                            Some(t.carrier.to_string()),
                            Some(t.tracking_number.to_string()),
                        )
                    }
                    ParcelKey::OrderDefault(_) => {
                        default = st.status;
                        (None, None)
                    }
                };
                // The default shipment shows once something has happened to it.
                if carrier.is_some() || st.status.is_some() {
                    shipments.push(ShipmentRecord {
                        carrier,
                        tracking_number: number,
                        status: st.status.map(|x| x.as_str().to_owned()),
                        status_at: st.status_at.map(Timestamp::as_micros),
                        last_event_at: st.last_event_at.map(Timestamp::as_micros),
                        last_location: st.last_location.as_deref().map(str::to_owned),
                    });
                }
            }
            views.push(PendingOrder {
                oref,
                record: OrderRecord {
                    order_id: id.to_string(),
                    status: order_status_with_default(tracked, default)
                        .as_str()
                        .to_owned(),
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

    /// Re-derives an order's status after a change to its shipments; announces the
    /// move when `emit`. The live status is kept current either way.
    fn note_order_status(&mut self, order_id: &OrderId, ev: &TrackingEvent, emit: bool) {
        let Some(o) = self.orders.get_mut(order_id) else {
            return;
        };
        let now = o.derived_status();
        let before = std::mem::replace(&mut o.live_status, now);
        if emit
            && let Some(c) = order_change(before, now, |kind, status, previous| {
                change(kind, order_id, None, status, previous, ev)
            })
        {
            self.changes.push(c);
        }
    }

    /// Applies one event (or link record) inside `tx`.
    pub fn apply(
        &mut self,
        rows: &mut dyn Rows,
        ev: &TrackingEvent,
        intake: Intake,
        sink: Sink,
    ) -> Result<Applied, StoreError> {
        let outcome = match ev.kind {
            EventKind::Linked => self.link(rows, ev, intake, sink)?,
            EventKind::CarrierChanged => self.change_carrier(rows, ev)?,
            EventKind::DetailsSet => self.set_details(rows, ev)?,
            _ => return self.scan(rows, ev, intake, sink),
        };
        if outcome != ItemOutcome::Accepted {
            return Ok(Applied::only(outcome));
        }
        let seq = self.take_seq(rows, sink)?;
        Ok(Applied {
            outcome,
            append_as: matches!(sink, Sink::Append).then_some(seq),
            record: None,
        })
    }

    /// An admin's customer and metadata replace the order's (see [`crate::details`]);
    /// a record that changes nothing is a duplicate.
    fn set_details(
        &mut self,
        rows: &mut dyn Rows,
        ev: &TrackingEvent,
    ) -> Result<ItemOutcome, StoreError> {
        let Some(order_id) = &ev.order_id else {
            return Ok(ItemOutcome::Rejected(Rejection::OrderRequired(
                String::new(),
            )));
        };
        let Some(order) = self.order(rows, order_id)? else {
            return Ok(ItemOutcome::Rejected(Rejection::UnknownOrder(
                order_id.clone(),
            )));
        };
        let Some(details) = crate::details::merged(
            order.details.as_deref(),
            ev.details.as_deref().unwrap_or(""),
        ) else {
            return Ok(ItemOutcome::Duplicate);
        };
        order.details = Some(details);
        order.row_stale = true;
        self.touch(order_id.clone());
        Ok(ItemOutcome::Accepted)
    }

    fn take_seq(&mut self, rows: &mut dyn Rows, sink: Sink) -> Result<i64, StoreError> {
        Ok(match sink {
            Sink::Append => {
                // Only the log's one writer may count seqs itself.
                let seq = match self.next_seq {
                    Some(s) if !self.shared_log => s,
                    _ => rows.next_seq()?,
                };
                self.next_seq = Some(seq + 1);
                seq
            }
            Sink::Logged { seq } => seq,
        })
    }

    fn scan(
        &mut self,
        rows: &mut dyn Rows,
        ev: &TrackingEvent,
        intake: Intake,
        sink: Sink,
    ) -> Result<Applied, StoreError> {
        let tracked = match &ev.tracking {
            Some(t) => Some(self.current_name(rows, t)?),
            None => None,
        };
        // Cached by `current_name` when it exists: no second trip to the database.
        let (exists, owner) = match &tracked {
            Some(key) => match self.shipment(rows, key)? {
                Some(s) => (true, s.order.clone()),
                None => (false, None),
            },
            None => (false, None),
        };
        let order_id = match resolve_order(ev, owner.as_ref(), intake.unclaimed()) {
            Ok(id) => id,
            Err(r) => return Ok(Applied::only(ItemOutcome::Rejected(r))),
        };
        // Whether this event makes an order claim an unlinked parcel.
        let mut claims = false;
        let emit = self.announce && matches!(sink, Sink::Append);
        let parcel = match &order_id {
            Some(order_id) => {
                let oref = match self.order(rows, order_id)? {
                    // An order that an event created first may still be given its
                    // customer and metadata, once.
                    Some(o) if intake == Intake::NewOrder && o.details.is_some() => {
                        return Ok(Applied::only(ItemOutcome::OrderExists));
                    }
                    Some(o) => o.oref,
                    None => {
                        let oref = self.create_order(rows, order_id, ev.received_at)?;
                        if emit {
                            self.changes.push(change(
                                ChangeKind::OrderCreated,
                                order_id,
                                None,
                                OrderStatus::Created.as_str(),
                                None,
                                ev,
                            ));
                        }
                        oref
                    }
                };
                let parcel = tracked.unwrap_or_else(|| ParcelKey::OrderDefault(order_id.clone()));
                // A tracked parcel was looked up above.
                let exists = match &parcel {
                    ParcelKey::Tracked(_) => exists,
                    ParcelKey::OrderDefault(_) => self.shipment(rows, &parcel)?.is_some(),
                };
                if !exists {
                    self.create_shipment(rows, &parcel, Some((oref, order_id)))?;
                } else if owner.is_none() && matches!(parcel, ParcelKey::Tracked(_)) {
                    // A default shipment always has its order; a tracked one may not yet.
                    self.attach(rows, &parcel, oref, order_id)?;
                    claims = true;
                }
                parcel
            }
            None => {
                let parcel = tracked.expect("only a tracked parcel stays unlinked");
                if !exists {
                    self.create_shipment(rows, &parcel, None)?;
                }
                parcel
            }
        };

        let slot = self
            .shipments
            .get_mut(&parcel)
            .expect("loaded or created above");
        let before = slot.log.state().status;
        if slot.log.insert(entry_of(ev)) == Inserted::Duplicate {
            // A re-sent scan that names the order of a parcel pushed without one still
            // claims it; the log must say so, or a replay would not.
            let (Some(order_id), Some(t), true, Sink::Append) =
                (order_id, &ev.tracking, claims, sink)
            else {
                return Ok(Applied::only(ItemOutcome::Duplicate));
            };
            self.note_order_status(&order_id, ev, emit);
            let seq = self.take_seq(rows, sink)?;
            return Ok(Applied {
                outcome: ItemOutcome::Duplicate,
                append_as: Some(seq),
                record: Some(TrackingEvent::link(order_id, t.clone(), ev.received_at)),
            });
        }
        let seq = self.take_seq(rows, sink)?;
        let slot = self.shipments.get_mut(&parcel).expect("still cached");
        slot.seqs.push(seq);
        slot.updated_at = slot.updated_at.max(ev.received_at);
        let (sref, status) = (slot.sref, slot.log.state().status);
        let parcel_key = parcel.clone();
        if !slot.dirty {
            slot.dirty = true;
            self.dirty_shipments.push(parcel);
        }

        if let Some(order_id) = order_id {
            let order = self
                .orders
                .get_mut(&order_id)
                .expect("loaded or created above");
            if ev.received_at < order.created_at {
                order.created_at = ev.received_at;
                order.row_stale = true;
            }
            if let Some(s) = order.shipments.iter_mut().find(|(r, _, _)| *r == sref) {
                s.1 = status;
            }
            let object = ev
                .details
                .as_deref()
                .is_some_and(|d| d.trim_start().starts_with('{'));
            if ev.kind == EventKind::OrderCreated && order.details.is_none() && object {
                order.row_stale = true;
                order.details.clone_from(&ev.details);
            }
            if emit {
                let tracking = match &parcel_key {
                    ParcelKey::Tracked(t) => Some(t.clone()),
                    ParcelKey::OrderDefault(_) => None,
                };
                let moved = shipment_changes(before, status, |kind, now, previous| {
                    change(kind, &order_id, tracking.clone(), now, previous, ev)
                });
                self.changes.extend(moved);
            }
            self.note_order_status(&order_id, ev, emit);
            self.touch(order_id);
        }
        Ok(Applied {
            outcome: ItemOutcome::Accepted,
            append_as: matches!(sink, Sink::Append).then_some(seq),
            record: None,
        })
    }

    /// Marks an order as changed by this batch: published, and its row rewritten.
    fn touch(&mut self, order_id: OrderId) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        if !order.touched {
            order.touched = true;
            self.touched.push(order_id.clone());
        }
        if !order.dirty {
            order.dirty = true;
            self.dirty_orders.push(order_id);
        }
    }

    /// Marks a shipment whose row must be rewritten.
    fn mark_dirty(&mut self, parcel: &ParcelKey) {
        if let Some(slot) = self.shipments.get_mut(parcel)
            && !slot.dirty
        {
            slot.dirty = true;
            self.dirty_shipments.push(parcel.clone());
        }
    }

    /// An unlinked shipment joins an order, with everything it has gathered.
    fn attach(
        &mut self,
        rows: &mut dyn Rows,
        parcel: &ParcelKey,
        oref: i64,
        order_id: &OrderId,
    ) -> Result<(), StoreError> {
        let slot = self
            .shipments
            .get_mut(parcel)
            .expect("attach a cached shipment");
        slot.order = Some(order_id.clone());
        let (sref, status) = (slot.sref, slot.log.state().status);
        rows.set_owner(sref, oref)?;
        // Who owns the earlier scans changed: the rows catch up in this transaction, or a
        // catch-up after a crash would re-apply those scans to the new owner.
        self.must_flush = true;
        if let Some(o) = self.orders.get_mut(order_id) {
            // In row order, as readers of the rows list them.
            let at = o.shipments.partition_point(|s| s.0 < sref);
            o.shipments.insert(at, (sref, status, parcel.clone()));
        }
        self.touch(order_id.clone());
        Ok(())
    }

    /// `POST /v1/orders/{id}/shipments`: the parcel joins the order, now or before any
    /// event names it.
    /// From the log (`Intake::Provider`), a link to an order that does not exist yet
    /// creates it: that is a re-sent scan's claim, which created the order live.
    fn link(
        &mut self,
        rows: &mut dyn Rows,
        ev: &TrackingEvent,
        intake: Intake,
        sink: Sink,
    ) -> Result<ItemOutcome, StoreError> {
        let (Some(order_id), Some(t)) = (&ev.order_id, &ev.tracking) else {
            return Ok(ItemOutcome::Rejected(Rejection::OrderRequired(
                String::new(),
            )));
        };
        let oref = match self.order(rows, order_id)?.map(|o| o.oref) {
            Some(oref) => oref,
            None if intake == Intake::Provider => {
                self.create_order(rows, order_id, ev.received_at)?
            }
            None => {
                return Ok(ItemOutcome::Rejected(Rejection::UnknownOrder(
                    order_id.clone(),
                )));
            }
        };
        let parcel = self.current_name(rows, t)?;
        match self.shipment(rows, &parcel)?.map(|s| s.order.clone()) {
            Some(Some(owner)) if owner == *order_id => return Ok(ItemOutcome::Duplicate),
            Some(Some(owner)) => {
                return Ok(ItemOutcome::Rejected(Rejection::ParcelOfAnotherOrder {
                    tracking_number: t.tracking_number.to_string(),
                    owner,
                    named: order_id.clone(),
                }));
            }
            Some(None) => self.attach(rows, &parcel, oref, order_id)?,
            None => self.create_shipment(rows, &parcel, Some((oref, order_id)))?,
        }
        let slot = self.shipments.get_mut(&parcel).expect("linked above");
        slot.updated_at = slot.updated_at.max(ev.received_at);
        self.mark_dirty(&parcel);
        self.note_order_status(order_id, ev, self.announce && matches!(sink, Sink::Append));
        self.touch(order_id.clone());
        // The link's time lives in rows that would otherwise wait; a catch-up would see
        // the parcel already owned and skip it.
        self.must_flush = true;
        Ok(ItemOutcome::Accepted)
    }

    /// A provider corrected the parcel's carrier: the shipment takes the new name and
    /// keeps its events and its order.
    fn change_carrier(
        &mut self,
        rows: &mut dyn Rows,
        ev: &TrackingEvent,
    ) -> Result<ItemOutcome, StoreError> {
        let (Some(to), Some(from)) = (&ev.tracking, ev.previous_carrier()) else {
            return Ok(ItemOutcome::Duplicate);
        };
        let old = ParcelKey::Tracked(Tracking {
            carrier: from.clone(),
            tracking_number: to.tracking_number.clone(),
        });
        let new = ParcelKey::Tracked(to.clone());
        if old == new || self.shipment(rows, &old)?.is_none() {
            return Ok(ItemOutcome::Duplicate);
        }
        if self.shipment(rows, &new)?.is_some() {
            return Ok(ItemOutcome::Rejected(Rejection::CarrierConflict {
                tracking_number: to.tracking_number.to_string(),
                from: from.to_string(),
                to: to.carrier.to_string(),
            }));
        }
        let mut slot = self.shipments.remove(&old).expect("loaded above");
        rows.rename(slot.sref, &to.tracking_number, &from, &to.carrier)?;
        let (sref, owner) = (slot.sref, slot.order.clone());
        // Its old key may wait in the dirty list; flush skips keys it cannot find.
        slot.dirty = false;
        self.shipments.insert(new.clone(), slot);
        self.mark_dirty(&new);
        if let Some(owner) = owner {
            if let Some(o) = self.orders.get_mut(&owner)
                && let Some(s) = o.shipments.iter_mut().find(|s| s.0 == sref)
            {
                s.2 = new;
            }
            self.touch(owner);
        }
        self.aliases_exist = Some(true);
        self.must_flush = true;
        Ok(ItemOutcome::Accepted)
    }

    /// The parcel's current name: its own, unless a carrier correction retired it (a
    /// late push under the old name still reaches the parcel). Costs a lookup only for
    /// a parcel not seen before.
    fn current_name(&mut self, rows: &mut dyn Rows, t: &Tracking) -> Result<ParcelKey, StoreError> {
        let key = ParcelKey::Tracked(t.clone());
        if self.shipment(rows, &key)?.is_some() {
            return Ok(key);
        }
        if self.aliases_exist == Some(false) {
            return Ok(key);
        }
        if self.aliases_exist.is_none() {
            let any = rows.any_alias()?;
            self.aliases_exist = Some(any);
            if !any {
                return Ok(key);
            }
        }
        let renamed = rows.alias(t)?;
        Ok(match renamed {
            Some(carrier) => ParcelKey::Tracked(Tracking {
                carrier,
                tracking_number: t.tracking_number.clone(),
            }),
            None => key,
        })
    }

    fn create_order(
        &mut self,
        rows: &mut dyn Rows,
        order_id: &OrderId,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let oref = rows.insert_order(order_id, at)?;
        self.orders.insert(
            order_id.clone(),
            OrderSlot {
                oref,
                created_at: at,
                stored_status: OrderStatus::Created,
                live_status: OrderStatus::Created,
                row_stale: false,
                details: None,
                touched: false,
                shipments: Vec::new(),
                default_ref: None,
                dirty: false,
            },
        );
        Ok(oref)
    }

    fn create_shipment(
        &mut self,
        rows: &mut dyn Rows,
        parcel: &ParcelKey,
        owner: Option<(i64, &OrderId)>,
    ) -> Result<(), StoreError> {
        let sref = rows.insert_shipment(owner.map(|o| o.0), parcel)?;
        self.shipments.insert(
            parcel.clone(),
            ShipmentSlot {
                sref,
                order: owner.map(|o| o.1.clone()),
                log: ShipmentLog::default(),
                seqs: Vec::new(),
                updated_at: Timestamp::default(),
                dirty: false,
            },
        );
        if let Some((_, order_id)) = owner
            && let Some(o) = self.orders.get_mut(order_id)
        {
            o.shipments.push((sref, None, parcel.clone()));
            if matches!(parcel, ParcelKey::OrderDefault(_)) {
                o.default_ref = Some(sref);
            }
        }
        Ok(())
    }

    /// Writes the projections of everything touched since the last flush.
    pub fn flush(&mut self, rows: &mut dyn Rows) -> Result<(), StoreError> {
        let mut shipments = Vec::with_capacity(self.dirty_shipments.len());
        for key in self.dirty_shipments.drain(..) {
            let Some(s) = self.shipments.get_mut(&key) else {
                continue;
            };
            s.dirty = false;
            let st = s.log.state();
            shipments.push(ShipmentWrite {
                sref: s.sref,
                status: st.status,
                status_at: st.status_at,
                high_water: st.high_water,
                last_event_at: st.last_event_at,
                last_location: st.last_location.as_deref().map(str::to_owned),
                updated_at: s.updated_at,
                seqs: s.seqs.clone(),
            });
        }
        let mut orders = Vec::new();
        for id in self.dirty_orders.drain(..) {
            let Some(o) = self.orders.get_mut(&id) else {
                continue;
            };
            o.dirty = false;
            let status = o.derived_status();
            if status == o.stored_status && !o.row_stale {
                continue;
            }
            orders.push(OrderWrite {
                oref: o.oref,
                status,
                created_at: o.created_at,
                details: o.details.clone(),
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

    fn order(
        &mut self,
        rows: &mut dyn Rows,
        id: &OrderId,
    ) -> Result<Option<&mut OrderSlot>, StoreError> {
        if self.orders.get_mut(id).is_none() {
            let Some(row) = rows.order(id)? else {
                return Ok(None);
            };
            let slot = OrderSlot {
                oref: row.oref,
                created_at: row.created_at,
                stored_status: row.status,
                // The cache only loads rows that are current.
                live_status: row.status,
                details: row.details,
                row_stale: false,
                shipments: row.shipments,
                default_ref: row.default_ref,
                touched: false,
                dirty: false,
            };
            self.orders.insert(id.clone(), slot);
        }
        Ok(self.orders.get_mut(id))
    }

    fn shipment(
        &mut self,
        rows: &mut dyn Rows,
        key: &ParcelKey,
    ) -> Result<Option<&mut ShipmentSlot>, StoreError> {
        if self.shipments.get_mut(key).is_none() {
            let Some(row) = rows.shipment(key)? else {
                return Ok(None);
            };
            let slot = ShipmentSlot {
                sref: row.sref,
                order: row.order,
                log: ShipmentLog::from_entries(row.entries),
                seqs: row.seqs,
                updated_at: row.updated_at,
                dirty: false,
            };
            self.shipments.insert(key.clone(), slot);
        }
        Ok(self.shipments.get_mut(key))
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
