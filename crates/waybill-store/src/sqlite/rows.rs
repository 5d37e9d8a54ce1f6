//! The applier's rows in SQLite: [`Rows`] over one transaction of the writer.

use rusqlite::{Connection, OptionalExtension, params};
use waybill_core::event::Tracking;
use waybill_core::{
    Carrier, Entry, EventKind, OrderId, OrderStatus, ParcelKey, ShipmentStatus, Timestamp,
    TrackingNumber, event_key,
};

use crate::StoreError;
use crate::model::columns::{decode_seqs, encode_seqs};
use crate::model::columns::{parcel_of, unreadable};
use crate::sqlite::apply::OrderRow;
use crate::sqlite::apply::OrderWrite;
use crate::sqlite::apply::Rows;
use crate::sqlite::apply::ShipmentRow;
use crate::sqlite::apply::ShipmentWrite;
use crate::sqlite::log::next_seq;

/// [`Rows`] over the writer's connection, inside its transaction.
pub struct SqliteRows<'c>(pub &'c Connection);

impl OrderRow {
    /// Adds one of the order's shipments, from its row's columns (in row order).
    pub(crate) fn add_shipment(
        &mut self,
        id: &OrderId,
        status: Option<&str>,
        carrier: Option<&str>,
        number: Option<&str>,
    ) -> Result<(), StoreError> {
        let parcel = match parcel_of(carrier, number)? {
            Some(t) => ParcelKey::Tracked(t),
            None => ParcelKey::OrderDefault(id.clone()),
        };
        self.shipments
            .push((parcel, status.and_then(ShipmentStatus::parse)));
        Ok(())
    }
}

impl Rows for SqliteRows<'_> {
    fn order(&mut self, id: &OrderId) -> Result<Option<OrderRow>, StoreError> {
        let conn = self.0;
        let row = conn
            .prepare_cached(
                "SELECT ref, created_at, status, details FROM orders WHERE order_id = ?1",
            )?
            .query_row([id.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get(1)?,
                    r.get::<_, String>(2)?,
                    r.get(3)?,
                ))
            })
            .optional()?;
        let Some((oref, created, status, details)) = row else {
            return Ok(None);
        };
        let mut order = OrderRow {
            oref,
            created_at: Timestamp(created),
            status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Created),
            details,
            shipments: Vec::new(),
        };
        let mut stmt = conn.prepare_cached(
            "SELECT status, carrier, tracking_number FROM shipments WHERE order_ref = ?1
             ORDER BY ref",
        )?;
        let mut rows = stmt.query([oref])?;
        while let Some(r) = rows.next()? {
            let status: Option<String> = r.get(0)?;
            let carrier: Option<String> = r.get(1)?;
            let number: Option<String> = r.get(2)?;
            order.add_shipment(id, status.as_deref(), carrier.as_deref(), number.as_deref())?;
        }
        Ok(Some(order))
    }

    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<ShipmentRow>, StoreError> {
        type SeqRow = (i64, Option<String>, Option<Vec<u8>>, Option<i64>);
        fn seq_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SeqRow> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        }
        let conn = self.0;
        let row = match key {
            ParcelKey::Tracked(Tracking {
                carrier,
                tracking_number,
            }) => conn
                .prepare_cached(
                    "SELECT s.ref, o.order_id, s.event_seqs, s.updated_at FROM shipments s
                     LEFT JOIN orders o ON o.ref = s.order_ref
                     WHERE s.carrier = ?1 AND s.tracking_number = ?2",
                )?
                .query_row([carrier.as_str(), tracking_number.as_str()], seq_row)
                .optional()?,
            ParcelKey::OrderDefault(order) => conn
                .prepare_cached(
                    "SELECT s.ref, o.order_id, s.event_seqs, s.updated_at FROM shipments s
                     JOIN orders o ON o.ref = s.order_ref
                     WHERE o.order_id = ?1 AND s.tracking_number IS NULL",
                )?
                .query_row([order.as_str()], seq_row)
                .optional()?,
        };
        let Some((sref, order, seqs, updated_at)) = row else {
            return Ok(None);
        };
        let order = order
            .map(|o| OrderId::parse(&o))
            .transpose()
            .map_err(unreadable)?;
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
        Ok(Some(ShipmentRow {
            sref,
            order,
            entries,
            seqs,
            updated_at: Timestamp(updated_at.unwrap_or_default()),
        }))
    }

    fn insert_order(&mut self, id: &OrderId, at: Timestamp) -> Result<i64, StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO orders (order_id, status, created_at) VALUES (?1, 'created', ?2)",
            )?
            .execute(params![id.as_str(), at.as_micros()])?;
        Ok(self.0.last_insert_rowid())
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
        self.0
            .prepare_cached(
                "INSERT INTO shipments (order_ref, carrier, tracking_number) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![owner, carrier, number])?;
        Ok(self.0.last_insert_rowid())
    }

    fn set_owner(&mut self, sref: i64, oref: i64) -> Result<(), StoreError> {
        self.0
            .prepare_cached("UPDATE shipments SET order_ref = ?1 WHERE ref = ?2")?
            .execute(params![oref, sref])?;
        Ok(())
    }

    fn rename(
        &mut self,
        sref: i64,
        number: &TrackingNumber,
        from: &Carrier,
        to: &Carrier,
    ) -> Result<(), StoreError> {
        let tx = self.0;
        tx.prepare_cached("UPDATE shipments SET carrier = ?1 WHERE ref = ?2")?
            .execute(params![to.as_str(), sref])?;
        // Earlier names of the parcel now lead to the new one; the new name is no
        // longer an alias of anything.
        let number = number.as_str();
        tx.prepare_cached(
            "UPDATE carrier_aliases SET now_carrier = ?3
             WHERE tracking_number = ?1 AND now_carrier = ?2",
        )?
        .execute(params![number, from.as_str(), to.as_str()])?;
        tx.prepare_cached(
            "DELETE FROM carrier_aliases WHERE carrier = ?1 AND tracking_number = ?2",
        )?
        .execute(params![to.as_str(), number])?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO carrier_aliases (carrier, tracking_number, now_carrier)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![from.as_str(), number, to.as_str()])?;
        Ok(())
    }

    fn any_alias(&mut self) -> Result<bool, StoreError> {
        Ok(self
            .0
            .query_row("SELECT EXISTS (SELECT 1 FROM carrier_aliases)", [], |r| {
                r.get(0)
            })?)
    }

    fn alias(&mut self, t: &Tracking) -> Result<Option<Carrier>, StoreError> {
        let renamed: Option<String> = self
            .0
            .prepare_cached(
                "SELECT now_carrier FROM carrier_aliases WHERE carrier = ?1 AND tracking_number = ?2",
            )?
            .query_row(
                params![t.carrier.as_str(), t.tracking_number.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(renamed.and_then(|c| Carrier::parse(&c).ok()))
    }

    fn next_seq(&mut self) -> Result<i64, StoreError> {
        next_seq(self.0)
    }

    fn write(
        &mut self,
        shipments: &[ShipmentWrite],
        orders: &[OrderWrite],
    ) -> Result<(), StoreError> {
        let mut upd = self.0.prepare_cached(
            "UPDATE shipments SET status = ?2, status_at = ?3, high_water = ?4,
                 last_event_at = ?5, last_location = ?6, updated_at = ?7, event_seqs = ?8
             WHERE ref = ?1",
        )?;
        for s in shipments {
            upd.execute(params![
                s.sref,
                s.status.map(ShipmentStatus::as_str),
                s.status_at.map(Timestamp::as_micros),
                s.high_water.map(ShipmentStatus::as_str),
                s.last_event_at.map(Timestamp::as_micros),
                s.last_location.as_deref(),
                s.updated_at.as_micros(),
                encode_seqs(&s.seqs),
            ])?;
        }
        let mut upd = self.0.prepare_cached(
            "UPDATE orders SET status = ?2, created_at = ?3, details = COALESCE(?4, details)
             WHERE ref = ?1",
        )?;
        for o in orders {
            upd.execute(params![
                o.oref,
                o.status.as_str(),
                o.created_at.as_micros(),
                o.details.as_deref(),
            ])?;
        }
        Ok(())
    }
}

/// Records how far the projection rows hold the log (after a flush).
pub fn set_projected_through(conn: &Connection, seq: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'projected_through'")?
        .execute([seq])?;
    Ok(())
}
