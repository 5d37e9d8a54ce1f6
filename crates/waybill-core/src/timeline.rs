//! One shipment's events, kept in time order, and the fold that turns them into state.
//!
//! The fold is a pure function of the *set* of events: entries are sorted by
//! `(occurred_at, rank, key)`, so however events arrive, and however often, the result is
//! the same. Appending a non-terminal event that is newer than all others is the fast
//! path (one step); a late or terminal event is inserted in place and the shipment is
//! re-folded.
//!
//! Terminal events decide the outcome. When a shipment has any, the decisive one (see
//! [`machine::outcome_priority`]; the earliest of that status) always applies, so a
//! late, contradicting event can never undo a delivery: the shipment ends in it. Other
//! terminal events are flagged. A contradicting non-terminal event stamped before the
//! outcome (a `returning` before the `delivered`) is folded by the table as usual, and
//! may get the events between it and the outcome flagged.

use crate::event::EventKind;
use crate::machine::{self, Violation};
use crate::status::ShipmentStatus;
use crate::time::Timestamp;

/// What the fold needs of an event: little, so a cache of many shipments stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub occurred_at: Timestamp,
    pub kind: EventKind,
    /// [`crate::event_key`] of the event id: the dedup key and the last tie-break.
    pub key: u64,
    pub location: Option<Box<str>>,
}

impl Entry {
    fn sort_key(&self) -> (Timestamp, u8, u64) {
        (self.occurred_at, self.kind.rank(), self.key)
    }
}

/// What the fold made of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Changed (or confirmed) the shipment's status.
    Applied,
    /// Carries no status (order created, unmapped code): nothing to apply.
    Informational,
    /// Broke the state machine: kept in the timeline, not applied.
    Flagged(Violation),
}

/// A shipment's state: a projection of its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipmentState {
    pub status: Option<ShipmentStatus>,
    /// The highest-ranked status applied so far (see [`crate::machine`]).
    pub high_water: Option<ShipmentStatus>,
    /// When the current status was reached.
    pub status_at: Option<Timestamp>,
    /// The newest `occurred_at` of any entry.
    pub last_event_at: Option<Timestamp>,
    /// The location of the newest entry that has one.
    pub last_location: Option<Box<str>>,
}

impl ShipmentState {
    /// Folds one entry that is newer than every entry folded before it, by the table.
    pub fn step(&mut self, e: &Entry) -> Verdict {
        self.heard(e);
        let EventKind::Status(to) = e.kind else {
            return Verdict::Informational;
        };
        if let Err(v) = machine::check(self.status, self.high_water, to) {
            return Verdict::Flagged(v);
        }
        self.enter(to, e.occurred_at);
        Verdict::Applied
    }

    /// The time and place of an entry count whatever its verdict.
    fn heard(&mut self, e: &Entry) {
        self.last_event_at = Some(e.occurred_at);
        if e.location.is_some() {
            self.last_location.clone_from(&e.location);
        }
    }

    fn enter(&mut self, to: ShipmentStatus, at: Timestamp) {
        if self.status != Some(to) {
            self.status = Some(to);
            self.status_at = Some(at);
        }
        if to != ShipmentStatus::Exception && self.high_water.is_none_or(|hw| to.rank() > hw.rank())
        {
            self.high_water = Some(to);
        }
    }
}

/// The index and status of the event that decides the outcome, if any is terminal.
fn decisive(entries: &[Entry]) -> Option<(usize, ShipmentStatus)> {
    let mut best: Option<(usize, ShipmentStatus)> = None;
    for (i, e) in entries.iter().enumerate() {
        if let EventKind::Status(s) = e.kind
            && s.is_terminal()
            && best.is_none_or(|(_, b)| machine::outcome_priority(s) > machine::outcome_priority(b))
        {
            best = Some((i, s));
        }
    }
    best
}

/// Folds entries in timeline order, reporting each one's verdict.
fn fold(entries: &[Entry], mut verdict: impl FnMut(Verdict)) -> ShipmentState {
    let outcome = decisive(entries);
    let mut state = ShipmentState::default();
    for (i, e) in entries.iter().enumerate() {
        let v = match (outcome, e.kind) {
            (Some((at, outcome)), EventKind::Status(_)) if i == at => {
                state.heard(e);
                state.enter(outcome, e.occurred_at);
                Verdict::Applied
            }
            (Some((_, outcome)), EventKind::Status(status))
                if status != outcome && status.is_terminal() =>
            {
                state.heard(e);
                Verdict::Flagged(Violation::Contradicts { status, outcome })
            }
            _ => state.step(e),
        };
        verdict(v);
    }
    state
}

/// What inserting an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Duplicate,
    Added,
}

/// The ordered events of one shipment and the state they fold into.
#[derive(Debug, Clone, Default)]
pub struct ShipmentLog {
    entries: Vec<Entry>,
    state: ShipmentState,
}

impl ShipmentLog {
    /// Builds a log from entries in any order; of entries sharing a key, the first in
    /// timeline order stays.
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut entries: Vec<Entry> = entries.into_iter().collect();
        entries.sort_by_key(Entry::sort_key);
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        entries.retain(|e| seen.insert(e.key));
        let mut log = Self {
            entries,
            state: ShipmentState::default(),
        };
        log.refold();
        log
    }

    pub fn state(&self) -> &ShipmentState {
        &self.state
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn contains(&self, key: u64) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Adds an entry unless its key is already present.
    pub fn insert(&mut self, entry: Entry) -> Inserted {
        if self.contains(entry.key) {
            return Inserted::Duplicate;
        }
        let newest = self
            .entries
            .last()
            .is_none_or(|last| last.sort_key() < entry.sort_key());
        let terminal = matches!(entry.kind, EventKind::Status(s) if s.is_terminal());
        if newest && !terminal {
            self.state.step(&entry);
            self.entries.push(entry);
        } else {
            let at = self
                .entries
                .partition_point(|e| e.sort_key() < entry.sort_key());
            self.entries.insert(at, entry);
            self.refold();
        }
        Inserted::Added
    }

    fn refold(&mut self) {
        self.state = fold(&self.entries, |_| {});
    }

    /// The verdict on every entry, in timeline order.
    pub fn verdicts(&self) -> Vec<Verdict> {
        fold_verdicts(&self.entries)
    }
}

/// Folds entries that are already in timeline order and says what became of each.
pub fn fold_verdicts(entries: &[Entry]) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(entries.len());
    fold(entries, |v| out.push(v));
    out
}

/// Sorts entries into timeline order (the order the fold uses).
pub fn sort_entries<T>(items: &mut [T], entry: impl Fn(&T) -> &Entry) {
    items.sort_by_key(|t| entry(t).sort_key());
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus::*;

    fn e(at: i64, status: ShipmentStatus, key: u64) -> Entry {
        Entry {
            occurred_at: Timestamp(at),
            kind: EventKind::Status(status),
            key,
            location: Some(format!("loc{at}").into()),
        }
    }

    #[test]
    fn in_order_events_walk_the_ordinary_path() {
        let mut log = ShipmentLog::default();
        for (i, s) in [InfoReceived, PickedUp, InTransit, OutForDelivery, Delivered]
            .into_iter()
            .enumerate()
        {
            assert_eq!(log.insert(e(i as i64, s, i as u64)), Inserted::Added);
            assert_eq!(log.state().status, Some(s));
        }
        assert_eq!(log.state().last_location.as_deref(), Some("loc4"));
        assert_eq!(log.state().status_at, Some(Timestamp(4)));
    }

    #[test]
    fn a_duplicate_changes_nothing() {
        let mut log = ShipmentLog::default();
        log.insert(e(1, PickedUp, 7));
        let before = log.state().clone();
        assert_eq!(log.insert(e(5, Delivered, 7)), Inserted::Duplicate);
        assert_eq!(log.state(), &before);
        assert_eq!(log.entries().len(), 1);
    }

    #[test]
    fn a_late_event_lands_in_place_and_never_moves_the_shipment_back() {
        let mut log = ShipmentLog::default();
        log.insert(e(10, InfoReceived, 1));
        log.insert(e(30, OutForDelivery, 3));
        log.insert(e(20, InTransit, 2));
        assert_eq!(log.state().status, Some(OutForDelivery));
        assert_eq!(log.state().last_location.as_deref(), Some("loc30"));
        let order: Vec<u64> = log.entries().iter().map(|e| e.key).collect();
        assert_eq!(order, [1, 2, 3]);
    }

    #[test]
    fn a_backwards_scan_is_kept_and_flagged() {
        let mut log = ShipmentLog::default();
        log.insert(e(10, Delivered, 1));
        log.insert(e(20, InTransit, 2));
        assert_eq!(log.state().status, Some(Delivered));
        assert_eq!(log.entries().len(), 2);
        assert_eq!(
            log.verdicts(),
            [
                Verdict::Applied,
                Verdict::Flagged(Violation::NoEdge {
                    from: Delivered,
                    to: InTransit
                })
            ]
        );
        // The flagged scan still counts as the last thing heard of the parcel.
        assert_eq!(log.state().last_event_at, Some(Timestamp(20)));
    }

    #[test]
    fn a_late_contradiction_never_undoes_the_outcome() {
        // Delivered, then a `returning` and a `cancelled` stamped earlier arrive late.
        let mut log = ShipmentLog::default();
        log.insert(e(1, InfoReceived, 1));
        log.insert(e(4, OutForDelivery, 2));
        log.insert(e(5, Delivered, 3));
        log.insert(e(3, Returning, 4));
        log.insert(e(2, Cancelled, 5));
        assert_eq!(log.state().status, Some(Delivered));
        assert_eq!(log.state().high_water, Some(Delivered));
        let verdicts = log.verdicts();
        assert_eq!(
            verdicts[1],
            Verdict::Flagged(Violation::Contradicts {
                status: Cancelled,
                outcome: Delivered
            })
        );
        assert_eq!(verdicts[4], Verdict::Applied, "the delivery stands");
    }

    #[test]
    fn the_outcome_is_the_same_whichever_terminal_arrives_first() {
        let events = [
            e(1, InfoReceived, 1),
            e(3, Returned, 2),
            e(5, Delivered, 3),
            e(7, Cancelled, 4),
        ];
        let mut forward = ShipmentLog::default();
        let mut backward = ShipmentLog::default();
        for ev in events.iter().cloned() {
            forward.insert(ev);
        }
        for ev in events.iter().rev().cloned() {
            backward.insert(ev);
        }
        assert_eq!(forward.state(), backward.state());
        assert_eq!(forward.state().status, Some(Delivered));
        assert_eq!(forward.state().status_at, Some(Timestamp(5)));
    }

    #[test]
    fn from_entries_drops_every_repeated_key() {
        let log =
            ShipmentLog::from_entries([e(1, PickedUp, 7), e(9, Delivered, 3), e(5, InTransit, 7)]);
        assert_eq!(log.entries().len(), 2);
        assert_eq!(log.entries()[0].occurred_at, Timestamp(1));
    }

    #[test]
    fn same_instant_events_fold_by_rank() {
        let log = ShipmentLog::from_entries([
            e(5, Delivered, 1),
            e(5, InfoReceived, 2),
            e(5, PickedUp, 3),
        ]);
        assert_eq!(log.state().status, Some(Delivered));
        assert!(log.verdicts().iter().all(|v| *v == Verdict::Applied));
    }

    #[test]
    fn informational_entries_move_time_but_not_status() {
        let mut log = ShipmentLog::default();
        log.insert(e(1, PickedUp, 1));
        log.insert(Entry {
            occurred_at: Timestamp(9),
            kind: EventKind::Unmapped,
            key: 2,
            location: None,
        });
        assert_eq!(log.state().status, Some(PickedUp));
        assert_eq!(log.state().last_event_at, Some(Timestamp(9)));
        assert_eq!(log.state().last_location.as_deref(), Some("loc1"));
    }
}
