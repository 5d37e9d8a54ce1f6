//! The applier's rows in PostgreSQL: [`Rows`] over one transaction of a batch.
//!
//! The applier is synchronous, so this runs on a blocking thread and waits for each
//! statement on the runtime's handle. Every row it reads for writing is locked
//! (`FOR UPDATE`) until the batch commits: two workers that touch one order take turns,
//! and the second reads what the first committed, so no update is lost. An order is
//! locked before any change to its shipments' statuses reaches its row, which is what
//! makes its status, derived from all its shipments, safe to rewrite.

use deadpool_postgres::Transaction;
use std::collections::HashMap;

use tokio::runtime::Handle;
use waybill_core::event::Tracking;
use waybill_core::{
    Carrier, Entry, EventKind, OrderId, OrderStatus, ParcelKey, ShipmentStatus, Timestamp,
    TrackingEvent, TrackingNumber, event_key,
};

use crate::StoreError;
use crate::apply::{OrderRow, OrderWrite, Rows, ShipmentRow, ShipmentWrite};
use crate::log::{decode_seqs, encode_seqs};
use crate::rows::parcel_of;

pub struct PgRows<'a, 't> {
    pub tx: &'a Transaction<'t>,
    pub rt: Handle,
    /// Provisional seqs handed out so far: -1, -2, … in the order events were applied.
    provisional: i64,
    /// The real seqs, once taken (see [`PgRows::settle`]).
    real: Vec<i64>,
    /// Rows [`PgRows::prefetch`] read (and locked) ahead, handed out once; `None`: known
    /// not to exist.
    orders: HashMap<OrderId, Option<OrderRow>>,
    shipments: HashMap<ParcelKey, Option<ShipmentRow>>,
}

impl<'a, 't> PgRows<'a, 't> {
    pub fn new(tx: &'a Transaction<'t>, rt: Handle) -> Self {
        Self {
            tx,
            rt,
            provisional: 0,
            real: Vec::new(),
            orders: HashMap::new(),
            shipments: HashMap::new(),
        }
    }

    /// Reads and locks, in four statements, every row the batch's events name: their
    /// parcels, their orders and the owners of those parcels, all those orders'
    /// shipments, and the events of every one of them. The applier then finds them here
    /// instead of asking row by row; what it needs beyond them (rare) it still asks for.
    pub fn prefetch(&mut self, events: &[TrackingEvent]) -> Result<(), StoreError> {
        let mut carriers = Vec::new();
        let mut numbers = Vec::new();
        let mut named: Vec<&str> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for ev in events {
            if let Some(t) = &ev.tracking
                && seen.insert((t.carrier.as_str(), t.tracking_number.as_str()))
            {
                carriers.push(t.carrier.as_str());
                numbers.push(t.tracking_number.as_str());
            }
            if let Some(o) = &ev.order_id {
                named.push(o.as_str());
            }
        }
        named.sort_unstable();
        named.dedup();
        let parcels = self.query(
            "SELECT s.ref, s.order_ref FROM shipments s
             JOIN UNNEST($1::text[], $2::text[]) AS k(c, n)
               ON s.carrier = k.c AND s.tracking_number = k.n
             ORDER BY s.ref FOR UPDATE OF s",
            &[&carriers, &numbers],
        )?;
        let owners: Vec<i64> = parcels.iter().filter_map(|r| r.get(1)).collect();
        let unlinked: Vec<i64> = parcels
            .iter()
            .filter(|r| r.get::<_, Option<i64>>(1).is_none())
            .map(|r| r.get(0))
            .collect();
        let orders = self.query(
            "SELECT ref, order_id, created_at, status, details FROM orders
             WHERE order_id = ANY($1) OR ref = ANY($2) ORDER BY ref FOR UPDATE",
            &[&named, &owners],
        )?;
        let orefs: Vec<i64> = orders.iter().map(|r| r.get(0)).collect();
        // Not locked again: the parcels the batch names are locked above, and an order's
        // other shipments change only under their order's lock, which this batch holds.
        // (Locking them too would lock parcels after orders, the other way round from
        // the first statement: two batches could then wait on each other.)
        let ships = self.query(
            "SELECT ref, order_ref, status, carrier, tracking_number, event_seqs, updated_at
             FROM shipments WHERE order_ref = ANY($1) OR ref = ANY($2)
             ORDER BY ref",
            &[&orefs, &unlinked],
        )?;
        let mut seqs_of: Vec<Vec<i64>> = Vec::with_capacity(ships.len());
        let mut all_seqs = Vec::new();
        for r in &ships {
            let seqs = decode_seqs(&r.get::<_, Option<Vec<u8>>>(5).unwrap_or_default());
            all_seqs.extend_from_slice(&seqs);
            seqs_of.push(seqs);
        }
        let mut entries: HashMap<i64, Entry> = HashMap::with_capacity(all_seqs.len());
        for r in self.query(
            "SELECT seq, event_id, kind, occurred_at, location FROM events WHERE seq = ANY($1)",
            &[&all_seqs],
        )? {
            entries.insert(r.get(0), entry_of(&r, 1));
        }
        // Orders, keyed by ref for the shipments, with their parcels in row order.
        let mut by_ref: HashMap<i64, OrderRow> = HashMap::with_capacity(orders.len());
        let mut ids: HashMap<i64, OrderId> = HashMap::with_capacity(orders.len());
        for r in &orders {
            let oref: i64 = r.get(0);
            let id = OrderId::parse(r.get(1)).map_err(unreadable)?;
            let status: &str = r.get(3);
            by_ref.insert(
                oref,
                OrderRow {
                    oref,
                    created_at: Timestamp(r.get(2)),
                    status: OrderStatus::parse(status).unwrap_or(OrderStatus::Created),
                    details: r.get(4),
                    shipments: Vec::new(),
                    default_ref: None,
                },
            );
            ids.insert(oref, id);
        }
        for (r, seqs) in ships.iter().zip(seqs_of) {
            let sref: i64 = r.get(0);
            let owner: Option<i64> = r.get(1);
            let status: Option<&str> = r.get(2);
            let order = owner.and_then(|o| ids.get(&o)).cloned();
            let key = match (parcel_of(r.get(3), r.get(4))?, &order) {
                (Some(t), _) => ParcelKey::Tracked(t),
                (None, Some(id)) => ParcelKey::OrderDefault(id.clone()),
                (None, None) => continue,
            };
            if let (Some(o), Some(id)) = (owner.and_then(|o| by_ref.get_mut(&o)), &order) {
                o.add_shipment(id, sref, status, r.get(3), r.get(4))?;
            }
            let mut row_entries = Vec::with_capacity(seqs.len());
            for seq in &seqs {
                row_entries.push(entries.get(seq).cloned().ok_or_else(|| {
                    StoreError::BatchFailed(format!("event seq {seq} is missing"))
                })?);
            }
            self.shipments.insert(
                key,
                Some(ShipmentRow {
                    sref,
                    order,
                    entries: row_entries,
                    seqs,
                    updated_at: Timestamp(r.get::<_, Option<i64>>(6).unwrap_or_default()),
                }),
            );
        }
        // What the batch names and the database does not have.
        for (c, n) in carriers.iter().zip(&numbers) {
            if let Some(t) = parcel_of(Some(c), Some(n))? {
                self.shipments.entry(ParcelKey::Tracked(t)).or_insert(None);
            }
        }
        for (oref, row) in by_ref {
            if let Some(id) = ids.remove(&oref) {
                self.shipments
                    .entry(ParcelKey::OrderDefault(id.clone()))
                    .or_insert(None);
                self.orders.insert(id, Some(row));
            }
        }
        for id in named {
            if let Ok(id) = OrderId::parse(id) {
                self.orders.entry(id.clone()).or_insert(None);
                self.shipments
                    .entry(ParcelKey::OrderDefault(id))
                    .or_insert(None);
            }
        }
        Ok(())
    }

    /// Takes the real seqs for every provisional one, once every row the batch needs is
    /// locked. A writer that touched one of those rows before us has committed by now,
    /// and took its seqs before its commit: ours come after, so the log's seq order is
    /// the order in which each shipment's events were applied (which replay relies on).
    pub fn settle(&mut self) -> Result<(), StoreError> {
        if self.provisional == 0 {
            return Ok(());
        }
        let rows = self.query(
            "SELECT nextval('event_seq') FROM generate_series(1, $1::bigint)",
            &[&self.provisional],
        )?;
        let mut real: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        real.sort_unstable();
        self.real = real;
        Ok(())
    }

    /// The real seq of a provisional one (others are real already).
    pub fn real(&self, seq: i64) -> i64 {
        if seq < 0 {
            self.real[(-seq - 1) as usize]
        } else {
            seq
        }
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.rt.block_on(async {
            let stmt = self.tx.prepare_cached(sql).await?;
            Ok(self.tx.query(&stmt, params).await?)
        })
    }

    fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.rt.block_on(async {
            let stmt = self.tx.prepare_cached(sql).await?;
            Ok(self.tx.execute(&stmt, params).await?)
        })
    }

    fn one(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

fn opt_ts(v: Option<Timestamp>) -> Option<i64> {
    v.map(Timestamp::as_micros)
}

/// An entry from an event row's `event_id, kind, occurred_at, location`, from `at`.
fn entry_of(r: &tokio_postgres::Row, at: usize) -> Entry {
    let id: &str = r.get(at);
    let kind: &str = r.get(at + 1);
    Entry {
        occurred_at: Timestamp(r.get(at + 2)),
        kind: EventKind::parse(kind).unwrap_or(EventKind::Unmapped),
        key: event_key(id),
        location: r.get::<_, Option<String>>(at + 3).map(Into::into),
    }
}

fn unreadable(e: impl std::fmt::Display) -> StoreError {
    StoreError::BatchFailed(e.to_string())
}

impl Rows for PgRows<'_, '_> {
    fn order(&mut self, id: &OrderId) -> Result<Option<OrderRow>, StoreError> {
        if let Some(known) = self.orders.remove(id) {
            return Ok(known);
        }
        let Some(row) = self.one(
            "SELECT ref, created_at, status, details FROM orders WHERE order_id = $1 FOR UPDATE",
            &[&id.as_str()],
        )?
        else {
            return Ok(None);
        };
        let oref: i64 = row.get(0);
        let status: String = row.get(2);
        let mut order = OrderRow {
            oref,
            created_at: Timestamp(row.get(1)),
            status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Created),
            details: row.get(3),
            shipments: Vec::new(),
            default_ref: None,
        };
        for r in self.query(
            "SELECT ref, status, carrier, tracking_number FROM shipments WHERE order_ref = $1
             ORDER BY ref",
            &[&oref],
        )? {
            order.add_shipment(id, r.get(0), r.get(1), r.get(2), r.get(3))?;
        }
        Ok(Some(order))
    }

    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<ShipmentRow>, StoreError> {
        if let Some(known) = self.shipments.remove(key) {
            return Ok(known);
        }
        let row = match key {
            ParcelKey::Tracked(t) => self.one(
                "SELECT ref, order_ref, event_seqs, updated_at FROM shipments
                 WHERE carrier = $1 AND tracking_number = $2 FOR UPDATE",
                &[&t.carrier.as_str(), &t.tracking_number.as_str()],
            )?,
            ParcelKey::OrderDefault(order) => self.one(
                "SELECT ref, order_ref, event_seqs, updated_at FROM shipments
                 WHERE order_ref = (SELECT ref FROM orders WHERE order_id = $1)
                   AND tracking_number IS NULL FOR UPDATE",
                &[&order.as_str()],
            )?,
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let sref: i64 = row.get(0);
        let order_ref: Option<i64> = row.get(1);
        let blob: Option<Vec<u8>> = row.get(2);
        let updated_at: Option<i64> = row.get(3);
        // Read after the lock: the owner is the one the locked row names now.
        let order = match order_ref {
            Some(oref) => {
                let r = self.one("SELECT order_id FROM orders WHERE ref = $1", &[&oref])?;
                r.map(|r| OrderId::parse(r.get(0)))
                    .transpose()
                    .map_err(unreadable)?
            }
            None => None,
        };
        let seqs = decode_seqs(&blob.unwrap_or_default());
        let entries = self
            .query(
                "SELECT event_id, kind, occurred_at, location FROM events WHERE seq = ANY($1)",
                &[&seqs],
            )?
            .iter()
            .map(|r| entry_of(r, 0))
            .collect();
        Ok(Some(ShipmentRow {
            sref,
            order,
            entries,
            seqs,
            updated_at: Timestamp(updated_at.unwrap_or_default()),
        }))
    }

    fn insert_order(&mut self, id: &OrderId, at: Timestamp) -> Result<i64, StoreError> {
        // Another writer inserting the same order makes this wait, then fail with a
        // unique violation: the batch is retried and finds the row.
        let row = self.one(
            "INSERT INTO orders (order_id, status, created_at) VALUES ($1, 'created', $2)
             RETURNING ref",
            &[&id.as_str(), &at.as_micros()],
        )?;
        row.map(|r| r.get(0))
            .ok_or_else(|| StoreError::BatchFailed("insert returned no row".into()))
    }

    fn insert_shipment(
        &mut self,
        owner: Option<i64>,
        parcel: &ParcelKey,
    ) -> Result<i64, StoreError> {
        let (carrier, number) = match parcel {
            ParcelKey::Tracked(t) => (Some(t.carrier.as_str()), Some(t.tracking_number.as_str())),
            ParcelKey::OrderDefault(_) => (None, None),
        };
        let row = self.one(
            "INSERT INTO shipments (order_ref, carrier, tracking_number) VALUES ($1, $2, $3)
             RETURNING ref",
            &[&owner, &carrier, &number],
        )?;
        row.map(|r| r.get(0))
            .ok_or_else(|| StoreError::BatchFailed("insert returned no row".into()))
    }

    fn set_owner(&mut self, sref: i64, oref: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE shipments SET order_ref = $1 WHERE ref = $2",
            &[&oref, &sref],
        )?;
        Ok(())
    }

    fn rename(
        &mut self,
        sref: i64,
        number: &TrackingNumber,
        from: &Carrier,
        to: &Carrier,
    ) -> Result<(), StoreError> {
        let (number, from, to) = (number.as_str(), from.as_str(), to.as_str());
        self.execute(
            "UPDATE shipments SET carrier = $1 WHERE ref = $2",
            &[&to, &sref],
        )?;
        self.execute(
            "UPDATE carrier_aliases SET now_carrier = $3
             WHERE tracking_number = $1 AND now_carrier = $2",
            &[&number, &from, &to],
        )?;
        self.execute(
            "DELETE FROM carrier_aliases WHERE carrier = $1 AND tracking_number = $2",
            &[&to, &number],
        )?;
        self.execute(
            "INSERT INTO carrier_aliases (carrier, tracking_number, now_carrier)
             VALUES ($1, $2, $3)
             ON CONFLICT (carrier, tracking_number) DO UPDATE SET now_carrier = $3",
            &[&from, &number, &to],
        )?;
        Ok(())
    }

    fn any_alias(&mut self) -> Result<bool, StoreError> {
        Ok(self
            .one("SELECT EXISTS (SELECT 1 FROM carrier_aliases)", &[])?
            .is_some_and(|r| r.get(0)))
    }

    fn alias(&mut self, t: &Tracking) -> Result<Option<Carrier>, StoreError> {
        let row = self.one(
            "SELECT now_carrier FROM carrier_aliases WHERE carrier = $1 AND tracking_number = $2",
            &[&t.carrier.as_str(), &t.tracking_number.as_str()],
        )?;
        Ok(row.and_then(|r| Carrier::parse(r.get(0)).ok()))
    }

    /// Provisional until [`PgRows::settle`]: a seq taken now could be smaller than one
    /// a writer still waiting to commit took before us.
    fn next_seq(&mut self) -> Result<i64, StoreError> {
        self.provisional += 1;
        Ok(-self.provisional)
    }

    fn write(
        &mut self,
        shipments: &[ShipmentWrite],
        orders: &[OrderWrite],
    ) -> Result<(), StoreError> {
        if !shipments.is_empty() {
            let refs: Vec<i64> = shipments.iter().map(|s| s.sref).collect();
            let status: Vec<Option<&str>> = shipments
                .iter()
                .map(|s| s.status.map(ShipmentStatus::as_str))
                .collect();
            let status_at: Vec<Option<i64>> =
                shipments.iter().map(|s| opt_ts(s.status_at)).collect();
            let high: Vec<Option<&str>> = shipments
                .iter()
                .map(|s| s.high_water.map(ShipmentStatus::as_str))
                .collect();
            let last_at: Vec<Option<i64>> =
                shipments.iter().map(|s| opt_ts(s.last_event_at)).collect();
            let location: Vec<Option<&str>> = shipments
                .iter()
                .map(|s| s.last_location.as_deref())
                .collect();
            let updated: Vec<i64> = shipments.iter().map(|s| s.updated_at.as_micros()).collect();
            let seqs: Vec<Vec<u8>> = shipments
                .iter()
                .map(|s| {
                    let real: Vec<i64> = s.seqs.iter().map(|q| self.real(*q)).collect();
                    encode_seqs(&real)
                })
                .collect();
            self.execute(
                "UPDATE shipments s SET status = u.status, status_at = u.status_at,
                     high_water = u.high_water, last_event_at = u.last_event_at,
                     last_location = u.last_location, updated_at = u.updated_at,
                     event_seqs = u.event_seqs
                 FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                             $6::text[], $7::bigint[], $8::bytea[])
                      AS u(ref, status, status_at, high_water, last_event_at, last_location,
                           updated_at, event_seqs)
                 WHERE s.ref = u.ref",
                &[
                    &refs, &status, &status_at, &high, &last_at, &location, &updated, &seqs,
                ],
            )?;
        }
        if !orders.is_empty() {
            let refs: Vec<i64> = orders.iter().map(|o| o.oref).collect();
            let status: Vec<&str> = orders.iter().map(|o| o.status.as_str()).collect();
            let created: Vec<i64> = orders.iter().map(|o| o.created_at.as_micros()).collect();
            let details: Vec<Option<&str>> = orders.iter().map(|o| o.details.as_deref()).collect();
            self.execute(
                "UPDATE orders o SET status = u.status, created_at = u.created_at,
                     details = COALESCE(u.details, o.details)
                 FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[])
                      AS u(ref, status, created_at, details)
                 WHERE o.ref = u.ref",
                &[&refs, &status, &created, &details],
            )?;
        }
        Ok(())
    }
}
