//! What the operations dashboard shows, on either backend: shipments by status, those
//! that want attention, failing endpoints, carriers' transit times; and the stall rules.

use waybill_core::{ShipmentStatus, Timestamp};

/// A shipment that wants someone's attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flagged {
    pub order_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub status: ShipmentStatus,
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

/// Per carrier: how long parcels take from pick-up to delivery, and how often they
/// run into an exception.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CarrierFigures {
    pub carrier: String,
    pub shipments: i64,
    pub exceptions: i64,
    /// Pick-up to delivery, in hours, over the most recent deliveries sampled.
    pub transit_p50_hours: Option<f64>,
    pub transit_p90_hours: Option<f64>,
    pub delivered_sampled: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Overview {
    /// Shipments of orders, by status (`none` for those without a status yet).
    pub by_status: Vec<(Option<ShipmentStatus>, i64)>,
    pub exceptions: Vec<Flagged>,
    pub stalled: Vec<Flagged>,
    pub quarantined: i64,
    /// The oldest pushes waiting in quarantine: id, provider, reason, received.
    pub quarantine_oldest: Vec<(i64, String, String, Timestamp)>,
    pub failing: Vec<Failing>,
    pub carriers: Vec<CarrierFigures>,
}

/// The most recent deliveries whose transit times are measured.
pub(crate) const TRANSIT_SAMPLE: i64 = 500;

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i])
}

/// Fills in the transit percentiles from sampled deliveries: carrier, delivered at, and
/// the first pick-up scan, if any (µs).
pub(crate) fn add_transit(
    figures: &mut [CarrierFigures],
    samples: impl IntoIterator<Item = (String, i64, Option<i64>)>,
) {
    let mut by_carrier: std::collections::HashMap<String, Vec<f64>> = Default::default();
    for (carrier, delivered_at, picked_up) in samples {
        if let Some(p) = picked_up.filter(|p| *p <= delivered_at) {
            by_carrier
                .entry(carrier)
                .or_default()
                .push((delivered_at - p) as f64 / 3_600_000_000.0);
        }
    }
    for f in figures {
        if let Some(mut hours) = by_carrier.remove(&f.carrier) {
            hours.sort_by(f64::total_cmp);
            f.transit_p50_hours = percentile(&hours, 0.5);
            f.transit_p90_hours = percentile(&hours, 0.9);
            f.delivered_sampled = hours.len();
        }
    }
}

/// How long a shipment may go without a scan, per status, before it counts as stalled.
#[derive(Debug, Clone)]
pub struct StallRules(pub Vec<(ShipmentStatus, std::time::Duration)>);

impl StallRules {
    /// The defaults, with `in_transit=72,out_for_delivery=24` (hours) laid over them.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = Self::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (status, hours) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not STATUS=HOURS"))?;
            let name = status.trim();
            let status = ShipmentStatus::parse(name)
                .filter(|s| !s.is_terminal())
                .ok_or_else(|| format!("{name:?} is not a status a shipment can stall in"))?;
            let hours: u64 = hours
                .trim()
                .parse()
                .map_err(|_| format!("{hours:?} is not a number of hours"))?;
            let limit = std::time::Duration::from_secs(hours * 3600);
            match rules.0.iter_mut().find(|(s, _)| *s == status) {
                Some(rule) => rule.1 = limit,
                None => rules.0.push((status, limit)),
            }
        }
        Ok(rules)
    }
}

impl Default for StallRules {
    fn default() -> Self {
        let h = |n: u64| std::time::Duration::from_secs(n * 3600);
        use ShipmentStatus as S;
        Self(vec![
            (S::InfoReceived, h(72)),
            (S::PickedUp, h(48)),
            (S::InTransit, h(72)),
            (S::OutForDelivery, h(24)),
            (S::FailedAttempt, h(48)),
            (S::AvailableForPickup, h(120)),
            (S::Returning, h(168)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_limits_are_configurable_per_status() {
        let r = StallRules::parse("in_transit=12, exception=6").unwrap();
        let get = |s: &str| {
            let s = ShipmentStatus::parse(s).unwrap();
            r.0.iter().find(|(k, _)| *k == s).unwrap().1.as_secs() / 3600
        };
        assert_eq!(
            (get("in_transit"), get("exception"), get("picked_up")),
            (12, 6, 48)
        );
        assert!(StallRules::parse("delivered=1").is_err());
        assert!(StallRules::parse("in_transit").is_err());
        assert!(StallRules::parse("in_transit=soon").is_err());
    }
}
