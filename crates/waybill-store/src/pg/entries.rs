//! The log entries this process has read or written, by seq.
//!
//! A batch folds each shipment it touches over all of that shipment's events, and
//! reading them back was half of a batch's load. But an event row is never rewritten
//! (replay rebuilds the projections, not the log), so the entry read or written once
//! under a seq is that seq's entry for ever: no other writer can make it stale, and
//! the cache needs no invalidation across processes. The shipment rows still come from
//! the database, locked, every time — they say which seqs a shipment has; only the
//! entries behind those seqs are remembered. A worker that the broker hands one set of
//! orders thus reads its shipments' events once, not at every batch.

use std::collections::HashMap;
use std::sync::Mutex;

use waybill_core::Entry;

use crate::cache::TwoGen;

/// Entries kept by default: about 60 MB at the most.
pub const DEFAULT_CAPACITY: usize = 500_000;

pub(crate) struct Entries {
    cache: Mutex<TwoGen<i64, Entry>>,
}

impl Entries {
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: Mutex::new(TwoGen::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TwoGen<i64, Entry>> {
        // The map holds only immutable facts: one left mid-insert by a panic is still
        // a set of true entries.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Copies the entries of `seqs` it holds into `found`; returns the seqs it lacks.
    pub fn lookup(&self, seqs: &[i64], found: &mut HashMap<i64, Entry>) -> Vec<i64> {
        let mut cache = self.lock();
        let mut missing = Vec::new();
        for &seq in seqs {
            match cache.get_mut(&seq) {
                Some(e) => {
                    found.insert(seq, e.clone());
                }
                None => missing.push(seq),
            }
        }
        missing
    }

    /// Keeps entries read from, or committed to, the log.
    pub fn keep(&self, entries: impl IntoIterator<Item = (i64, Entry)>) {
        let mut cache = self.lock();
        for (seq, e) in entries {
            cache.insert(seq, e);
            // Everything here is in the database already: aging may drop any of it.
            cache.maybe_age();
        }
    }
}

#[cfg(test)]
mod tests {
    use waybill_core::{EventKind, Timestamp};

    use super::*;

    fn entry(at: i64) -> Entry {
        Entry {
            occurred_at: Timestamp(at),
            kind: EventKind::Unmapped,
            key: at as u64,
            location: None,
        }
    }

    #[test]
    fn hands_back_what_it_kept_and_names_what_it_lacks() {
        let entries = Entries::new(100);
        entries.keep([(1, entry(10)), (3, entry(30))]);
        let mut found = HashMap::new();
        let missing = entries.lookup(&[1, 2, 3, 4], &mut found);
        assert_eq!(missing, vec![2, 4]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[&3].occurred_at, Timestamp(30));
    }

    #[test]
    fn stays_within_its_capacity() {
        let entries = Entries::new(10);
        entries.keep((0..1_000).map(|i| (i, entry(i))));
        let mut found = HashMap::new();
        let missing = entries.lookup(&(0..1_000).collect::<Vec<_>>(), &mut found);
        assert!(found.len() <= 10, "{} kept", found.len());
        // The latest ones survive.
        assert!(!missing.contains(&999));
    }
}
