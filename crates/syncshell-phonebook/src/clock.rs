//! Update stamps: a hybrid logical clock.

use std::fmt;

use syncshell_identity::Timestamp;

/// An update stamp: `unix milliseconds << 16 | counter`.
///
/// Stamps order a member's versions of its own entry. They follow wall-clock time while it
/// moves forward and never go backwards: [`Clock::tick`] returns a stamp above every stamp
/// it has issued or observed, so an entry published after a clock jumped back still
/// replaces the older one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Stamp(u64);

impl Stamp {
    /// A stamp from its raw 64-bit value.
    pub const fn from_raw(raw: u64) -> Self {
        Stamp(raw)
    }
    /// The raw 64-bit value.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The wall-clock part.
    pub const fn time(self) -> Timestamp {
        Timestamp::from_millis(self.0 >> 16)
    }
    /// The counter part.
    pub const fn counter(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.time().as_millis(), self.counter())
    }
}

/// A hybrid logical clock for a member's own entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    last: Stamp,
}

impl Clock {
    /// A clock that has issued nothing yet.
    pub fn new() -> Self {
        Clock::default()
    }

    /// A stamp above everything seen so far, at `now` when `now` is ahead.
    pub fn tick(&mut self, now: Timestamp) -> Stamp {
        let wall = now.as_millis().min(u64::MAX >> 16) << 16;
        let next = if wall > self.last.0 {
            wall
        } else {
            self.last.0.saturating_add(1)
        };
        self.last = Stamp(next);
        self.last
    }

    /// Takes note of a stamp seen elsewhere (for example the member's own entry coming back
    /// from a peer after a restart), so the next tick is above it.
    pub fn observe(&mut self, stamp: Stamp) {
        self.last = self.last.max(stamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_monotonic_across_a_clock_jump_back() {
        let mut c = Clock::new();
        let a = c.tick(Timestamp::from_millis(1000));
        let b = c.tick(Timestamp::from_millis(1000));
        let d = c.tick(Timestamp::from_millis(10)); // clock jumped back
        let e = c.tick(Timestamp::from_millis(2000));
        assert!(a < b && b < d && d < e);
        assert_eq!(a.time(), Timestamp::from_millis(1000));
        assert_eq!(b.counter(), 1);
        assert_eq!(e.time(), Timestamp::from_millis(2000));
        c.observe(Stamp::from_raw(e.raw() + 100));
        assert!(c.tick(Timestamp::from_millis(2000)) > Stamp::from_raw(e.raw() + 100));
    }
}
