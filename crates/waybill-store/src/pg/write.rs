//! One submission, one PostgreSQL transaction: load and lock its rows, run the engine,
//! append, write the rows, commit. All of it async.

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use waybill_core::TrackingEvent;
use waybill_core::engine::{self, How, Outcome};

use super::entries::Entries;
use super::world::{PgWorld, Seqs};
use super::{hooks, outbox, quarantine, rows, sign_outs};
use crate::StoreError;
use crate::model::submission::{ItemOutcome, Submission, Work};

/// What a committed transaction did.
pub(crate) struct Written {
    pub outcomes: Vec<ItemOutcome>,
    /// The highest outbox position it wrote, if it wrote domain events.
    pub position: Option<i64>,
    /// The orders it changed.
    pub touched: Vec<String>,
}

/// Runs `s` in one transaction: reads and locks its rows, runs the engine over them in
/// memory, writes what it changed. Every row comes from the database; only the log's
/// entries, which never change, may come from `known` (and what it appends goes there).
pub(crate) async fn commit(
    client: &mut Object,
    s: &Submission,
    announce: bool,
    known: &Entries,
) -> Result<Written, StoreError> {
    let t0 = std::time::Instant::now();
    let tx = client.transaction().await?;
    let mut world = PgWorld::with_seqs(Seqs::Provisional);
    let mut t_load = t0;
    let mut log: Vec<(i64, Logged<'_>)> = Vec::new();
    let mut changes = Vec::new();
    let outcomes = match s.work() {
        Work::Apply(events, intake) => {
            rows::load(&tx, events, known, &mut world).await?;
            t_load = std::time::Instant::now();
            let how = How {
                intake,
                live: true,
                announce,
            };
            let mut out = Vec::with_capacity(events.len());
            for ev in events {
                let applied = engine::apply(&mut world, ev, how, &mut changes)?;
                match (applied.logged, world.seq.take()) {
                    (engine::Logged::Event, Some(seq)) => log.push((seq, Logged::Event(ev))),
                    (engine::Logged::Record(r), Some(seq)) => log.push((seq, Logged::Record(r))),
                    _ => {}
                }
                out.push(ItemOutcome::from(applied.outcome));
            }
            out
        }
        Work::Keep(q) => vec![ItemOutcome::Quarantined(quarantine::insert(&tx, q).await?)],
        Work::Hook(op) => vec![if hooks::apply(&tx, op).await? {
            ItemOutcome::Done
        } else {
            ItemOutcome::Missing
        }],
        Work::SignOut(so) => {
            sign_outs::record(&tx, so).await?;
            vec![ItemOutcome::Done]
        }
    };
    if let Some((id, at)) = s.resolved(&outcomes) {
        quarantine::mark_replayed(&tx, id, at).await?;
    }
    let t_engine = std::time::Instant::now();
    let seqs = rows::settle(&tx, world.provisional()).await?;
    let appended: Vec<(i64, &TrackingEvent)> = log
        .iter()
        .map(|(seq, l)| (rows::real(&seqs, *seq), l.event()))
        .collect();
    let t_settle = std::time::Instant::now();
    append_events(&tx, &appended).await?;
    let t_append = std::time::Instant::now();
    rows::save(&tx, &mut world, &seqs).await?;
    // Last: from here to the commit, writers take turns.
    let position = outbox::append(&tx, &changes).await?;
    let t_save = std::time::Instant::now();
    let touched = world.touched.iter().map(|o| o.to_string()).collect();
    tx.commit().await?;
    known.keep(
        appended
            .iter()
            .map(|(seq, ev)| (*seq, engine::entry_of(ev))),
    );
    tracing::trace!(
        load = ?(t_load - t0),
        engine = ?(t_engine - t_load),
        settle = ?(t_settle - t_engine),
        append = ?(t_append - t_settle),
        save = ?(t_save - t_append),
        commit = ?t_save.elapsed(),
        "pg batch phases"
    );
    Ok(Written {
        outcomes,
        position,
        touched,
    })
}

/// What goes into the log under a seq: a submitted event, or a record made in its place.
enum Logged<'e> {
    Event(&'e TrackingEvent),
    Record(Box<TrackingEvent>),
}

impl Logged<'_> {
    fn event(&self) -> &TrackingEvent {
        match self {
            Self::Event(e) => e,
            Self::Record(r) => r,
        }
    }
}

async fn append_events(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[(i64, &TrackingEvent)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn Fn(&TrackingEvent) -> Option<String>| -> Vec<Option<String>> {
        events.iter().map(|(_, e)| f(e)).collect()
    };
    let seq: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
    let id = col(&|e| Some(e.event_id.to_string()));
    let order = col(&|e| e.order_id.as_ref().map(|o| o.to_string()));
    let carrier = col(&|e| e.tracking.as_ref().map(|t| t.carrier.to_string()));
    let number = col(&|e| e.tracking.as_ref().map(|t| t.tracking_number.to_string()));
    let kind = col(&|e| Some(e.kind.as_str().to_owned()));
    let occurred: Vec<i64> = events
        .iter()
        .map(|(_, e)| e.occurred_at.as_micros())
        .collect();
    let offset: Vec<i32> = events.iter().map(|(_, e)| e.utc_offset_seconds).collect();
    let received: Vec<i64> = events
        .iter()
        .map(|(_, e)| e.received_at.as_micros())
        .collect();
    let location = col(&|e| e.location.clone());
    let description = col(&|e| e.description.clone());
    let raw = col(&|e| e.raw_status.clone());
    let details = col(&|e| e.details.clone());
    let params: [&(dyn ToSql + Sync); 13] = [
        &seq,
        &id,
        &order,
        &carrier,
        &number,
        &kind,
        &occurred,
        &offset,
        &received,
        &location,
        &description,
        &raw,
        &details,
    ];
    let stmt = tx
        .prepare_cached(
            "INSERT INTO events (seq, event_id, order_id, carrier, tracking_number, kind,
                 occurred_at, utc_offset, received_at, location, description, raw_status, details)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::bigint[], $8::int[], $9::bigint[], $10::text[], $11::text[],
                 $12::text[], $13::text[])",
        )
        .await?;
    tx.execute(&stmt, &params).await?;
    Ok(())
}

/// Drops the projections and re-applies the whole log in seq order, in one transaction
/// that keeps every writer out meanwhile. Returns the number of events replayed.
///
/// Seq order is the order seqs were handed out, which is not quite commit order when
/// writers overlap; but two writers that touch one parcel or order take turns on its
/// rows, and the later one takes its seqs after the earlier one committed, so the events
/// of any one shipment replay in the order they were applied.
pub(crate) async fn replay(client: &mut Object) -> Result<u64, StoreError> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "LOCK TABLE events, orders, shipments, carrier_aliases IN EXCLUSIVE MODE;
         DELETE FROM carrier_aliases; DELETE FROM shipments; DELETE FROM orders;",
    )
    .await?;
    let events = tx
        .query(
            "SELECT seq, event_id, order_id, carrier, tracking_number, kind, occurred_at,
                    utc_offset, received_at, location, description, raw_status, details
             FROM events ORDER BY seq",
            &[],
        )
        .await?;
    // The tables are empty: the world starts empty, and holds everything by the end.
    let mut world = PgWorld::default();
    let mut ignored = Vec::new();
    let mut n = 0;
    for row in &events {
        let seq: i64 = row.get(0);
        let ev = event_of(row)
            .ok_or_else(|| StoreError::Unreadable(format!("event seq {seq} is unreadable")))?;
        world.seqs = Some(Seqs::Logged(seq));
        match engine::apply(&mut world, &ev, How::logged(), &mut ignored)?.outcome {
            Outcome::Accepted => n += 1,
            other => {
                return Err(StoreError::Diverged {
                    seq,
                    outcome: format!("{other:?}"),
                });
            }
        }
    }
    rows::save(&tx, &mut world, &[]).await?;
    tx.commit().await?;
    Ok(n)
}

/// An event row back as the domain type; `None` if it no longer parses.
fn event_of(r: &tokio_postgres::Row) -> Option<TrackingEvent> {
    crate::model::columns::Stored {
        event_id: r.get(1),
        order_id: r.get(2),
        carrier: r.get(3),
        tracking_number: r.get(4),
        kind: r.get(5),
        occurred_at: r.get(6),
        utc_offset: r.get(7),
        received_at: r.get(8),
        location: r.get(9),
        description: r.get(10),
        raw_status: r.get(11),
        details: r.get(12),
    }
    .event()
}
