//! What the operations dashboard shows, on PostgreSQL (see `crate::dashboard`).

use deadpool_postgres::Client;
use waybill_core::{ShipmentStatus, Timestamp};

use crate::StoreError;
use crate::model::columns::decode_seqs;
use crate::model::overview::{
    CarrierFigures, Failing, Flagged, Overview, StallRules, TRANSIT_SAMPLE, add_transit,
};

const FLAGGED: &str = "SELECT o.order_id, s.carrier, s.tracking_number, s.status, s.updated_at,
    s.last_location FROM shipments s JOIN orders o ON o.ref = s.order_ref";

fn flagged(r: &tokio_postgres::Row) -> Result<Flagged, StoreError> {
    Ok(Flagged {
        order_id: r.get(0),
        carrier: r.get(1),
        tracking_number: r.get(2),
        status: status(r.get(3))?,
        updated_at: Timestamp(r.get::<_, Option<i64>>(4).unwrap_or_default()),
        last_location: r.get(5),
    })
}

fn status(s: &str) -> Result<ShipmentStatus, StoreError> {
    crate::model::columns::named("status", s, ShipmentStatus::parse)
}

pub(crate) async fn overview(
    c: &Client,
    now: Timestamp,
    rules: &StallRules,
    limit: usize,
) -> Result<Overview, StoreError> {
    let limit = limit as i64;
    let by_status = c
        .query(
            // An order's default shipment counts once something happened to it.
            "SELECT status, count(*) FROM shipments
             WHERE order_ref IS NOT NULL AND NOT (tracking_number IS NULL AND status IS NULL)
             GROUP BY 1 ORDER BY 2 DESC",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.get::<_, Option<&str>>(0).map(status).transpose()?,
                r.get(1),
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    let exceptions = c
        .query(
            &format!(
                "{FLAGGED} WHERE s.status IN ('exception', 'failed_attempt')
                 ORDER BY s.updated_at DESC LIMIT $1"
            ),
            &[&limit],
        )
        .await?
        .iter()
        .map(flagged)
        .collect::<Result<_, _>>()?;
    let mut stalled = Vec::new();
    for (status, after) in &rules.0 {
        let before = now.as_micros() - after.as_micros() as i64;
        let rows = c
            .query(
                &format!(
                    "{FLAGGED} WHERE s.status = $1 AND s.updated_at < $2
                     ORDER BY s.updated_at LIMIT $3"
                ),
                &[&status.as_str(), &before, &limit],
            )
            .await?;
        for r in &rows {
            stalled.push(flagged(r)?);
        }
    }
    stalled.sort_by_key(|f| f.updated_at);
    stalled.truncate(limit as usize);
    let quarantined = c
        .query_one(
            "SELECT count(*) FROM quarantine WHERE replayed_at IS NULL",
            &[],
        )
        .await?
        .get(0);
    let quarantine_oldest = c
        .query(
            "SELECT id, provider, reason, received_at FROM quarantine
             WHERE replayed_at IS NULL ORDER BY id LIMIT $1",
            &[&limit],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), Timestamp(r.get(3))))
        .collect();
    let failing = c
        .query(
            "SELECT s.id, s.url,
                 count(*) FILTER (WHERE d.state = 'failed'),
                 count(*) FILTER (WHERE d.state = 'pending' AND d.attempts > 0),
                 s.disabled_at IS NOT NULL
             FROM subscriptions s JOIN deliveries d ON d.subscription_id = s.id
             GROUP BY s.id
             HAVING count(*) FILTER (WHERE d.state = 'failed') > 0
                 OR count(*) FILTER (WHERE d.state = 'pending' AND d.attempts > 0) > 0
                 OR s.disabled_at IS NOT NULL
             ORDER BY 3 DESC, 4 DESC LIMIT $1",
            &[&limit],
        )
        .await?
        .iter()
        .map(|r| Failing {
            subscription_id: r.get(0),
            url: r.get(1),
            failed: r.get(2),
            retrying: r.get(3),
            disabled: r.get(4),
        })
        .collect();
    Ok(Overview {
        by_status,
        exceptions,
        stalled,
        quarantined,
        quarantine_oldest,
        failing,
        carriers: carriers(c).await?,
    })
}

async fn carriers(c: &Client) -> Result<Vec<CarrierFigures>, StoreError> {
    let mut figures: Vec<CarrierFigures> = c
        .query(
            "SELECT carrier, count(*), count(*) FILTER (WHERE status = 'exception')
             FROM shipments WHERE carrier IS NOT NULL AND order_ref IS NOT NULL
             GROUP BY carrier ORDER BY 2 DESC",
            &[],
        )
        .await?
        .iter()
        .map(|r| CarrierFigures {
            carrier: r.get(0),
            shipments: r.get(1),
            exceptions: r.get(2),
            ..CarrierFigures::default()
        })
        .collect();
    let recent = c
        .query(
            "SELECT carrier, status_at, event_seqs FROM shipments
             WHERE status = 'delivered' AND carrier IS NOT NULL AND order_ref IS NOT NULL
             ORDER BY updated_at DESC LIMIT $1",
            &[&TRANSIT_SAMPLE],
        )
        .await?;
    // One query for the pick-up scans of every sampled delivery.
    let mut owner = std::collections::HashMap::new();
    for (i, r) in recent.iter().enumerate() {
        for seq in decode_seqs(&r.get::<_, Option<Vec<u8>>>(2).unwrap_or_default()) {
            owner.insert(seq, i);
        }
    }
    let seqs: Vec<i64> = owner.keys().copied().collect();
    let mut picked_up: Vec<Option<i64>> = vec![None; recent.len()];
    for r in c
        .query(
            "SELECT e.seq, e.occurred_at FROM events e JOIN UNNEST($1::bigint[]) AS k(seq)
               ON e.seq = k.seq WHERE e.kind = 'picked_up'",
            &[&seqs],
        )
        .await?
    {
        if let Some(&i) = owner.get(&r.get::<_, i64>(0)) {
            let at: i64 = r.get(1);
            picked_up[i] = Some(picked_up[i].map_or(at, |p: i64| p.min(at)));
        }
    }
    let samples = recent.iter().zip(picked_up).filter_map(|(r, p)| {
        let delivered_at: Option<i64> = r.get(1);
        Some((r.get::<_, String>(0), delivered_at?, p))
    });
    add_transit(&mut figures, samples);
    Ok(figures)
}

/// Events received since `since`, among the newest `window` of the log.
pub(crate) async fn received_since(
    c: &Client,
    since: Timestamp,
    window: i64,
) -> Result<i64, StoreError> {
    Ok(c.query_one(
        "SELECT count(*) FROM events
         WHERE seq > (SELECT coalesce(max(seq), 0) FROM events) - $2 AND received_at >= $1",
        &[&since.as_micros(), &window],
    )
    .await?
    .get(0))
}
