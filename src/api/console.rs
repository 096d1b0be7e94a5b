//! `console.log/info/warn/error/debug`: captured, never printed. The formatting (Node's
//! `util.format` rules, objects as JSON) is done by the prelude; this side keeps the entries and
//! caps them.

use std::sync::{Arc, Mutex};

use rquickjs::{Ctx, Object};

use super::{check_running, define, rust_string, Shared};
use crate::outcome::{LogEntry, SharedLogs};

/// At most this many entries are kept, …
pub const MAX_ENTRIES: usize = 100;
/// … holding at most this many bytes of messages; past either, one final entry says so.
pub const MAX_BYTES: usize = 64 * 1024;

const LEVELS: [&str; 5] = ["log", "info", "warn", "error", "debug"];

#[derive(Debug, Default)]
pub struct Logs {
  entries: SharedLogs,
  bytes: usize,
  truncated: bool,
}

impl Logs {
  pub fn shared(&self) -> SharedLogs {
    Arc::clone(&self.entries)
  }

  pub fn take(&self) -> Vec<LogEntry> {
    std::mem::take(&mut *lock(&self.entries))
  }

  pub fn push(&mut self, level: &'static str, mut message: String) {
    if self.truncated {
      return;
    }
    let mut entries = lock(&self.entries);
    let room = MAX_BYTES - self.bytes;
    if entries.len() < MAX_ENTRIES && message.len() <= room {
      self.bytes += message.len();
      entries.push(LogEntry {
        level: level.into(),
        message,
      });
      return;
    }
    // Keep what fits of the entry that overflows, then close the log.
    if entries.len() < MAX_ENTRIES && room > 0 {
      let mut cut = room;
      while !message.is_char_boundary(cut) {
        cut -= 1;
      }
      message.truncate(cut);
      self.bytes += message.len();
      entries.push(LogEntry {
        level: level.into(),
        message,
      });
    }
    self.truncated = true;
    entries.push(LogEntry {
      level: "warn".into(),
      message: format!(
        "log truncated: a script may write at most {MAX_ENTRIES} entries and {MAX_BYTES} bytes"
      ),
    });
  }
}

fn lock(logs: &Mutex<Vec<LogEntry>>) -> std::sync::MutexGuard<'_, Vec<LogEntry>> {
  logs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Adds `host.log(level, message)` for the prelude's `console`.
pub fn init<'js>(ctx: &Ctx<'js>, state: &Shared, host: &Object<'js>) -> rquickjs::Result<()> {
  let s = state.clone();
  define(
    ctx,
    host,
    "log",
    move |ctx: Ctx<'js>, level: String, message: rquickjs::String<'js>| -> rquickjs::Result<()> {
      check_running(&ctx, &s)?;
      let message = rust_string(&message)?;
      let level = LEVELS
        .iter()
        .find(|l| **l == level)
        .copied()
        .unwrap_or("log");
      s.borrow_mut().logs.push(level, message);
      Ok(())
    },
  )
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn keeps_a_hundred_entries_then_says_the_log_was_truncated() {
    let mut logs = Logs::default();
    for i in 0..150 {
      logs.push("log", format!("line {i}"));
    }
    let entries = logs.take();
    assert_eq!(entries.len(), MAX_ENTRIES + 1);
    assert_eq!(entries[99].message, "line 99");
    assert!(entries[100].message.starts_with("log truncated"));
  }

  #[test]
  fn cuts_the_message_that_passes_the_byte_cap_at_a_character_boundary() {
    let mut logs = Logs::default();
    logs.push("info", "é".repeat(MAX_BYTES));
    let entries = logs.take();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].message.len() <= MAX_BYTES);
    assert!(entries[0].message.chars().all(|c| c == 'é'));
    assert_eq!(entries[1].level, "warn");
  }
}
