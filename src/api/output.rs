//! The output budget: the result an execution hands back (variables, session, body, headers,
//! cookies, logs) lives outside the script's heap, so it is counted as it grows and capped by
//! `maxOutputBytes` at the moment a call would pass it.

use crate::error::Failure;

#[derive(Debug, Default)]
pub struct OutputBudget {
  used: usize,
  limit: usize,
}

impl OutputBudget {
  pub fn new(limit: usize) -> Self {
    OutputBudget { used: 0, limit }
  }

  /// Accounts for a part of the output growing from `old` to `new` bytes.
  pub fn replace(&mut self, old: usize, new: usize) -> Result<(), Failure> {
    let used = self.used - old.min(self.used) + new;
    if used > self.limit {
      return Err(Failure::OutputLimit {
        limit_bytes: self.limit as u64,
      });
    }
    self.used = used;
    Ok(())
  }

  /// Whether `bytes` more would fit, without counting them: for what the host holds only for a
  /// while (a host function's arguments).
  pub fn check_room(&self, bytes: usize) -> Result<(), Failure> {
    if self.used.saturating_add(bytes) > self.limit {
      return Err(Failure::OutputLimit {
        limit_bytes: self.limit as u64,
      });
    }
    Ok(())
  }

  #[cfg(test)]
  pub fn used(&self) -> usize {
    self.used
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn refuses_growth_past_the_limit_and_keeps_the_last_good_total() {
    let mut b = OutputBudget::new(10);
    b.replace(0, 6).unwrap();
    assert!(b.replace(0, 5).is_err());
    assert_eq!(b.used(), 6);
    b.replace(6, 10).unwrap();
    assert_eq!(b.used(), 10);
    b.replace(10, 0).unwrap();
    assert_eq!(b.used(), 0);
  }
}
