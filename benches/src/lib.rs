//! Fixtures and timing helpers shared by the criterion benches and the `ratios` report. Each
//! area has a module with its fixtures and its `ratios()`, which the `ratios` binary runs.

use std::io::Write;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub mod identity;
pub mod phonebook;
pub mod reconnect;
pub mod stream;
pub mod transport;

/// A deterministic RNG for fixtures.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// One line of the ratio report.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// The metric's name.
    pub name: &'static str,
    /// Our measurement.
    pub ours: f64,
    /// The baseline's measurement, from the same run.
    pub baseline: f64,
    /// `ours / baseline`.
    pub ratio: f64,
    /// Unit of `ours` and `baseline`.
    pub unit: &'static str,
}

impl Ratio {
    /// A line whose ratio is `ours / baseline`.
    pub fn new(name: &'static str, ours: f64, baseline: f64, unit: &'static str) -> Self {
        Ratio {
            name,
            ours,
            baseline,
            ratio: ours / baseline,
            unit,
        }
    }

    /// Prints the line as one JSON object on stdout.
    pub fn emit(&self) {
        let line = serde_json::json!({
            "name": self.name,
            "ours": self.ours,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "unit": self.unit,
        });
        // A closed stdout (piped into `head`) is not worth a panic.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// Times `ours` and `baseline` in alternating rounds and returns the median time per call of
/// each, so both see the same machine state.
pub fn compare(
    rounds: usize,
    calls_per_round: usize,
    mut ours: impl FnMut(),
    mut baseline: impl FnMut(),
) -> (Duration, Duration) {
    let mut a = Vec::with_capacity(rounds);
    let mut b = Vec::with_capacity(rounds);
    let per = |d: Duration| d / u32::try_from(calls_per_round).unwrap_or(u32::MAX);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..calls_per_round {
            ours();
        }
        a.push(per(t.elapsed()));
        let t = Instant::now();
        for _ in 0..calls_per_round {
            baseline();
        }
        b.push(per(t.elapsed()));
    }
    a.sort();
    b.sort();
    let mid = rounds / 2;
    (
        a.get(mid).copied().unwrap_or_default(),
        b.get(mid).copied().unwrap_or_default(),
    )
}
