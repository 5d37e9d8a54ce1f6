//! What the operations dashboard shows, read from the projection rows (which lag the
//! log by at most a second) and the outbound-delivery tables.

use rusqlite::{Connection, params};
use waybill_core::Timestamp;

use crate::StoreError;

/// A shipment that wants someone's attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flagged {
    pub order_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub status: String,
    /// When its last event was received.
    pub updated_at: Timestamp,
    pub last_location: Option<String>,
}

/// A webhook endpoint whose deliveries are failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    pub subscription_id: String,
    pub url: String,
    pub failed: i64,
    pub retrying: i64,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overview {
    /// Shipments of orders, by status (`none` for those without a status yet).
    pub by_status: Vec<(String, i64)>,
    pub exceptions: Vec<Flagged>,
    pub stalled: Vec<Flagged>,
    pub quarantined: i64,
    pub failing: Vec<Failing>,
}

/// How long a shipment may go without a scan, per status, before it counts as stalled.
#[derive(Debug, Clone)]
pub struct StallRules(pub Vec<(String, std::time::Duration)>);

impl Default for StallRules {
    fn default() -> Self {
        let h = |n: u64| std::time::Duration::from_secs(n * 3600);
        Self(vec![
            ("info_received".into(), h(72)),
            ("picked_up".into(), h(48)),
            ("in_transit".into(), h(72)),
            ("out_for_delivery".into(), h(24)),
            ("failed_attempt".into(), h(48)),
            ("available_for_pickup".into(), h(120)),
            ("returning".into(), h(168)),
        ])
    }
}

fn flagged(r: &rusqlite::Row<'_>) -> rusqlite::Result<Flagged> {
    Ok(Flagged {
        order_id: r.get(0)?,
        carrier: r.get(1)?,
        tracking_number: r.get(2)?,
        status: r.get(3)?,
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
            "SELECT coalesce(status, 'none'), count(*) FROM shipments
             WHERE order_ref IS NOT NULL AND NOT (tracking_number IS NULL AND status IS NULL)
             GROUP BY 1 ORDER BY 2 DESC",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
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
            .query_map(params![status, before, limit as i64], flagged)?
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
    let failing = conn
        .prepare_cached(
            "SELECT s.id, s.url,
                 sum(d.state = 'failed'), sum(d.state = 'pending' AND d.attempts > 0),
                 s.disabled_at IS NOT NULL
             FROM subscriptions s JOIN deliveries d ON d.subscription_id = s.id
             GROUP BY s.id
             HAVING sum(d.state = 'failed') > 0 OR sum(d.state = 'pending' AND d.attempts > 0) > 0
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
        failing,
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
