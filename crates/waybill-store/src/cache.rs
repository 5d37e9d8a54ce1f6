//! A bounded map with approximately-LRU eviction, in two generations.
//!
//! Lookups hit the young generation, then the old one (promoting what they find). When
//! the young one reaches half the capacity, the old one is dropped and the young one
//! ages. Everything dropped is already in the database, so eviction costs a reload at
//! worst, never data. Simpler and faster than a linked LRU for the writer's pattern:
//! the hot shipments are the ones that moved recently. Keys come from clients, so the
//! hash is seeded per process (foldhash's RandomState): fast, and not open to chosen
//! collisions.

use std::hash::{BuildHasher, Hash};

use hashbrown::hash_table::{Entry, HashTable};

/// The generations are hash tables of `(key, value)` probed once per lookup: the
/// writer looks up a shipment or order several times per event, so a second probe on
/// every hit (what a map's `contains_key` then `get_mut` costs) is measurable.
pub struct TwoGen<K, V> {
    young: HashTable<(K, V)>,
    old: HashTable<(K, V)>,
    hasher: foldhash::fast::RandomState,
    half: usize,
}

impl<K: Hash + Eq + Clone, V> TwoGen<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            young: HashTable::new(),
            old: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            half: (capacity / 2).max(1),
        }
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.get_or_load(k, || Ok::<_, std::convert::Infallible>(None))
            .unwrap_or_else(|never| match never {})
    }

    /// The value under `k`, from the cache or else from `load` (and kept).
    pub fn get_or_load<E>(
        &mut self,
        k: &K,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<&mut V>, E> {
        let hash = self.hasher.hash_one(k);
        let hasher = &self.hasher;
        match self
            .young
            .entry(hash, |e| e.0 == *k, |e| hasher.hash_one(&e.0))
        {
            Entry::Occupied(o) => Ok(Some(&mut o.into_mut().1)),
            Entry::Vacant(slot) => {
                let kv = match self.old.find_entry(hash, |e| e.0 == *k) {
                    Ok(found) => found.remove().0,
                    Err(_) => match load()? {
                        Some(v) => (k.clone(), v),
                        None => return Ok(None),
                    },
                };
                Ok(Some(&mut slot.insert(kv).into_mut().1))
            }
        }
    }

    pub fn insert(&mut self, k: K, v: V) -> &mut V {
        let hash = self.hasher.hash_one(&k);
        if let Ok(found) = self.old.find_entry(hash, |e| e.0 == k) {
            found.remove();
        }
        let hasher = &self.hasher;
        let slot = match self
            .young
            .entry(hash, |e| e.0 == k, |e| hasher.hash_one(&e.0))
        {
            Entry::Occupied(o) => {
                let kv = o.into_mut();
                kv.1 = v;
                return &mut kv.1;
            }
            Entry::Vacant(slot) => slot,
        };
        &mut slot.insert((k, v)).into_mut().1
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        let hash = self.hasher.hash_one(k);
        if let Ok(found) = self.young.find_entry(hash, |e| e.0 == *k) {
            return Some(found.remove().0.1);
        }
        match self.old.find_entry(hash, |e| e.0 == *k) {
            Ok(found) => Some(found.remove().0.1),
            Err(_) => None,
        }
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

    #[test]
    fn loads_only_on_a_miss_and_keeps_only_what_exists() {
        let mut c: TwoGen<u32, &str> = TwoGen::new(8);
        let mut loads = 0;
        let mut load = |v: Option<&'static str>| {
            loads += 1;
            Ok::<_, ()>(v)
        };
        assert_eq!(c.get_or_load(&1, || load(None)), Ok(None));
        assert_eq!(c.len(), 0, "a row that does not exist is not cached");
        assert_eq!(c.get_or_load(&1, || load(Some("a"))), Ok(Some(&mut "a")));
        assert_eq!(c.get_or_load(&1, || load(Some("b"))), Ok(Some(&mut "a")));
        c.insert(2, "x");
        c.maybe_age();
        assert_eq!(c.get_or_load(&2, || load(Some("y"))), Ok(Some(&mut "x")));
        assert_eq!(loads, 2, "hits in either generation load nothing");
        assert_eq!(c.get_or_load(&3, || Err(())), Err(()));
    }
}
