//! The steps the demo took, how long each took, whether its checks passed, and the summary
//! table printed at the end.

use std::time::{Duration, Instant};

#[derive(Debug)]
struct Row {
    name: String,
    took: Duration,
    ok: bool,
    /// Bytes delivered, for transfers.
    bytes: Option<u64>,
}

/// Every step of the run, in order.
#[derive(Debug, Default)]
pub(crate) struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// Records a step that began at `started`; prints the failure, if any.
    pub(crate) fn record<T>(
        &mut self,
        name: impl Into<String>,
        started: Instant,
        result: Result<T, String>,
    ) -> Option<T> {
        let name = name.into();
        let ok = result.is_ok();
        self.rows.push(Row {
            name: name.clone(),
            took: started.elapsed(),
            ok,
            bytes: None,
        });
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                println!("  FAILED ({name}): {e}");
                None
            }
        }
    }

    /// Records a transfer of `bytes` that took `took`.
    pub(crate) fn transfer(
        &mut self,
        name: impl Into<String>,
        took: Duration,
        bytes: u64,
        ok: bool,
    ) {
        self.rows.push(Row {
            name: name.into(),
            took,
            ok,
            bytes: Some(bytes),
        });
    }

    /// Whether every step passed.
    pub(crate) fn all_ok(&self) -> bool {
        !self.rows.is_empty() && self.rows.iter().all(|r| r.ok)
    }

    /// The summary table.
    pub(crate) fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        println!();
        println!(
            "{:<width$}  {:>10}  {:<6}  throughput",
            "step", "time", "result"
        );
        for r in &self.rows {
            let rate = match r.bytes {
                Some(b) if !r.took.is_zero() => format!(
                    "{:.1} MiB in {:.2} s = {:.1} MiB/s",
                    mib(b),
                    r.took.as_secs_f64(),
                    mib(b) / r.took.as_secs_f64()
                ),
                _ => String::new(),
            };
            println!(
                "{:<width$}  {:>10}  {:<6}  {rate}",
                r.name,
                shown(r.took),
                if r.ok { "ok" } else { "FAILED" },
            );
        }
        let failed = self.rows.iter().filter(|r| !r.ok).count();
        if failed == 0 {
            println!("all {} steps passed", self.rows.len());
        } else {
            println!("{failed} of {} steps FAILED", self.rows.len());
        }
    }
}

/// Bytes in MiB.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A duration as people read it.
pub(crate) fn shown(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(10) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
