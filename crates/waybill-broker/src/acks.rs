//! Acknowledgements in runs: one frame for a whole batch, never one for a message that
//! is still open.
//!
//! Acknowledging each message on its own cost a frame, a wake of the connection's I/O
//! thread and a wake back, per message: most of a worker's CPU went to switching
//! threads. AMQP lets one `basic.ack` with `multiple` cover every delivery up to a tag,
//! and a channel numbers its deliveries 1, 2, 3, … But the partitions' consumers hand
//! their messages over independently, so a batch may hold tag 11 while tag 10 still
//! waits for the next one: acknowledging "up to 11" would then let the broker forget a
//! message nobody applied. So the worker acknowledges only up to the end of the run of
//! finished tags that starts at the channel's first delivery; a tag that finishes later
//! extends the run, and the next batch's frame covers it.

use std::collections::BTreeSet;

/// The finished deliveries of one channel (a session: a new channel starts at 1).
#[derive(Debug, Default)]
pub struct Acks {
    /// Every tag up to this one is acknowledged.
    acked: u64,
    /// Finished tags above a gap.
    done: BTreeSet<u64>,
}

impl Acks {
    /// Marks a delivery as finished: applied, or kept aside as a dead letter.
    pub fn finish(&mut self, tag: u64) {
        if tag > self.acked {
            self.done.insert(tag);
        }
    }

    /// The tag to acknowledge now with `multiple`, if the run of finished tags grew.
    pub fn advance(&mut self) -> Option<u64> {
        let before = self.acked;
        while self.done.first() == Some(&(self.acked + 1)) {
            self.done.pop_first();
            self.acked += 1;
        }
        (self.acked > before).then_some(self.acked)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_gap_holds_back_what_follows_it() {
        let mut a = Acks::default();
        a.finish(1);
        a.finish(2);
        a.finish(4);
        assert_eq!(a.advance(), Some(2));
        assert_eq!(a.advance(), None, "3 is still open");
        a.finish(3);
        assert_eq!(a.advance(), Some(4), "3 closes the gap: 4 goes with it");
    }

    proptest! {
        /// Whatever order the deliveries finish in, an acknowledgement never covers a
        /// delivery that is open, and once all have finished all are acknowledged.
        #[test]
        fn never_acknowledges_an_open_delivery(order in Just((1..=60u64).collect::<Vec<_>>()).prop_shuffle(),
                                               cuts in proptest::collection::vec(1..10usize, 1..30)) {
            let mut a = Acks::default();
            let mut finished = BTreeSet::new();
            let mut acked = 0;
            let mut rest = order.as_slice();
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (batch, more) = rest.split_at((*cut).min(rest.len()));
                rest = more;
                for t in batch {
                    a.finish(*t);
                    finished.insert(*t);
                }
                if let Some(upto) = a.advance() {
                    prop_assert!(upto > acked);
                    prop_assert!((1..=upto).all(|t| finished.contains(&t)), "acked {upto} with one open");
                    acked = upto;
                }
            }
            prop_assert_eq!(acked, 60);
        }
    }
}
