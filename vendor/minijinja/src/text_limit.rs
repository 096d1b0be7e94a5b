//! backend-scripts: a bound on the text one conversion of a value may write.
//!
//! A template can build a value that shares itself (`{% set x = [x, x] %}` forty times) at
//! almost no cost, whose text is exponentially long. Every conversion of a container to text
//! (`Display`, `Debug`, JSON, `~`) writes through a writer that stops at the limit the host set
//! for the render on this thread, and notes that it did; the host then fails the render rather
//! than use the cut text. Without a limit set, nothing changes.

use std::cell::Cell;
use std::fmt;

thread_local! {
    static LIMIT: Cell<Option<usize>> = const { Cell::new(None) };
    static OVERFLOWED: Cell<bool> = const { Cell::new(false) };
    static NESTED: Cell<bool> = const { Cell::new(false) };
    static STEPS: Cell<Option<u64>> = const { Cell::new(None) };
    static EXHAUSTED: Cell<bool> = const { Cell::new(false) };
}

/// How many containers hashing, comparing and ordering values may visit in one render while a
/// limit is set: such a value's walk is exponentially longer than the work it took to make, and
/// none of them is charged fuel.
const MAX_STEPS: u64 = 1_000_000;

/// Sets the limit for renders on this thread (`None`: no limit), and forgets an earlier overflow.
pub fn set_text_limit(limit: Option<usize>) {
    LIMIT.with(|l| l.set(limit));
    OVERFLOWED.with(|o| o.set(false));
    NESTED.with(|n| n.set(false));
    STEPS.with(|s| s.set(limit.map(|_| MAX_STEPS)));
    EXHAUSTED.with(|e| e.set(false));
}

/// Takes one step of a walk over a container (hashing, comparing, ordering); false once the
/// render's steps are spent, and the walk must stop with any answer: the render then fails
/// ([`take_walk_exhausted`]), so that answer is never used.
pub(crate) fn step() -> bool {
    STEPS.with(|s| match s.get() {
        None => true,
        Some(0) => {
            EXHAUSTED.with(|e| e.set(true));
            false
        }
        Some(n) => {
            s.set(Some(n - 1));
            true
        }
    })
}

/// Whether a walk ran out of steps since the limit was set; forgets it.
pub fn take_walk_exhausted() -> bool {
    EXHAUSTED.with(|e| e.replace(false))
}

/// Whether a conversion stopped at the limit since the limit was set; forgets it.
pub fn take_text_overflow() -> bool {
    OVERFLOWED.with(|o| o.replace(false))
}

/// The limit in force on this thread.
pub fn text_limit() -> Option<usize> {
    LIMIT.with(Cell::get)
}

/// Notes that a conversion stopped at the limit.
pub(crate) fn note_text_overflow() {
    OVERFLOWED.with(|o| o.set(true))
}

/// A string that takes text up to a limit, then refuses it (and notes the overflow).
pub struct Limited {
    pub(crate) buf: String,
    limit: usize,
}

impl Limited {
    /// An empty string that takes at most `limit` bytes.
    pub fn new(limit: usize) -> Limited {
        Limited {
            buf: String::new(),
            limit,
        }
    }

    /// The text taken.
    pub fn into_string(self) -> String {
        self.buf
    }
}

impl fmt::Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.buf.len().saturating_add(s.len()) > self.limit {
            note_text_overflow();
            return Err(fmt::Error);
        }
        self.buf.push_str(s);
        Ok(())
    }
}

struct Render<F>(Cell<Option<F>>);

impl<F: FnOnce(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Render<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.take() {
            Some(render) => render(f),
            None => Ok(()),
        }
    }
}

/// Runs `render` into `f`: straight through without a limit or inside a bounded conversion,
/// else through a [`Limited`] string, whose text (cut at the limit) then goes to `f`. Never
/// fails because of the limit: a `Display` that failed would make `to_string` panic.
pub(crate) fn bounded(
    f: &mut fmt::Formatter<'_>,
    render: impl FnOnce(&mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    let Some(limit) = text_limit() else {
        return render(f);
    };
    if NESTED.with(|n| n.replace(true)) {
        return render(f);
    }
    let mut out = Limited::new(limit);
    let render = Render(Cell::new(Some(render)));
    let _ = if f.alternate() {
        fmt::write(&mut out, format_args!("{render:#}"))
    } else {
        fmt::write(&mut out, format_args!("{render}"))
    };
    NESTED.with(|n| n.set(false));
    f.write_str(&out.buf)
}
