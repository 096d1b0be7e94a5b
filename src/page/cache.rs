//! Prepared pages, kept per page source so that serving the same page again costs only the
//! execution: the blocks are found, the script laid out and the template compiled once.
//!
//! Bounded in entries and in bytes of page source; the least recently used page goes first.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// At most this many pages are kept, …
pub const MAX_PAGES: usize = 256;
/// … holding at most this many bytes of page source together; a larger page is never kept.
pub const MAX_BYTES: usize = 32 << 20;

struct Entry<T> {
  /// The page source, compared on every hit: a hash alone could mix two pages up.
  source: Arc<str>,
  value: Arc<T>,
  last_used: u64,
}

pub struct Cache<T> {
  entries: HashMap<u64, Entry<T>>,
  bytes: usize,
  tick: u64,
  max_pages: usize,
  max_bytes: usize,
}

impl<T> Cache<T> {
  pub fn new(max_pages: usize, max_bytes: usize) -> Cache<T> {
    Cache {
      entries: HashMap::new(),
      bytes: 0,
      tick: 0,
      max_pages,
      max_bytes,
    }
  }

  fn key(source: &str) -> u64 {
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
  }

  pub fn get(&mut self, source: &str) -> Option<Arc<T>> {
    self.tick += 1;
    let entry = self.entries.get_mut(&Self::key(source))?;
    if &*entry.source != source {
      return None;
    }
    entry.last_used = self.tick;
    Some(entry.value.clone())
  }

  pub fn insert(&mut self, source: &str, value: Arc<T>) {
    if source.len() > self.max_bytes || self.max_pages == 0 {
      return;
    }
    self.tick += 1;
    if let Some(old) = self.entries.remove(&Self::key(source)) {
      self.bytes -= old.source.len();
    }
    while self.entries.len() >= self.max_pages || self.bytes + source.len() > self.max_bytes {
      let Some((&oldest, _)) = self.entries.iter().min_by_key(|(_, e)| e.last_used) else {
        break;
      };
      let old = self
        .entries
        .remove(&oldest)
        .expect("the key was just found");
      self.bytes -= old.source.len();
    }
    self.bytes += source.len();
    self.entries.insert(
      Self::key(source),
      Entry {
        source: source.into(),
        value,
        last_used: self.tick,
      },
    );
  }

  #[cfg(test)]
  pub fn len(&self) -> usize {
    self.entries.len()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn returns_what_was_stored_for_the_same_source_only() {
    let mut c = Cache::new(4, 1000);
    c.insert("<p>a</p>", Arc::new(1));
    assert_eq!(c.get("<p>a</p>").as_deref(), Some(&1));
    assert_eq!(c.get("<p>b</p>"), None);
  }

  #[test]
  fn drops_the_least_recently_used_page_when_full() {
    let mut c = Cache::new(2, 1000);
    c.insert("a", Arc::new(1));
    c.insert("b", Arc::new(2));
    c.get("a");
    c.insert("c", Arc::new(3));
    assert_eq!(c.len(), 2);
    assert!(c.get("a").is_some());
    assert!(c.get("b").is_none());
    assert!(c.get("c").is_some());
  }

  #[test]
  fn stays_within_its_byte_budget() {
    let mut c = Cache::new(100, 10);
    c.insert("123456", Arc::new(1));
    c.insert("7890ab", Arc::new(2));
    assert_eq!(c.len(), 1);
    assert!(c.get("7890ab").is_some());
    c.insert("this page is too large", Arc::new(3));
    assert!(c.get("this page is too large").is_none());
    c.insert("7890ab", Arc::new(4));
    assert_eq!(c.get("7890ab").as_deref(), Some(&4));
    assert_eq!(c.len(), 1);
  }
}
