//! What the operations dashboard shows, read from the projection rows (which lag the
//! log by at most a second) and the outbound-delivery tables.

use rusqlite::{Connection, params};
use waybill_core::{EventKind, ShipmentStatus, Timestamp};

use crate::StoreError;
use crate::model::overview::{
    CarrierFigures, Failing, Flagged, Overview, StallRules, TRANSIT_SAMPLE, add_transit,
};

fn carriers(conn: &Connection) -> Result<Vec<CarrierFigures>, StoreError> {
    let mut figures: Vec<CarrierFigures> = conn
        .prepare_cached(
            // FILTER, not sum(): a parcel with no known status yet (registered, or scanned
            // only with a raw status) has a NULL status, and sum() over NULLs is NULL.
            "SELECT carrier, count(*), count(*) FILTER (WHERE status = 'exception')
             FROM shipments WHERE carrier IS NOT NULL AND order_ref IS NOT NULL
             GROUP BY carrier ORDER BY 2 DESC",
        )?
        .query_map([], |r| {
            Ok(CarrierFigures {
                carrier: r.get(0)?,
                shipments: r.get(1)?,
                exceptions: r.get(2)?,
                ..CarrierFigures::default()
            })
        })?
        .collect::<Result<_, _>>()?;
    // Transit times from the events themselves: the first pick-up scan of each recent
    // delivery (the rows keep only the current status's time).
    let mut recent = conn.prepare_cached(
        "SELECT carrier, status_at, event_seqs FROM shipments
         WHERE status = 'delivered' AND carrier IS NOT NULL AND order_ref IS NOT NULL
         ORDER BY updated_at DESC LIMIT ?1",
    )?;
    let mut event = conn.prepare_cached("SELECT kind, occurred_at FROM events WHERE seq = ?1")?;
    let rows = recent.query_map([TRANSIT_SAMPLE], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<i64>>(1)?,
            r.get::<_, Option<Vec<u8>>>(2)?,
        ))
    })?;
    let mut samples = Vec::new();
    for row in rows {
        let (carrier, delivered_at, seqs) = row?;
        let Some(delivered_at) = delivered_at else {
            continue;
        };
        let mut picked_up: Option<i64> = None;
        for seq in crate::model::columns::decode_seqs(&seqs.unwrap_or_default()) {
            let (kind, at): (String, i64) =
                event.query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if EventKind::parse(&kind) == Some(EventKind::Status(ShipmentStatus::PickedUp)) {
                picked_up = Some(picked_up.map_or(at, |p| p.min(at)));
            }
        }
        samples.push((carrier, delivered_at, picked_up));
    }
    add_transit(&mut figures, samples);
    Ok(figures)
}

fn flagged(r: &rusqlite::Row<'_>) -> rusqlite::Result<Flagged> {
    Ok(Flagged {
        order_id: r.get(0)?,
        carrier: r.get(1)?,
        tracking_number: r.get(2)?,
        status: crate::sqlite::read::parsed(r, 3, ShipmentStatus::parse)?,
        updated_at: Timestamp(r.get::<_, Option<i64>>(4)?.unwrap_or_default()),
        last_location: r.get(5)?,
    })
}

const FLAGGED: &str = "SELECT o.order_id, s.carrier, s.tracking_number, s.status, s.updated_at,
    s.last_location FROM shipments s JOIN orders o ON o.ref = s.order_ref";

pub fn overview(
    conn: &Connection,
    now: Timestamp,
    rules: &StallRules,
    limit: usize,
) -> Result<Overview, StoreError> {
    let mut by_status = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            // An order's default shipment counts once something happened to it.
            "SELECT status, count(*) FROM shipments
             WHERE order_ref IS NOT NULL AND NOT (tracking_number IS NULL AND status IS NULL)
             GROUP BY 1 ORDER BY 2 DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                crate::sqlite::read::parsed_opt(r, 0, ShipmentStatus::parse)?,
                r.get(1)?,
            ))
        })?;
        for row in rows {
            by_status.push(row?);
        }
    }
    let exceptions = conn
        .prepare_cached(&format!(
            "{FLAGGED} WHERE s.status IN ('exception', 'failed_attempt')
             ORDER BY s.updated_at DESC LIMIT ?1"
        ))?
        .query_map([limit as i64], flagged)?
        .collect::<Result<_, _>>()?;
    let mut stalled = Vec::new();
    for (status, after) in &rules.0 {
        let before = now.as_micros() - after.as_micros() as i64;
        let rows = conn
            .prepare_cached(&format!(
                "{FLAGGED} WHERE s.status = ?1 AND s.updated_at < ?2
                 ORDER BY s.updated_at LIMIT ?3"
            ))?
            .query_map(params![status.as_str(), before, limit as i64], flagged)?
            .collect::<Result<Vec<_>, _>>()?;
        stalled.extend(rows);
    }
    stalled.sort_by_key(|f| f.updated_at);
    stalled.truncate(limit);
    let quarantined = conn.query_row(
        "SELECT count(*) FROM quarantine WHERE replayed_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    let quarantine_oldest = conn
        .prepare_cached(
            "SELECT id, provider, reason, received_at FROM quarantine
             WHERE replayed_at IS NULL ORDER BY id LIMIT ?1",
        )?
        .query_map([limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, Timestamp(r.get(3)?)))
        })?
        .collect::<Result<_, _>>()?;
    let failing = conn
        .prepare_cached(
            "SELECT s.id, s.url,
                 count(*) FILTER (WHERE d.state = 'failed'),
                 count(*) FILTER (WHERE d.state = 'pending' AND d.attempts > 0),
                 s.disabled_at IS NOT NULL
             FROM subscriptions s JOIN deliveries d ON d.subscription_id = s.id
             GROUP BY s.id
             HAVING count(*) FILTER (WHERE d.state = 'failed') > 0
                 OR count(*) FILTER (WHERE d.state = 'pending' AND d.attempts > 0) > 0
                 OR s.disabled_at IS NOT NULL
             ORDER BY 3 DESC, 4 DESC LIMIT ?1",
        )?
        .query_map([limit as i64], |r| {
            Ok(Failing {
                subscription_id: r.get(0)?,
                url: r.get(1)?,
                failed: r.get(2)?,
                retrying: r.get(3)?,
                disabled: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Overview {
        by_status,
        exceptions,
        stalled,
        quarantined,
        quarantine_oldest,
        failing,
        carriers: carriers(conn)?,
    })
}

/// Events received since `since`, looking at the newest `window` at most (the log has
/// no index on receipt time; a minute's worth is at the end of it).
pub fn received_since(conn: &Connection, since: Timestamp, window: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM events
         WHERE seq > (SELECT coalesce(max(seq), 0) FROM events) - ?2 AND received_at >= ?1",
        params![since.as_micros(), window],
        |r| r.get(0),
    )?)
}
