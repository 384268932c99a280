//! V8's garbage collections in edgepush's isolate, read from plain workerd's output (the bench's
//! workerd config passes V8 `--trace-gc`): while V8 collects, workerd's one thread runs nothing
//! else, so every pause is a stall of the edge, every room and every socket.

use std::path::Path;

use crate::scenarios::{Measured, Unit};

/// The collections in a stretch of `--trace-gc` output.
#[derive(Debug, Default, PartialEq)]
pub struct Pauses {
    /// Full collections (`Mark-Compact`, `Mark-Sweep`): their count and longest pause, in ms.
    pub full: (u32, f64),
    /// Young-generation collections (`Scavenge`, `Minor Mark-Sweep`): count and longest pause.
    pub young: (u32, f64),
    /// Every pause, summed, in ms.
    pub total_ms: f64,
    /// The largest heap a full collection left (what was alive), in MiB.
    pub full_live_mib: f64,
    /// What the full collections freed, summed, in MiB.
    pub full_freed_mib: f64,
}

impl Pauses {
    /// Reads `--trace-gc` lines such as `[1:0x7f]  21221 ms: Mark-Compact 35.3 (45.8) -> 1.5
    /// (34.5) MB, pooled: 11.2 MB, 95.26 / 0.00 ms (…) allocation failure`; other lines are
    /// skipped.
    pub fn of(trace: &str) -> Self {
        let mut pauses = Self::default();
        for line in trace.lines() {
            let Some((_, event)) = line.split_once(" ms: ") else {
                continue;
            };
            let full = event.starts_with("Mark-Compact") || event.starts_with("Mark-Sweep");
            let young = event.starts_with("Scavenge") || event.starts_with("Minor Mark-Sweep");
            let pause = event
                .split(" MB, ")
                .last()
                .and_then(|rest| rest.split(" / ").next())
                .and_then(|ms| ms.rsplit(' ').next()?.parse::<f64>().ok());
            let (Some(pause), true) = (pause, full || young) else {
                continue;
            };
            let kind = if full {
                &mut pauses.full
            } else {
                &mut pauses.young
            };
            kind.0 += 1;
            kind.1 = kind.1.max(pause);
            pauses.total_ms += pause;
            if full && let Some((before, after)) = heap_sizes(event) {
                pauses.full_live_mib = pauses.full_live_mib.max(after);
                pauses.full_freed_mib += (before - after).max(0.0);
            }
        }
        pauses
    }

    /// Adds its rows to `m` (times in µs, the report's base unit).
    pub fn add_to(&self, m: &mut Measured) {
        let rows = [
            (
                "gc.full",
                "V8 full collections (Mark-Compact), whole scenario",
                Unit::Count,
                f64::from(self.full.0),
            ),
            (
                "gc.full_max",
                "longest full-collection pause, whole scenario",
                Unit::Ms,
                self.full.1 * 1000.0,
            ),
            (
                "gc.full_live",
                "live JS heap after a full collection (largest), whole scenario",
                Unit::MiB,
                self.full_live_mib * 1024.0,
            ),
            (
                "gc.full_freed",
                "freed per full collection (mean), whole scenario",
                Unit::MiB,
                self.full_freed_mib * 1024.0 / f64::from(self.full.0.max(1)),
            ),
            (
                "gc.young",
                "V8 young-generation collections, whole scenario",
                Unit::Count,
                f64::from(self.young.0),
            ),
            (
                "gc.young_max",
                "longest young-generation pause, whole scenario",
                Unit::Ms,
                self.young.1 * 1000.0,
            ),
            (
                "gc.total",
                "time paused for garbage collection, whole scenario (connects included)",
                Unit::Ms,
                self.total_ms * 1000.0,
            ),
        ];
        for (key, label, unit, n) in rows {
            m.add(key, label, unit, true, n);
        }
    }
}

/// The heap's size before and after a collection, in MiB (V8's "MB"), from the part of its line
/// after the time: `Mark-Compact (reduce) 35.3 (45.8) -> 1.5 (34.5) MB, …`.
fn heap_sizes(event: &str) -> Option<(f64, f64)> {
    let (before, after) = event.split(" MB, ").next()?.split_once(" -> ")?;
    let before = before.split_whitespace().rev().nth(1)?.parse().ok()?;
    let after = after.split_whitespace().next()?.parse().ok()?;
    Some((before, after))
}

/// How far `log` has been written: where the next run's collections start.
pub fn mark(log: &Path) -> u64 {
    std::fs::metadata(log).map_or(0, |m| m.len())
}

/// The collections written to `log` since `from` (see [`mark`]).
pub fn since(log: &Path, from: u64) -> Pauses {
    let text = std::fs::read(log).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
    Pauses::of(&String::from_utf8_lossy(&text[start..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn full_and_young_collections_are_counted_with_their_longest_pause() {
        let trace = "\
workerd/server/server.c++:1 info: listening
[20319:0x7375ffd50000]     3545 ms: Scavenge 1.6 (2.8) -> 1.3 (2.2) MB, pooled: 1.0 MB, 2.54 / 0.00 ms (average mu = 1.000, current mu = 1.000) allocation failure;
[20319:0x7375ffd50000]    21221 ms: Mark-Compact 35.3 (45.8) -> 1.5 (34.5) MB, pooled: 11.2 MB, 95.26 / 0.00 ms (average mu = 0.996, current mu = 0.996) allocation failure; GC in old space requested
[20319:0x7375ffd50000]    26389 ms: Scavenge 16.2 (34.5) -> 11.9 (34.5) MB, pooled: 11.2 MB, 21.93 / 0.00 ms (average mu = 0.996, current mu = 0.996) allocation failure;
[20319:0x7375ffd50000]    26905 ms: Mark-Compact 13.7 (34.5) -> 1.3 (22.2) MB, pooled: 23.5 MB, 43.52 / 0.00 ms (average mu = 0.995, current mu = 0.992) global allocation limit; GC in old space requested
a log line that mentions 12 ms: nothing collected
";
        let p = Pauses::of(trace);
        assert_eq!(p.full, (2, 95.26));
        assert_eq!(p.young, (2, 21.93));
        assert!((p.total_ms - (2.54 + 95.26 + 21.93 + 43.52)).abs() < 1e-9);
        assert!((p.full_live_mib - 1.5).abs() < 1e-9);
        assert!((p.full_freed_mib - (33.8 + 12.4)).abs() < 1e-9);
        assert_eq!(
            heap_sizes("Mark-Compact (reduce) 9.7 (22.2) -> 2.2 (22.2) MB, pooled: 9.0 MB, 56.60"),
            Some((9.7, 2.2))
        );
        assert_eq!(heap_sizes("Mark-Compact: nothing to read"), None);
        assert_eq!(Pauses::of(""), Pauses::default());
    }

    #[test]
    fn its_rows_are_counts_and_microseconds() {
        let mut m = Measured::default();
        Pauses {
            full: (1, 2.5),
            young: (3, 0.5),
            total_ms: 4.0,
            full_live_mib: 2.5,
            full_freed_mib: 24.0,
        }
        .add_to(&mut m);
        let rows: Vec<(&str, Option<f64>)> = m.values.iter().map(|v| (v.key, v.number)).collect();
        assert_eq!(
            rows,
            [
                ("gc.full", Some(1.0)),
                ("gc.full_max", Some(2500.0)),
                ("gc.full_live", Some(2560.0)),
                ("gc.full_freed", Some(24576.0)),
                ("gc.young", Some(3.0)),
                ("gc.young_max", Some(500.0)),
                ("gc.total", Some(4000.0)),
            ]
        );
    }

    #[test]
    fn a_log_is_read_from_a_mark_on() {
        let dir = std::env::temp_dir().join(format!("gc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("workerd.log");
        let line = "[1:0x1]  10 ms: Mark-Compact 2.0 (3.0) -> 1.0 (3.0) MB, pooled: 0.0 MB, 7.00 / 0.00 ms (x)\n";
        std::fs::write(&log, line).unwrap();
        let from = mark(&log);
        std::fs::write(&log, format!("{line}{}", line.replace("7.00", "9.00"))).unwrap();
        assert_eq!(since(&log, from).full, (1, 9.0));
        assert_eq!(since(&dir.join("missing.log"), 0), Pauses::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
