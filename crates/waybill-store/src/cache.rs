//! A bounded map with approximately-LRU eviction, in two generations.
//!
//! Lookups hit the young generation, then the old one (promoting what they find). When
//! the young one reaches half the capacity, the old one is dropped and the young one
//! ages. Everything dropped is already in the database, so eviction costs a reload at
//! worst, never data. Simpler and faster than a linked LRU for the writer's pattern:
//! the hot shipments are the ones that moved recently. Keys come from clients, so the
//! hash is seeded per process (foldhash's RandomState): fast, and not open to chosen
//! collisions.

use std::hash::Hash;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub struct TwoGen<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    half: usize,
}

impl<K: Hash + Eq + Clone, V> TwoGen<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            young: HashMap::default(),
            old: HashMap::default(),
            half: (capacity / 2).max(1),
        }
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        if !self.young.contains_key(k) {
            let v = self.old.remove(k)?;
            self.young.insert(k.clone(), v);
        }
        self.young.get_mut(k)
    }

    pub fn insert(&mut self, k: K, v: V) -> &mut V {
        self.old.remove(&k);
        self.young.entry(k).insert_entry(v).into_mut()
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.young.remove(k).or_else(|| self.old.remove(k))
    }

    /// Would [`TwoGen::maybe_age`] drop anything now?
    pub fn wants_to_age(&self) -> bool {
        self.young.len() >= self.half
    }

    /// Ages the generations if the young one is full. Call only when nothing in the
    /// cache is ahead of the database (between batches).
    pub fn maybe_age(&mut self) {
        if self.young.len() >= self.half {
            self.old = std::mem::take(&mut self.young);
        }
    }

    pub fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_recently_used_and_bounds_size() {
        let mut c = TwoGen::new(4);
        c.insert(1, "a");
        c.insert(2, "b");
        c.maybe_age(); // young {} old {1,2}
        assert_eq!(c.get_mut(&1), Some(&mut "a")); // promoted
        c.insert(3, "c");
        c.maybe_age(); // old {1,3}, 2 is gone
        assert_eq!(c.get_mut(&2), None);
        assert_eq!(c.get_mut(&3), Some(&mut "c"));
        assert!(c.len() <= 4);
        assert_eq!(c.remove(&3), Some("c"));
        assert_eq!(c.remove(&3), None);
    }
}
