//! A batch's rows in PostgreSQL: read and locked before the engine runs ([`load`]),
//! written after ([`save`]). Both are async; nothing waits on the runtime.
//!
//! Every row the batch may change is locked (`FOR UPDATE`) until it commits: two
//! workers that touch one order take turns, and the second reads what the first
//! committed, so no update is lost. An order is locked before any change to its
//! shipments' statuses reaches its row, which is what makes its status, derived from all
//! its shipments, safe to rewrite.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Transaction;
use waybill_core::engine::{Order, Shipment};
use waybill_core::{
    Carrier, Entry, EventKind, OrderId, OrderStatus, ParcelKey, ShipmentLog, ShipmentState,
    ShipmentStatus, Timestamp, TrackingEvent, event_key,
};

use super::entries::Entries;
use super::world::PgWorld;
use crate::StoreError;
use crate::model::columns::{decode_seqs, encode_seqs, parcel_of, unreadable};

/// A shipment row's name: its order (a default shipment's only), carrier and number.
type RowName = (Option<i64>, Option<String>, Option<String>);

type Params<'a> = [&'a (dyn tokio_postgres::types::ToSql + Sync)];

async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query(&stmt, params).await?)
}

async fn execute(tx: &Transaction<'_>, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&stmt, params).await?)
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

/// Reads and locks, in five statements at most, every row the batch's events can
/// reach: the names carrier corrections gave their parcels, the parcels under every
/// name, their orders and the owners of those parcels, all those orders' shipments,
/// and the events of every one of them that `known` does not hold already.
pub(crate) async fn load(
    tx: &Transaction<'_>,
    events: &[TrackingEvent],
    known: &Entries,
    world: &mut PgWorld,
) -> Result<(), StoreError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut seen = HashSet::new();
    let mut named: Vec<&str> = Vec::new();
    for ev in events {
        if let Some(t) = &ev.tracking {
            let n = t.tracking_number.as_str();
            if seen.insert((t.carrier.as_str().to_owned(), n.to_owned())) {
                pairs.push((t.carrier.to_string(), n.to_owned()));
            }
            // A correction reaches the parcel under its old name too.
            if let Some(from) = ev.previous_carrier()
                && seen.insert((from.to_string(), n.to_owned()))
            {
                pairs.push((from.to_string(), n.to_owned()));
            }
        }
        if let Some(o) = &ev.order_id {
            named.push(o.as_str());
        }
    }
    named.sort_unstable();
    named.dedup();
    let (carriers, numbers): (Vec<&str>, Vec<&str>) =
        pairs.iter().map(|(c, n)| (c.as_str(), n.as_str())).unzip();
    let aliases = query(
        tx,
        "SELECT a.carrier, a.tracking_number, a.now_carrier FROM carrier_aliases a
         JOIN UNNEST($1::text[], $2::text[]) AS k(c, n)
           ON a.carrier = k.c AND a.tracking_number = k.n",
        &[&carriers, &numbers],
    )
    .await?;
    let mut more: Vec<(String, String)> = Vec::new();
    for r in &aliases {
        let (was, now) = (
            parcel_of(Some(r.get(0)), Some(r.get(1)))?,
            Carrier::parse(r.get(2)).map_err(unreadable)?,
        );
        let Some(was) = was else { continue };
        let n = was.tracking_number.to_string();
        if seen.insert((now.to_string(), n.clone())) {
            more.push((now.to_string(), n));
        }
        world.known_alias(was, now);
    }
    let (mut carriers, mut numbers) = (carriers, numbers);
    for (c, n) in &more {
        carriers.push(c);
        numbers.push(n);
    }
    let parcels = query(
        tx,
        "SELECT s.ref, s.order_ref FROM shipments s
         JOIN UNNEST($1::text[], $2::text[]) AS k(c, n)
           ON s.carrier = k.c AND s.tracking_number = k.n
         ORDER BY s.ref FOR UPDATE OF s",
        &[&carriers, &numbers],
    )
    .await?;
    let owners: Vec<i64> = parcels.iter().filter_map(|r| r.get(1)).collect();
    let unlinked: Vec<i64> = parcels
        .iter()
        .filter(|r| r.get::<_, Option<i64>>(1).is_none())
        .map(|r| r.get(0))
        .collect();
    let orders = query(
        tx,
        "SELECT ref, order_id, created_at, status, details FROM orders
         WHERE ref IN (SELECT o.ref FROM orders o JOIN UNNEST($1::text[]) AS k(id)
                         ON o.order_id = k.id
                       UNION ALL SELECT UNNEST($2::bigint[]))
         ORDER BY ref FOR UPDATE",
        &[&named, &owners],
    )
    .await?;
    let orefs: Vec<i64> = orders.iter().map(|r| r.get(0)).collect();
    // Not locked again: the parcels the batch names are locked above, and an order's
    // other shipments change only under their order's lock, which this batch holds.
    // (Locking them too would lock parcels after orders, the other way round from the
    // first statement: two batches could then wait on each other.)
    let ships = query(
        tx,
        "SELECT ref, order_ref, status, carrier, tracking_number, event_seqs, updated_at
         FROM shipments
         WHERE ref IN (SELECT s.ref FROM shipments s JOIN UNNEST($1::bigint[]) AS k(o)
                         ON s.order_ref = k.o
                       UNION ALL SELECT UNNEST($2::bigint[]))
         ORDER BY ref",
        &[&orefs, &unlinked],
    )
    .await?;
    let mut seqs_of: Vec<Vec<i64>> = Vec::with_capacity(ships.len());
    let mut all_seqs = Vec::new();
    for r in &ships {
        let seqs = decode_seqs(&r.get::<_, Option<Vec<u8>>>(5).unwrap_or_default());
        all_seqs.extend_from_slice(&seqs);
        seqs_of.push(seqs);
    }
    let mut entries: HashMap<i64, Entry> = HashMap::with_capacity(all_seqs.len());
    let missing = known.lookup(&all_seqs, &mut entries);
    if !missing.is_empty() {
        let mut read = Vec::with_capacity(missing.len());
        for r in query(
            tx,
            "SELECT e.seq, e.event_id, e.kind, e.occurred_at, e.location
             FROM events e JOIN UNNEST($1::bigint[]) AS k(seq) ON e.seq = k.seq",
            &[&missing],
        )
        .await?
        {
            let (seq, e) = (r.get(0), entry_of(&r, 1));
            read.push((seq, e.clone()));
            entries.insert(seq, e);
        }
        known.keep(read);
    }
    // Orders by ref, for their shipments; their parcels in row order.
    let mut by_ref: HashMap<i64, (OrderId, Order)> = HashMap::with_capacity(orders.len());
    for r in &orders {
        let id = OrderId::parse(r.get(1)).map_err(unreadable)?;
        let status: &str = r.get(3);
        let order = Order {
            created_at: Timestamp(r.get(2)),
            status: OrderStatus::parse(status).unwrap_or(OrderStatus::Created),
            details: r.get(4),
            shipments: Vec::new(),
        };
        by_ref.insert(r.get(0), (id, order));
    }
    for (r, seqs) in ships.iter().zip(seqs_of) {
        let sref: i64 = r.get(0);
        let owner: Option<i64> = r.get(1);
        let status = r.get::<_, Option<&str>>(2).and_then(ShipmentStatus::parse);
        let order = owner.and_then(|o| by_ref.get_mut(&o));
        let key = match (parcel_of(r.get(3), r.get(4))?, &order) {
            (Some(t), _) => ParcelKey::Tracked(t),
            (None, Some((id, _))) => ParcelKey::OrderDefault(id.clone()),
            (None, None) => continue,
        };
        let owner_id = order.map(|(id, o)| {
            o.shipments.push((key.clone(), status));
            id.clone()
        });
        let mut log = Vec::with_capacity(seqs.len());
        for seq in &seqs {
            log.push(
                entries
                    .get(seq)
                    .cloned()
                    .ok_or_else(|| StoreError::Unreadable(format!("event seq {seq} is missing")))?,
            );
        }
        let shipment = Shipment {
            owner: owner_id,
            log: ShipmentLog::from_entries(log),
            updated_at: Timestamp(r.get::<_, Option<i64>>(6).unwrap_or_default()),
        };
        world.known_shipment(key, sref, seqs, shipment);
    }
    for (oref, (id, order)) in by_ref {
        world.known_order(id, oref, order);
    }
    Ok(())
}

fn opt_ts(v: Option<Timestamp>) -> Option<i64> {
    v.map(Timestamp::as_micros)
}

/// Takes the real seqs for the provisional ones, once every row the batch needs is
/// locked. A writer that touched one of those rows before us has committed by now, and
/// took its seqs before its commit: ours come after, so the log's seq order is the
/// order in which each shipment's events were applied (which replay relies on).
pub(crate) async fn settle(tx: &Transaction<'_>, provisional: i64) -> Result<Vec<i64>, StoreError> {
    if provisional == 0 {
        return Ok(Vec::new());
    }
    let rows = query(
        tx,
        "SELECT nextval('event_seq') FROM generate_series(1, $1::bigint)",
        &[&provisional],
    )
    .await?;
    let mut real: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    real.sort_unstable();
    Ok(real)
}

/// The real seq of a provisional one (others are real already).
pub(crate) fn real(seqs: &[i64], seq: i64) -> i64 {
    if seq < 0 {
        seqs[(-seq - 1) as usize]
    } else {
        seq
    }
}

/// Writes what the engine changed: new orders and shipments, claims and corrections,
/// then every changed shipment's and order's projection. `seqs` are the real seqs of the
/// provisional ones.
pub(crate) async fn save(
    tx: &Transaction<'_>,
    world: &mut PgWorld,
    seqs: &[i64],
) -> Result<(), StoreError> {
    // New orders, in one statement. Another writer inserting the same order makes this
    // wait, then fail with a unique violation: the batch is retried and finds the row.
    if !world.added_orders.is_empty() {
        let ids: Vec<&str> = world.added_orders.iter().map(OrderId::as_str).collect();
        let at: Vec<i64> = world
            .added_orders
            .iter()
            .map(|id| world.orders[id].order.created_at.as_micros())
            .collect();
        let rows = query(
            tx,
            "INSERT INTO orders (order_id, status, created_at)
             SELECT u.id, 'created', u.at FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at)
             RETURNING ref, order_id",
            &[&ids, &at],
        )
        .await?;
        for r in rows {
            let id = OrderId::parse(r.get(1)).map_err(unreadable)?;
            if let Some(o) = world.orders.get_mut(&id) {
                o.oref = Some(r.get(0));
            }
        }
    }
    let oref = |world: &PgWorld, id: &Option<OrderId>| -> Option<i64> {
        id.as_ref()
            .and_then(|id| world.orders.get(id))
            .and_then(|o| o.oref)
    };
    // Corrections of rows that exist, in the order they happened.
    for r in &world.renames {
        let (number, from, to) = (
            r.to.tracking_number.as_str(),
            r.from.carrier.as_str(),
            r.to.carrier.as_str(),
        );
        if let Some(sref) = world.shipments[r.slot].sref {
            execute(
                tx,
                "UPDATE shipments SET carrier = $1 WHERE ref = $2",
                &[&to, &sref],
            )
            .await?;
        }
        execute(
            tx,
            "UPDATE carrier_aliases SET now_carrier = $3
             WHERE tracking_number = $1 AND now_carrier = $2",
            &[&number, &from, &to],
        )
        .await?;
        execute(
            tx,
            "DELETE FROM carrier_aliases WHERE carrier = $1 AND tracking_number = $2",
            &[&to, &number],
        )
        .await?;
        execute(
            tx,
            "INSERT INTO carrier_aliases (carrier, tracking_number, now_carrier)
             VALUES ($1, $2, $3)
             ON CONFLICT (carrier, tracking_number) DO UPDATE SET now_carrier = $3",
            &[&from, &number, &to],
        )
        .await?;
    }
    // New shipments under their names and owners as the batch left them.
    let added: Vec<usize> = (0..world.shipments.len())
        .filter(|&i| world.shipments[i].sref.is_none())
        .collect();
    if !added.is_empty() {
        let mut owner = Vec::with_capacity(added.len());
        let mut carrier: Vec<Option<&str>> = Vec::with_capacity(added.len());
        let mut number: Vec<Option<&str>> = Vec::with_capacity(added.len());
        for &i in &added {
            let s = &world.shipments[i];
            owner.push(oref(world, &s.shipment.owner));
            match &s.key {
                ParcelKey::Tracked(t) => {
                    carrier.push(Some(t.carrier.as_str()));
                    number.push(Some(t.tracking_number.as_str()));
                }
                ParcelKey::OrderDefault(_) => {
                    carrier.push(None);
                    number.push(None);
                }
            }
        }
        let rows = query(
            tx,
            "INSERT INTO shipments (order_ref, carrier, tracking_number)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[])
             RETURNING ref, order_ref, carrier, tracking_number",
            &[&owner, &carrier, &number],
        )
        .await?;
        // Matched by name, not by position: a name is unique (a default shipment's is
        // its order's).
        let mut refs: HashMap<RowName, i64> = rows
            .iter()
            .map(|r| {
                let (c, n): (Option<String>, Option<String>) = (r.get(2), r.get(3));
                let o: Option<i64> = if n.is_some() { None } else { r.get(1) };
                ((o, c, n), r.get(0))
            })
            .collect();
        let keys: Vec<_> = (0..added.len())
            .map(|k| {
                let o = if number[k].is_some() { None } else { owner[k] };
                (
                    o,
                    carrier[k].map(str::to_owned),
                    number[k].map(str::to_owned),
                )
            })
            .collect();
        for (key, i) in keys.into_iter().zip(added) {
            world.shipments[i].sref = refs.remove(&key);
        }
    }
    // Unlinked rows an order claimed.
    let (claimed, owners): (Vec<i64>, Vec<i64>) = world
        .shipments
        .iter()
        .filter(|s| s.claimed)
        .filter_map(|s| Some((s.sref?, oref(world, &s.shipment.owner)?)))
        .unzip();
    if !claimed.is_empty() {
        execute(
            tx,
            "UPDATE shipments s SET order_ref = u.o
             FROM UNNEST($1::bigint[], $2::bigint[]) AS u(ref, o) WHERE s.ref = u.ref",
            &[&claimed, &owners],
        )
        .await?;
    }
    write_projections(tx, world, seqs).await
}

async fn write_projections(
    tx: &Transaction<'_>,
    world: &PgWorld,
    seqs: &[i64],
) -> Result<(), StoreError> {
    let dirty: Vec<_> = world
        .shipments
        .iter()
        .filter(|s| s.dirty)
        .filter_map(|s| Some((s.sref?, s)))
        .collect();
    if !dirty.is_empty() {
        let refs: Vec<i64> = dirty.iter().map(|(r, _)| *r).collect();
        let states: Vec<&ShipmentState> =
            dirty.iter().map(|(_, s)| s.shipment.log.state()).collect();
        let status: Vec<Option<&str>> = states
            .iter()
            .map(|s| s.status.map(ShipmentStatus::as_str))
            .collect();
        let status_at: Vec<Option<i64>> = states.iter().map(|s| opt_ts(s.status_at)).collect();
        let high: Vec<Option<&str>> = states
            .iter()
            .map(|s| s.high_water.map(ShipmentStatus::as_str))
            .collect();
        let last_at: Vec<Option<i64>> = states.iter().map(|s| opt_ts(s.last_event_at)).collect();
        let location: Vec<Option<&str>> =
            states.iter().map(|s| s.last_location.as_deref()).collect();
        let updated: Vec<i64> = dirty
            .iter()
            .map(|(_, s)| s.shipment.updated_at.as_micros())
            .collect();
        let blobs: Vec<Vec<u8>> = dirty
            .iter()
            .map(|(_, s)| {
                let real: Vec<i64> = s.seqs.iter().map(|q| real(seqs, *q)).collect();
                encode_seqs(&real)
            })
            .collect();
        execute(
            tx,
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
                &refs, &status, &status_at, &high, &last_at, &location, &updated, &blobs,
            ],
        )
        .await?;
    }
    let mut refs = Vec::new();
    let mut status = Vec::new();
    let mut created = Vec::new();
    let mut details: Vec<Option<&str>> = Vec::new();
    for id in &world.touched {
        let o = &world.orders[id];
        let (Some(oref), now) = (o.oref, o.order.derived_status()) else {
            continue;
        };
        if now == o.stored_status && !o.row_stale {
            continue;
        }
        refs.push(oref);
        status.push(now.as_str());
        created.push(o.order.created_at.as_micros());
        details.push(o.order.details.as_deref());
    }
    if !refs.is_empty() {
        execute(
            tx,
            "UPDATE orders o SET status = u.status, created_at = u.created_at,
                 details = COALESCE(u.details, o.details)
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[])
                  AS u(ref, status, created_at, details)
             WHERE o.ref = u.ref",
            &[&refs, &status, &created, &details],
        )
        .await?;
    }
    Ok(())
}
