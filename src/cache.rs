//! The one bounded cache of the addon, for what is worth keeping between executions: prepared
//! pages, compiled scripts, HTTP clients per proxy configuration. Bounded in entries and in bytes
//! (as each entry declares them); the least recently used entry goes first. Caches hold a few
//! hundred entries at most, so finding the oldest by a scan costs less than keeping an order.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

struct Entry<V> {
  value: V,
  bytes: usize,
  last_used: u64,
}

pub struct BoundedCache<K, V> {
  entries: HashMap<K, Entry<V>>,
  bytes: usize,
  tick: u64,
  max_entries: usize,
  max_bytes: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedCache<K, V> {
  pub fn new(max_entries: usize, max_bytes: usize) -> Self {
    BoundedCache {
      entries: HashMap::new(),
      bytes: 0,
      tick: 0,
      max_entries,
      max_bytes,
    }
  }

  pub fn get<Q>(&mut self, key: &Q) -> Option<V>
  where
    K: Borrow<Q>,
    Q: Hash + Eq + ?Sized,
  {
    self.tick += 1;
    let entry = self.entries.get_mut(key)?;
    entry.last_used = self.tick;
    Some(entry.value.clone())
  }

  /// Keeps `value` under `key`, counting it as `bytes`; one larger than a quarter of the byte
  /// budget is not kept, so that one entry cannot empty the cache.
  pub fn insert(&mut self, key: K, value: V, bytes: usize) {
    if bytes > self.max_bytes / 4 || self.max_entries == 0 {
      return;
    }
    self.tick += 1;
    if let Some(old) = self.entries.remove(&key) {
      self.bytes -= old.bytes;
    }
    while self.entries.len() >= self.max_entries || self.bytes + bytes > self.max_bytes {
      let Some(oldest) = self
        .entries
        .iter()
        .min_by_key(|(_, e)| e.last_used)
        .map(|(k, _)| k.clone())
      else {
        break;
      };
      let old = self
        .entries
        .remove(&oldest)
        .expect("the key was just found");
      self.bytes -= old.bytes;
    }
    self.bytes += bytes;
    let last_used = self.tick;
    self.entries.insert(
      key,
      Entry {
        value,
        bytes,
        last_used,
      },
    );
  }

  #[cfg(test)]
  pub fn len(&self) -> usize {
    self.entries.len()
  }

  #[cfg(test)]
  pub fn bytes(&self) -> usize {
    self.bytes
  }
}

/// Locks a process-wide cache. A cache holds no invariant that a panic elsewhere could break, so a
/// poisoned lock is used as it is.
pub fn lock<K, V>(cache: &Mutex<BoundedCache<K, V>>) -> MutexGuard<'_, BoundedCache<K, V>> {
  cache.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn returns_what_was_stored_for_the_same_key_only() {
    let mut c = BoundedCache::new(4, 1000);
    c.insert("<p>a</p>".to_string(), 1, 8);
    assert_eq!(c.get("<p>a</p>"), Some(1));
    assert_eq!(c.get("<p>b</p>"), None);
  }

  #[test]
  fn drops_the_least_recently_used_entry_when_full() {
    let mut c = BoundedCache::new(2, 1000);
    c.insert("a", 1, 1);
    c.insert("b", 2, 1);
    c.get("a");
    c.insert("c", 3, 1);
    assert_eq!(c.len(), 2);
    assert!(c.get("a").is_some());
    assert!(c.get("b").is_none());
    assert!(c.get("c").is_some());
  }

  #[test]
  fn stays_within_its_byte_budget_and_never_keeps_an_entry_past_a_quarter_of_it() {
    let mut c = BoundedCache::new(100, 40);
    c.insert("a", 1, 10);
    c.insert("b", 2, 10);
    c.insert("c", 3, 10);
    c.insert("d", 4, 10);
    c.insert("e", 5, 10);
    assert_eq!((c.len(), c.bytes()), (4, 40));
    assert!(c.get("a").is_none());
    c.insert("huge", 6, 11);
    assert!(c.get("huge").is_none());
    c.insert("e", 7, 2);
    assert_eq!((c.get("e"), c.bytes()), (Some(7), 32));
  }

  #[test]
  fn keeps_an_entry_in_use_all_along() {
    let mut c = BoundedCache::new(512, usize::MAX);
    for i in 0..600u32 {
      c.insert(i, i, 1);
      assert_eq!(c.get(&0), Some(0), "entry 0 is used all along and stays");
    }
    assert_eq!(c.len(), 512);
  }
}
