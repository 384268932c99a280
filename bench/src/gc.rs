//! V8's garbage collections in edgepush's isolate, read from plain workerd's output (the bench's
//! workerd config passes V8 `--trace-gc-nvp`: one JSON object per collection, with the time of
//! each of its phases): while V8 collects, workerd's one thread runs nothing else, so every pause
//! is a stall of the edge, every room and every socket.

use std::path::Path;

use serde_json::Value;

use crate::scenarios::{Measured, Unit};

/// The collections in a stretch of `--trace-gc-nvp` output.
#[derive(Debug, Default, PartialEq)]
pub struct Pauses {
    /// Full collections (Mark-Compact): their count and longest pause, in ms.
    pub full: (u32, f64),
    /// Young-generation collections (Scavenge, Minor Mark-Sweep): count and longest pause.
    pub young: (u32, f64),
    /// Every pause, summed, in ms.
    pub total_ms: f64,
    /// The full collections' pauses, summed, in ms.
    pub full_ms: f64,
    /// The part of the full collections' pauses that none of V8's own phases accounts for,
    /// summed, in ms: the embedder's, here the runtime finalizing its C++ objects.
    pub full_outside_ms: f64,
    /// The largest heap a full collection left (what was alive), in MiB.
    pub full_live_mib: f64,
    /// What the full collections freed, summed, in MiB.
    pub full_freed_mib: f64,
}

/// V8's own phases of a full collection: its top-level scopes in `--trace-gc-nvp` (a phase nested
/// in another, if any, would be subtracted twice: the part outside them is a lower bound).
const V8_PHASES: [&str; 15] = [
    "heap.prologue",
    "heap.epilogue",
    "heap.embedder_tracing_epilogue",
    "heap.external.prologue",
    "heap.external.epilogue",
    "heap.external.weak_global_handles",
    "complete.sweeping",
    "complete.sweep_array_buffers",
    "prologue",
    "mark",
    "clear",
    "evacuate",
    "sweep",
    "finish",
    "epilogue",
];

const MIB: f64 = 1024.0 * 1024.0;

impl Pauses {
    /// Reads `--trace-gc-nvp` lines such as `[1:0x7f]  8906 ms: GC: {"pause":94.1,"gc":"mc",
    /// "start_object_size":25600000,"end_object_size":2500000,"mark":9.1,…}` (`"gc"` is `"mc"`
    /// for a Mark-Compact, `"s"` for a Scavenge, `"mms"` for a Minor Mark-Sweep; sizes in
    /// bytes, times in ms); other lines are skipped.
    pub fn of(trace: &str) -> Self {
        let mut pauses = Self::default();
        for line in trace.lines() {
            let Some(gc) = line
                .split_once(" ms: GC: ")
                .and_then(|(_, json)| serde_json::from_str::<Value>(json).ok())
            else {
                continue;
            };
            let number = |key: &str| gc.get(key).and_then(Value::as_f64);
            let full = match gc.get("gc").and_then(Value::as_str) {
                Some("mc") => true,
                Some("s" | "mms") => false,
                _ => continue,
            };
            let Some(pause) = number("pause") else {
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
            if !full {
                continue;
            }
            pauses.full_ms += pause;
            let phases: f64 = V8_PHASES.iter().filter_map(|key| number(key)).sum();
            pauses.full_outside_ms += (pause - phases).max(0.0);
            if let (Some(before), Some(after)) =
                (number("start_object_size"), number("end_object_size"))
            {
                pauses.full_live_mib = pauses.full_live_mib.max(after / MIB);
                pauses.full_freed_mib += (before - after).max(0.0) / MIB;
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
                "gc.full_sum",
                "full-collection pauses, summed, whole scenario",
                Unit::Ms,
                self.full_ms * 1000.0,
            ),
            (
                "gc.full_outside",
                "of those, outside V8's own phases (the runtime finalizing its objects)",
                Unit::Ms,
                self.full_outside_ms * 1000.0,
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
        let trace = r#"workerd/server/server.c++:1 info: listening
[1:0x1]     3431 ms: GC: {"pause":2.5,"mutator":3428.5,"gc":"s","start_object_size":1682964,"end_object_size":1307092,"scavenge":2.4}
[1:0x1]     9215 ms: GC: {"pause":94.0,"gc":"mc","reason":"global allocation limit","start_object_size":26214400,"end_object_size":2621440,"heap.prologue":0.5,"mark":9.0,"mark.embedder_tracing":3.0,"clear":2.0,"evacuate":3.0,"sweep":0.5,"finish":0.1,"background.mark":4.0}
[1:0x1]     9950 ms: GC: {"pause":21.9,"gc":"mms","start_object_size":2000000,"end_object_size":1000000}
[1:0x1]    11626 ms: GC: {"pause":49.0,"gc":"mc","start_object_size":10485760,"end_object_size":3145728,"mark":11.0,"evacuate":2.0,"complete.sweeping":1.0}
[1:0x1]    11700 ms: GC: {"pause":5.0,"gc":"unknown"}
[1:0x1]    11800 ms: GC: {"pause":
a log line that mentions 12 ms: nothing collected
"#;
        let p = Pauses::of(trace);
        assert_eq!(p.full, (2, 94.0));
        assert_eq!(p.young, (2, 21.9));
        assert!((p.total_ms - (2.5 + 94.0 + 21.9 + 49.0)).abs() < 1e-9);
        assert!((p.full_ms - (94.0 + 49.0)).abs() < 1e-9);
        // 94.0 - (0.5 + 9.0 + 2.0 + 3.0 + 0.5 + 0.1), 49.0 - (11.0 + 2.0 + 1.0); nested
        // scopes (mark.embedder_tracing) and background work are not V8's pause phases.
        assert!((p.full_outside_ms - (78.9 + 35.0)).abs() < 1e-9);
        assert!((p.full_live_mib - 3.0).abs() < 1e-9);
        assert!((p.full_freed_mib - (22.5 + 7.0)).abs() < 1e-9);
        assert_eq!(Pauses::of(""), Pauses::default());
    }

    #[test]
    fn its_rows_are_counts_and_microseconds() {
        let mut m = Measured::default();
        Pauses {
            full: (1, 2.5),
            young: (3, 0.5),
            total_ms: 4.0,
            full_ms: 3.0,
            full_outside_ms: 1.5,
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
                ("gc.full_sum", Some(3000.0)),
                ("gc.full_outside", Some(1500.0)),
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
        let line = "[1:0x1]  10 ms: GC: {\"pause\":7.0,\"gc\":\"mc\"}\n";
        std::fs::write(&log, line).unwrap();
        let from = mark(&log);
        std::fs::write(&log, format!("{line}{}", line.replace("7.0", "9.0"))).unwrap();
        assert_eq!(since(&log, from).full, (1, 9.0));
        assert_eq!(since(&dir.join("missing.log"), 0), Pauses::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
