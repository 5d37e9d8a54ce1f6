//! Group commit on PostgreSQL: concurrent submissions of events in one process become
//! one transaction.
//!
//! Sixty-four HTTP clients posting batches of 100 would otherwise be sixty-four
//! transactions, each paying a commit's flush, and fighting over the rows their events
//! share (an order's events arrive from several carriers at once). Instead the first
//! submission that finds nobody committing starts a leader; everything that arrives
//! while the leader's transaction runs waits in the queue, and the leader takes it all
//! (up to [`MERGE_LIMIT`] events) as the next transaction. One caller alone pays
//! nothing but a hand-over; many pay one flush between them. This is what the
//! embedded writer does with its channel, for the same reason.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::oneshot;
use waybill_core::TrackingEvent;

use crate::StoreError;
use crate::model::submission::ItemOutcome;

/// The most events one merged transaction takes. Larger submissions go alone.
pub const MERGE_LIMIT: usize = 4_096;

pub(crate) type Answer = oneshot::Sender<Result<Vec<ItemOutcome>, StoreError>>;

/// One submission waiting for a leader.
pub(crate) struct Waiter {
    pub events: Vec<TrackingEvent>,
    pub answer: Answer,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Waiter>,
    leading: bool,
}

#[derive(Default)]
pub(crate) struct Group {
    state: Mutex<State>,
}

impl Group {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update below leaves the state whole: a poisoned lock's data is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a submission; `true` when nobody leads and the caller must start a
    /// leader.
    pub fn join(&self, waiter: Waiter) -> bool {
        let mut s = self.lock();
        s.waiting.push_back(waiter);
        !std::mem::replace(&mut s.leading, true)
    }

    /// The next transaction's submissions, in the order they came; `None` (and the
    /// leader stops) when nothing waits.
    pub fn next(&self) -> Option<Vec<Waiter>> {
        let mut s = self.lock();
        let mut taken = Vec::new();
        let mut events = 0;
        while let Some(w) = s.waiting.front() {
            if !taken.is_empty() && events + w.events.len() > MERGE_LIMIT {
                break;
            }
            events += w.events.len();
            taken.extend(s.waiting.pop_front());
        }
        if taken.is_empty() {
            s.leading = false;
            return None;
        }
        Some(taken)
    }

    /// The leader ended without emptying the queue (it panicked): the next submission
    /// starts another, which takes what waits.
    pub fn abandon(&self) {
        self.lock().leading = false;
    }
}

/// Merges the waiters' events into one list; returns it with each waiter's share.
pub(crate) fn merge(group: Vec<Waiter>) -> (Vec<TrackingEvent>, Vec<(usize, Answer)>) {
    let total = group.iter().map(|w| w.events.len()).sum();
    let mut events = Vec::with_capacity(total);
    let mut shares = Vec::with_capacity(group.len());
    for w in group {
        shares.push((w.events.len(), w.answer));
        events.extend(w.events);
    }
    (events, shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(
        n: usize,
    ) -> (
        Waiter,
        oneshot::Receiver<Result<Vec<ItemOutcome>, StoreError>>,
    ) {
        let (answer, rx) = oneshot::channel();
        let ev = TrackingEvent {
            event_id: "e".into(),
            order_id: None,
            tracking: None,
            kind: waybill_core::EventKind::OrderCreated,
            occurred_at: waybill_core::Timestamp(0),
            utc_offset_seconds: 0,
            received_at: waybill_core::Timestamp(0),
            location: None,
            description: None,
            raw_status: None,
            details: None,
        };
        let events = vec![ev; n];
        (Waiter { events, answer }, rx)
    }

    #[test]
    fn the_first_leads_and_the_rest_wait_for_its_next_transaction() {
        let g = Group::default();
        let (a, _ra) = waiter(1);
        let (b, _rb) = waiter(2);
        assert!(g.join(a), "nobody led: the first starts a leader");
        assert!(!g.join(b), "a leader is there: the second only waits");
        let taken = g.next().unwrap();
        assert_eq!(taken.len(), 2);
        assert!(g.next().is_none());
        let (c, _rc) = waiter(1);
        assert!(g.join(c), "the leader stopped when nothing waited");
    }

    #[test]
    fn a_transaction_stays_within_the_limit_but_always_takes_one() {
        let g = Group::default();
        let (big, _r1) = waiter(MERGE_LIMIT - 1);
        let (two, _r2) = waiter(2);
        let (one, _r3) = waiter(1);
        g.join(big);
        g.join(two);
        g.join(one);
        assert_eq!(g.next().unwrap().len(), 1);
        let rest = g.next().unwrap();
        let (events, shares) = merge(rest);
        assert_eq!(events.len(), 3);
        assert_eq!(
            shares.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![2, 1]
        );
    }

    #[test]
    fn an_abandoned_queue_is_taken_by_the_next_leader() {
        let g = Group::default();
        let (a, _ra) = waiter(1);
        assert!(g.join(a));
        g.abandon();
        let (b, _rb) = waiter(1);
        assert!(g.join(b));
        assert_eq!(g.next().unwrap().len(), 2);
    }
}
