//! Reading the embedded store from another process, beside a server that may hold it
//! (`waybill order`). The server's rows lag its log by up to a flush interval (its
//! readers see the overlay instead), and after a crash they lag until the next start.
//! So a reader here folds the log past the rows' watermark in memory, with the same
//! applier the writer uses, and reads through an overlay of its own: it sees every
//! acknowledged event and writes nothing.

use std::path::Path;

use waybill_core::event::Tracking;
use waybill_core::{Carrier, OrderId, ParcelKey, Timestamp, TrackingNumber};

use crate::StoreError;
use crate::model::records::{EventRecord, OrderRecord};
use crate::sqlite::apply::{
    Applier, Intake, OrderRow, OrderWrite, Rows, ShipmentRow, ShipmentWrite, Sink,
};
use crate::sqlite::overlay::Overlay;
use crate::sqlite::rows::SqliteRows;
use crate::sqlite::{log, read};

/// One order and its timeline as a reader of the running server would see them; `None`
/// when there is no such order.
pub fn order_with_timeline(
    path: &Path,
    order_id: &str,
) -> Result<Option<(OrderRecord, Vec<EventRecord>)>, StoreError> {
    let pool = read::ReadPool::new(path.to_owned());
    // `with` runs in one read transaction: one snapshot for the watermark, the log past
    // it and the rows.
    pool.with(|tx| {
        let from: i64 = tx.query_row(
            "SELECT value FROM meta WHERE key = 'projected_through'",
            [],
            |r| r.get(0),
        )?;
        let mut applier = Applier::new(usize::MAX / 4);
        let mut rows = Untouched {
            rows: SqliteRows(tx),
            next_ref: -1,
        };
        {
            let mut stmt = tx.prepare("SELECT * FROM events WHERE seq > ?1 ORDER BY seq")?;
            let mut found = stmt.query([from])?;
            while let Some(row) = found.next()? {
                let seq: i64 = row.get("seq")?;
                let ev = log::event_from_row(row)?.ok_or_else(|| {
                    StoreError::Unreadable(format!("event seq {seq} is unreadable"))
                })?;
                applier.apply(&mut rows, &ev, Intake::Provider, Sink::Logged { seq })?;
            }
        }
        let overlay = Overlay::default();
        overlay.publish(applier.views(&mut rows)?);
        let Some(order) = read::order(tx, &overlay, order_id)? else {
            return Ok(None);
        };
        let events = read::timeline(tx, &overlay, order_id)?.unwrap_or_default();
        Ok(Some((order, events)))
    })
}

/// The rows as they are, read but never written: what the applier would insert or
/// rewrite stays in its memory, which is all this reader needs. (The applier keeps
/// everything it touched, so it never reads back a row it "wrote".)
struct Untouched<'c> {
    rows: SqliteRows<'c>,
    /// Made-up refs for rows the applier creates, below any real one.
    next_ref: i64,
}

impl Untouched<'_> {
    fn fresh_ref(&mut self) -> i64 {
        self.next_ref -= 1;
        self.next_ref
    }
}

impl Rows for Untouched<'_> {
    fn order(&mut self, id: &OrderId) -> Result<Option<OrderRow>, StoreError> {
        self.rows.order(id)
    }

    fn shipment(&mut self, key: &ParcelKey) -> Result<Option<ShipmentRow>, StoreError> {
        self.rows.shipment(key)
    }

    fn insert_order(&mut self, _: &OrderId, _: Timestamp) -> Result<i64, StoreError> {
        Ok(self.fresh_ref())
    }

    fn insert_shipment(&mut self, _: Option<i64>, _: &ParcelKey) -> Result<i64, StoreError> {
        Ok(self.fresh_ref())
    }

    fn set_owner(&mut self, _: i64, _: i64) -> Result<(), StoreError> {
        Ok(())
    }

    fn rename(
        &mut self,
        _: i64,
        _: &TrackingNumber,
        _: &Carrier,
        _: &Carrier,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn any_alias(&mut self) -> Result<bool, StoreError> {
        self.rows.any_alias()
    }

    fn alias(&mut self, t: &Tracking) -> Result<Option<Carrier>, StoreError> {
        self.rows.alias(t)
    }

    fn next_seq(&mut self) -> Result<i64, StoreError> {
        self.rows.next_seq()
    }

    fn write(&mut self, _: &[ShipmentWrite], _: &[OrderWrite]) -> Result<(), StoreError> {
        Ok(())
    }
}
