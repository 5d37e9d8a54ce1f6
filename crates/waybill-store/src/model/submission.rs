//! What is submitted to a store, and what became of each item: the same for the
//! embedded writer and for PostgreSQL.

use waybill_core::engine::{Intake, Rejection};
use waybill_core::{Timestamp, TrackingEvent};

use crate::{HookOp, NewQuarantine, SignOut};

/// What became of one submitted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// New, applied and durable.
    Accepted,
    /// Already in the log: acknowledged, nothing changed.
    Duplicate,
    /// Could not be linked to an order: not stored.
    Rejected(Rejection),
    /// `Submission::NewOrder` named an order that already exists.
    OrderExists,
    /// `Submission::Quarantine` kept the push under this id.
    Quarantined(i64),
    /// `Submission::Hook` did what it said.
    Done,
    /// `Submission::Hook` named a subscription or delivery that does not exist.
    Missing,
}

impl From<waybill_core::engine::Outcome> for ItemOutcome {
    fn from(o: waybill_core::engine::Outcome) -> Self {
        use waybill_core::engine::Outcome;
        match o {
            Outcome::Accepted => Self::Accepted,
            Outcome::Duplicate => Self::Duplicate,
            Outcome::OrderExists => Self::OrderExists,
            Outcome::Rejected(r) => Self::Rejected(r),
        }
    }
}

/// How an outcome is counted in every report (the API's, `waybill ingest`'s, the broker
/// worker's), so that they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Accepted,
    /// Nothing changed: a duplicate, or an existing order is to a create what a
    /// duplicate is to an event.
    Duplicate,
    Rejected,
}

impl ItemOutcome {
    pub fn counted(&self) -> Counted {
        match self {
            Self::Accepted | Self::Quarantined(_) | Self::Done => Counted::Accepted,
            Self::Duplicate | Self::OrderExists | Self::Missing => Counted::Duplicate,
            Self::Rejected(_) => Counted::Rejected,
        }
    }
}

#[cfg(test)]
mod counted_tests {
    use super::*;

    /// Every report counts alike: nothing changed is a duplicate, whatever the kind of
    /// submission; only a refusal is rejected.
    #[test]
    fn outcomes_count_the_same_everywhere() {
        use waybill_core::OrderId;
        let cases = [
            (ItemOutcome::Accepted, Counted::Accepted),
            (ItemOutcome::Quarantined(7), Counted::Accepted),
            (ItemOutcome::Done, Counted::Accepted),
            (ItemOutcome::Duplicate, Counted::Duplicate),
            (ItemOutcome::OrderExists, Counted::Duplicate),
            (ItemOutcome::Missing, Counted::Duplicate),
            (
                ItemOutcome::Rejected(Rejection::UnknownOrder(OrderId::parse("o").unwrap())),
                Counted::Rejected,
            ),
        ];
        for (out, counted) in cases {
            assert_eq!(out.counted(), counted, "{out:?}");
        }
    }
}

/// A unit of work for the writer.
#[derive(Debug)]
pub enum Submission {
    /// Canonical events (and link records): a scan for a parcel no order has claimed
    /// needs an `order_id`.
    Events(Vec<TrackingEvent>),
    /// Create an order (`POST /v1/orders`): refused if it exists.
    NewOrder(TrackingEvent),
    /// A provider push: scans for unclaimed parcels are kept on unlinked shipments.
    /// `resolves` names the quarantined push this replays, and when: it is marked
    /// replayed in the same transaction, unless an event was refused.
    Push {
        events: Vec<TrackingEvent>,
        resolves: Option<(i64, Timestamp)>,
    },
    /// Keep a push that could not be read.
    Quarantine(NewQuarantine),
    /// A write to subscriptions or deliveries.
    Hook(HookOp),
    /// Forget a dashboard session.
    SignOut(SignOut),
}

/// A submission's work, by kind.
pub(crate) enum Work<'s> {
    Apply(&'s [TrackingEvent], Intake),
    Keep(&'s NewQuarantine),
    Hook(&'s HookOp),
    SignOut(&'s SignOut),
}

impl Submission {
    /// What the submission asks of a transaction.
    pub(crate) fn work(&self) -> Work<'_> {
        match self {
            Self::Events(evs) => Work::Apply(evs, Intake::Canonical),
            Self::NewOrder(ev) => Work::Apply(std::slice::from_ref(ev), Intake::NewOrder),
            Self::Push { events, .. } => Work::Apply(events, Intake::Provider),
            Self::Quarantine(q) => Work::Keep(q),
            Self::Hook(op) => Work::Hook(op),
            Self::SignOut(s) => Work::SignOut(s),
        }
    }

    /// The quarantined push this replays, if it applied without a refusal.
    pub(crate) fn resolved(&self, outcomes: &[ItemOutcome]) -> Option<(i64, Timestamp)> {
        match self {
            Self::Push {
                resolves: Some(r), ..
            } if !outcomes
                .iter()
                .any(|o| matches!(o, ItemOutcome::Rejected(_))) =>
            {
                Some(*r)
            }
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Events(v) | Self::Push { events: v, .. } => v.len(),
            Self::NewOrder(_) | Self::Quarantine(_) | Self::Hook(_) | Self::SignOut(_) => 1,
        }
    }
}
