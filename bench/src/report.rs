//! The results: one Markdown table per scenario (edgepush and Pushpin side by side, with the
//! ratio), a goals table, and an SVG chart of the latency distributions.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::catalogue::Scenario;
use crate::error::{Error, chain};
use crate::scenarios::{Measured, Unit, Value};

/// What a section's two columns are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// edgepush beside Pushpin, the ratio edgepush / Pushpin.
    Systems,
    /// edgepush twice: before (in the `edgepush` slot) and after (in the `pushpin` slot) a
    /// change, the ratio after / before.
    BeforeAfter,
    /// edgepush twice, two ways to the same thing: its Mercure hub (in the `edgepush` slot)
    /// beside its topic sockets, the SDK's path (in the `pushpin` slot); the ratio Mercure /
    /// topic sockets.
    Paths,
}

impl Layout {
    /// The names of the two columns.
    pub fn names(self) -> [&'static str; 2] {
        match self {
            Self::Systems => ["edgepush", "Pushpin"],
            Self::BeforeAfter => ["before (limits off)", "after (default limits)"],
            Self::Paths => ["Mercure (SSE)", "topic sockets (SDK path)"],
        }
    }

    /// The ratio's heading.
    fn ratio_name(self) -> &'static str {
        match self {
            Self::Systems => "edgepush / Pushpin",
            Self::BeforeAfter => "after / before",
            Self::Paths => "Mercure / topic sockets",
        }
    }
}

/// One scenario's results on both systems (or on one, before and after).
pub struct Section {
    /// Which scenario.
    pub scenario: Scenario,
    /// Heading.
    pub title: String,
    /// What was run.
    pub setup: String,
    /// What the two columns are.
    pub layout: Layout,
    /// edgepush's measurements (or why there are none); in a before/after section, before's.
    pub edgepush: Result<Measured, Error>,
    /// Pushpin's; in a before/after section, after's.
    pub pushpin: Result<Measured, Error>,
}

impl Section {
    /// A row of one side by key.
    pub fn value(&self, edgepush: bool, key: &str) -> Option<&Value> {
        let side = if edgepush {
            &self.edgepush
        } else {
            &self.pushpin
        };
        side.as_ref().ok()?.value(key)
    }

    /// A number of one side by key.
    pub fn get(&self, edgepush: bool, key: &str) -> Option<f64> {
        self.value(edgepush, key)?.number
    }
}

fn show(unit: Unit, n: f64) -> String {
    match unit {
        Unit::Ms => {
            let ms = n / 1000.0;
            if ms < 10.0 {
                format!("{ms:.2} ms")
            } else if ms < 10_000.0 {
                format!("{ms:.1} ms")
            } else {
                format!("{:.1} s", ms / 1000.0)
            }
        }
        Unit::Count => format!("{n:.0}"),
        Unit::PerSec => format!("{n:.0}/s"),
        Unit::PerMin => format!("{n:.0}/min"),
        Unit::MiB => format!("{:.1} MiB", n / 1024.0),
        Unit::KiB => format!("{n:.1} KiB"),
        Unit::Bytes => format!("{n:.0} B ({:.1} KiB)", n / 1024.0),
        Unit::Secs => format!("{n:.1} s"),
    }
}

/// After over before, for every number: `0.012× (1/83)` when it shrank; nothing without both or
/// when before is zero.
fn after_over_before(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) if b > 0.0 => {
            let r = a / b;
            if r >= 0.5 || r <= 0.0 {
                format!("{r:.2}×")
            } else if r >= 0.1 {
                format!("{r:.2}× (1/{:.1})", 1.0 / r)
            } else {
                format!("{r:.4}× (1/{:.0})", 1.0 / r)
            }
        }
        _ => String::new(),
    }
}

/// edgepush's figure over Pushpin's, and which is better; nothing for counts or without both.
fn ratio(row: &Value, edgepush: Option<f64>, pushpin: Option<f64>) -> String {
    match (edgepush, pushpin) {
        (Some(a), Some(b)) if b > 0.0 && row.unit != Unit::Count => {
            let better = if row.lower_better { a < b } else { a > b };
            let word = if (a - b).abs() <= f64::EPSILON {
                ""
            } else if better {
                " (better)"
            } else {
                " (worse)"
            };
            format!("{:.2}×{word}", a / b)
        }
        _ => String::new(),
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None => "—".to_owned(),
        Some(v) => match (&v.text, v.number) {
            (Some(t), _) => t.clone(),
            (None, Some(n)) => show(v.unit, n),
            (None, None) => "—".to_owned(),
        },
    }
}

/// What a goal asks of edgepush's figure.
#[derive(Clone, Copy)]
enum Test {
    /// At most this many times Pushpin's figure in the same run.
    Within(f64),
    /// At least this much.
    AtLeast(f64),
    /// Below this much (in the figure's base unit).
    Below(f64),
}

/// A goal: one figure of one scenario and what it must be.
struct Goal {
    goal: &'static str,
    scenario: Scenario,
    key: &'static str,
    test: Test,
}

/// The goals a full run checks: issue 16's bars (edgepush on plain workerd beside Pushpin in the
/// same run) and fan-out under 100 ms; the lost and duplicated events are counted apart.
const GOALS: [Goal; 6] = [
    Goal {
        goal: "latency p99 within 1.5× of Pushpin's (1b)",
        scenario: Scenario::LatencyWorkerd,
        key: "latency.p99",
        test: Test::Within(1.5),
    },
    Goal {
        goal: "fan-out to 1,000 sockets, worst round within 1.5× of Pushpin's (2b)",
        scenario: Scenario::FanoutWorkerd,
        key: "fanout.last_max",
        test: Test::Within(1.5),
    },
    Goal {
        goal: "fan-out to 1,000 sockets, median round under 100 ms (2b)",
        scenario: Scenario::FanoutWorkerd,
        key: "fanout.last_p50",
        test: Test::Below(100_000.0),
    },
    Goal {
        goal: "many users p99 within 3× of Pushpin's (3b)",
        scenario: Scenario::ManyUsersWorkerd,
        key: "many.p99",
        test: Test::Within(3.0),
    },
    Goal {
        goal: "batch to 100 users p99 within 3× of Pushpin's (5b)",
        scenario: Scenario::BatchWorkerd,
        key: "batch.p99",
        test: Test::Within(3.0),
    },
    Goal {
        goal: "at least 1,000 publishes/s into one room, sustained (4b)",
        scenario: Scenario::IngestWorkerd,
        key: "ingest.sustained",
        test: Test::AtLeast(1000.0),
    },
];

/// The goals table: (goal, figure, whether met) for every goal the run measured, then the events
/// lost and duplicated over every scenario.
pub fn goals(sections: &[Section]) -> Vec<(String, String, String)> {
    let verdict = |met: bool| if met { "yes" } else { "**no**" }.to_owned();
    let mut out = Vec::new();
    for g in &GOALS {
        let Some(s) = sections.iter().find(|s| s.scenario == g.scenario) else {
            continue;
        };
        let Some(value) = s.value(true, g.key) else {
            continue;
        };
        let e = value.number.unwrap_or(f64::NAN);
        let (figure, met) = match (g.test, s.get(false, g.key)) {
            (Test::Within(times), Some(p)) if p > 0.0 => (
                format!(
                    "{} vs {} ({:.1}×)",
                    show(value.unit, e),
                    show(value.unit, p),
                    e / p
                ),
                e <= times * p,
            ),
            (Test::Within(_), _) => (format!("{} vs not measured", cell(Some(value))), false),
            (Test::AtLeast(least), _) => (cell(Some(value)), e >= least),
            (Test::Below(limit), _) => (cell(Some(value)), e < limit),
        };
        out.push((g.goal.to_owned(), figure, verdict(met)));
    }
    if !sections.is_empty() {
        // [edgepush, Pushpin]: both columns are edgepush's where the second is not Pushpin.
        let [lost, duplicated] = ["lost", "duplicated"].map(|key| {
            let mut sums = [0.0; 2];
            for s in sections {
                let second = usize::from(s.layout == Layout::Systems);
                sums[0] += s.get(true, key).unwrap_or(0.0);
                sums[second] += s.get(false, key).unwrap_or(0.0);
            }
            sums
        });
        out.push((
            "no event lost or duplicated, every scenario".to_owned(),
            format!(
                "edgepush {:.0} lost, {:.0} duplicated (Pushpin {:.0}, {:.0})",
                lost[0], duplicated[0], lost[1], duplicated[1]
            ),
            verdict(lost[0] == 0.0 && duplicated[0] == 0.0),
        ));
    }
    out
}

/// A row of a run's summary: what it shows and the figures of one scenario it takes, shown
/// `a / b` in each column (for a section of two edgepush columns, both in the first).
struct Line {
    label: &'static str,
    scenario: Scenario,
    keys: &'static [&'static str],
}

/// The summary of a full run (the README's table), plain workerd unless a row says otherwise.
const SUMMARY: [Line; 17] = [
    Line {
        label: "latency p50 / p99: 100 sockets of one user, 100 publishes/s",
        scenario: Scenario::LatencyWorkerd,
        keys: &["latency.p50", "latency.p99"],
    },
    Line {
        label: "the same under `wrangler dev`",
        scenario: Scenario::Latency,
        keys: &["latency.p50", "latency.p99"],
    },
    Line {
        label: "fan-out to 1,000 sockets of one user, last socket: median / worst round",
        scenario: Scenario::FanoutWorkerd,
        keys: &["fanout.last_p50", "fanout.last_max"],
    },
    Line {
        label: "many users p50 / p99: 8,000 sockets of 1,000 users, 200 publishes/s",
        scenario: Scenario::ManyUsersWorkerd,
        keys: &["many.p50", "many.p99"],
    },
    Line {
        label: "V8 garbage collection in that scenario, connects included (workerd's one thread \
                waits): full collections / longest pause / their pauses summed / of that, \
                outside V8's own phases",
        scenario: Scenario::ManyUsersWorkerd,
        keys: &["gc.full", "gc.full_max", "gc.full_sum", "gc.full_outside"],
    },
    Line {
        label: "the same under `wrangler dev` (4,500 sockets)",
        scenario: Scenario::ManyUsers,
        keys: &["many.p50", "many.p99"],
    },
    Line {
        label: "batch to 100 users, last socket: median round / p99 of every socket",
        scenario: Scenario::BatchWorkerd,
        keys: &["batch.last_p50", "batch.p99"],
    },
    Line {
        label: "ingest into one room, sustained 30 s / server CPU per publish",
        scenario: Scenario::IngestWorkerd,
        keys: &["ingest.sustained", "ingest.cpu"],
    },
    Line {
        label: "ingest with 10 events per request: events/s / server CPU per event",
        scenario: Scenario::IngestBatchedWorkerd,
        keys: &["ingest_batched.sustained", "ingest_batched.cpu"],
    },
    Line {
        label: "wake-up: server CPU per publish to a room idle past eviction / warm",
        scenario: Scenario::WakeupWorkerd,
        keys: &["wakeup.cpu_cold", "wakeup.cpu_warm"],
    },
    Line {
        label: "server memory per socket",
        scenario: Scenario::MemoryWorkerd,
        keys: &["memory.per_conn"],
    },
    Line {
        label: "topic broadcast to 3,000 subscribers, last subscriber: median / worst round",
        scenario: Scenario::BroadcastWorkerd,
        keys: &["broadcast.last_p50", "broadcast.last_max"],
    },
    Line {
        label: "reconnect storm of those 3,000: all resumed, every missed event once",
        scenario: Scenario::ReconnectStormWorkerd,
        keys: &["storm.resumed"],
    },
    Line {
        label: "Mercure hub / topic sockets, 1,000 subscribers: last subscriber, median",
        scenario: Scenario::MercureFanoutWorkerd,
        keys: &["broadcast.last_p50"],
    },
    Line {
        label: "one hostile token holder: Durable Object requests per minute, limits off / on \
                (wrangler dev)",
        scenario: Scenario::Hostile,
        keys: &["hostile.requests"],
    },
    Line {
        label: "browser SDK, wasm + JS, gzip -9",
        scenario: Scenario::Size,
        keys: &["size.sdk_gz"],
    },
    Line {
        label: "worker bundle, wasm + JS, gzip -9",
        scenario: Scenario::Size,
        keys: &["size.worker_gz"],
    },
];

/// The heading of a full run's summary in its report.
const SUMMARY_HEADING: &str = "In short";

/// The summary table of the sections it has figures of.
pub fn summary(sections: &[Section]) -> String {
    let mut md = String::from("| | edgepush | Pushpin |\n|---|---|---|\n");
    for line in &SUMMARY {
        let Some(s) = sections.iter().find(|s| s.scenario == line.scenario) else {
            continue;
        };
        // A side with none of the row's figures shows one dash; a row with none, nothing.
        let side = |edgepush| {
            let values: Vec<_> = line.keys.iter().map(|k| s.value(edgepush, k)).collect();
            let any = values.iter().any(Option::is_some);
            any.then(|| values.into_iter().map(cell).collect::<Vec<_>>().join(" / "))
        };
        let (e, p) = match (s.layout, side(true), side(false)) {
            (_, None, None) => continue,
            (Layout::Systems, e, p) => (e, p),
            (_, e, p) => {
                let both = [e, p].map(|v| v.unwrap_or_else(|| "—".to_owned()));
                (Some(both.join(" / ")), None)
            }
        };
        let [e, p] = [e, p].map(|v| v.unwrap_or_else(|| "—".to_owned()));
        let _ = writeln!(md, "| {} | {e} | {p} |", line.label);
    }
    md
}

/// Machine and tool facts for the header.
pub struct Context {
    /// "2026-11-23 12:00 UTC".
    pub when: String,
    /// Full or smoke.
    pub smoke: bool,
    /// Lines like "cores: 2".
    pub facts: Vec<(String, String)>,
}

/// The Markdown report; a full run's opens with its summary and its goals.
pub fn markdown(ctx: &Context, sections: &[Section]) -> String {
    let mut md = String::new();
    let kind = if ctx.smoke {
        "smoke run (tiny sizes: not a measurement)"
    } else {
        "full run"
    };
    let _ = writeln!(md, "# edgepush beside Pushpin — {} ({kind})\n", ctx.when);
    let _ = writeln!(
        md,
        "> **Local numbers, not production.** edgepush runs under `wrangler dev` (workerd through \
         Miniflare, with wrangler's proxy in front; its local observability and explorer \
         dashboards off) on this one machine, not on Cloudflare's network; Pushpin runs from its \
         Debian package with a GRIP backend in the benchmark process. Servers, clients and publisher \
         run on this machine's cores (see CPU pinning below), all over loopback. edgepush also stores every event (SQLite history, for resume) before it \
         answers a publish; Pushpin keeps nothing.\n"
    );
    md.push_str("| machine and tools | |\n|---|---|\n");
    for (k, v) in &ctx.facts {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    md.push('\n');
    if !ctx.smoke {
        let _ = writeln!(md, "## {SUMMARY_HEADING}\n\n{}", summary(sections));
        md.push_str("## Goals\n\n| goal | figure | met |\n|---|---|---|\n");
        for (goal, figure, met) in goals(sections) {
            let _ = writeln!(md, "| {goal} | {figure} | {met} |");
        }
        md.push('\n');
    }
    for s in sections {
        let _ = writeln!(md, "## {}\n\n{}\n", s.title, s.setup);
        let rows: Vec<&Value> = match (&s.edgepush, &s.pushpin) {
            (Ok(e), _) => e.values.iter().collect(),
            (_, Ok(p)) => p.values.iter().collect(),
            _ => Vec::new(),
        };
        let [first, second] = s.layout.names();
        let _ = writeln!(
            md,
            "| | {first} | {second} | {} |\n|---|---:|---:|---:|",
            s.layout.ratio_name()
        );
        let find = |side: &Result<Measured, Error>, i: usize, key: &str| -> Option<Value> {
            let m = side.as_ref().ok()?;
            if key.is_empty() {
                m.values.get(i).cloned()
            } else {
                m.value(key).cloned()
            }
        };
        for (i, row) in rows.iter().enumerate() {
            let e = find(&s.edgepush, i, row.key);
            let p = find(&s.pushpin, i, row.key);
            let number = |v: &Option<Value>| v.as_ref().and_then(|v| v.number);
            let ratio = match s.layout {
                Layout::Systems | Layout::Paths => ratio(row, number(&e), number(&p)),
                Layout::BeforeAfter => after_over_before(number(&e), number(&p)),
            };
            let label = e
                .as_ref()
                .map(|v| v.label.clone())
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| row.label.clone());
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {ratio} |",
                cell(e.as_ref()),
                cell(p.as_ref())
            );
        }
        for (name, side) in [first, second].into_iter().zip([&s.edgepush, &s.pushpin]) {
            match side {
                Err(e) => {
                    let _ = writeln!(md, "\n**{name} did not complete:** {}", chain(e));
                }
                Ok(m) => {
                    for note in &m.notes {
                        let _ = writeln!(md, "\n- {name}: {note}");
                    }
                    for problem in &m.problems {
                        let problem = chain(problem);
                        let _ = writeln!(md, "\n- **{name} problem:** {problem}");
                    }
                }
            }
        }
        md.push('\n');
    }
    md
}

/// Percentiles plotted: 0 to 99.99 %.
const QUANTILES: [f64; 16] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

/// One panel of the chart: a title and the (label, colour, histogram) series.
struct Panel<'a> {
    title: &'a str,
    series: [(&'static str, &'static str, &'a Histogram<u64>); 2],
}

/// The chart of every section that has a latency curve on both systems.
pub fn chart(sections: &[Section], when: &str) -> String {
    let panels: Vec<Panel<'_>> = sections
        .iter()
        .filter_map(|s| {
            let (Ok(e), Ok(p)) = (&s.edgepush, &s.pushpin) else {
                return None;
            };
            let (Some(he), Some(hp)) = (&e.curve, &p.curve) else {
                return None;
            };
            let [first, second] = s.layout.names();
            let series = [(first, "#d9480f", he), (second, "#1c7ed6", hp)];
            Some(Panel {
                title: &s.title,
                series,
            })
        })
        .collect();
    svg(
        &panels,
        &format!(
            "publish→deliver latency by percentile, {when}; edgepush under wrangler dev (local \
             workerd), not Cloudflare's network"
        ),
    )
}

/// An SVG with one panel per scenario: publish→deliver latency (log scale) by percentile (on the
/// usual 1/(1-p) scale), edgepush and Pushpin.
fn svg(panels: &[Panel<'_>], subtitle: &str) -> String {
    let (pw, ph) = (460.0, 320.0);
    let (ml, mr, mt, mb) = (62.0, 34.0, 60.0, 48.0);
    let width = pw * panels.len().max(1) as f64;
    let height = ph + 24.0;
    let x_of = |q: f64| -> f64 {
        let q = q.min(0.9999);
        let v = (1.0 / (1.0 - q)).log10(); // 0 .. 4
        ml + v / 4.0 * (pw - ml - mr)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="white"/><text x="10" y="{}" fill="#555" font-size="11">{}</text>"##,
        height - 8.0,
        escape(subtitle)
    );
    for (i, panel) in panels.iter().enumerate() {
        let ox = i as f64 * pw;
        let max_us = panel
            .series
            .iter()
            .map(|(_, _, h)| h.max())
            .max()
            .unwrap_or(1000)
            .max(1000) as f64;
        let min_us = panel
            .series
            .iter()
            .map(|(_, _, h)| h.min().max(1))
            .min()
            .unwrap_or(100)
            .min(1000) as f64;
        let (lo, hi) = (
            (min_us / 1000.0).log10().floor(),
            (max_us / 1000.0)
                .log10()
                .ceil()
                .max((min_us / 1000.0).log10().floor() + 1.0),
        );
        let y_of = |us: f64| -> f64 {
            let v = (us.max(1.0) / 1000.0).log10();
            mt + (hi - v) / (hi - lo) * (ph - mt - mb)
        };
        let _ = writeln!(s, r#"<g transform="translate({ox},0)">"#);
        let _ = writeln!(
            s,
            r#"<text x="{ml}" y="20" font-size="14" font-weight="bold">{}</text>"#,
            escape(panel.title)
        );
        // grid: decades of ms
        let mut d = lo;
        while d <= hi + 1e-9 {
            let y = y_of(10f64.powf(d) * 1000.0);
            let label = if d < 0.0 {
                format!("{}", 10f64.powf(d))
            } else {
                format!("{:.0}", 10f64.powf(d))
            };
            let _ = writeln!(
                s,
                r##"<line x1="{ml}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label} ms</text>"##,
                pw - mr,
                ml - 4.0,
                y + 4.0
            );
            d += 1.0;
        }
        for (q, label) in [
            (0.0, "0%"),
            (0.9, "90%"),
            (0.99, "99%"),
            (0.999, "99.9%"),
            (0.9999, "99.99%"),
        ] {
            let x = x_of(q);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{mt}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
                ph - mb,
                ph - mb + 16.0
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">percentile</text>"##,
            (ml + pw - mr) / 2.0,
            ph - mb + 32.0
        );
        for (j, (label, colour, h)) in panel.series.iter().enumerate() {
            let points: Vec<String> = QUANTILES
                .iter()
                .map(|&q| format!("{:.1},{:.1}", x_of(q), y_of(h.value_at_quantile(q) as f64)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                points.join(" ")
            );
            let ly = 34.0 + 14.0 * j as f64;
            let _ = writeln!(
                s,
                r#"<line x1="{ml}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{} (p50 {:.1} ms, p99 {:.1} ms)</text>"#,
                ml + 18.0,
                ml + 24.0,
                ly + 4.0,
                escape(label),
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Replaces what `text` holds between `<!-- {name}:start -->` and `<!-- {name}:end -->`.
fn between_markers(text: &str, name: &str, body: &str) -> Option<String> {
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let (before, rest) = text.split_once(&start)?;
    let (_, after) = rest.split_once(&end)?;
    Some(format!("{before}{start}\n{body}{end}{after}"))
}

/// Puts a run's report into bench/README.md between its `results` markers: headings one level
/// down, the chart linked from `results/`.
pub fn into_readme(readme: &str, report: &str) -> Option<String> {
    let mut body = String::new();
    for line in report.lines() {
        let line = if let Some(title) = line.strip_prefix("# ") {
            format!("### {title}")
        } else if let Some(title) = line.strip_prefix("## ") {
            format!("#### {title}")
        } else {
            line.replace("](latest.svg)", "](results/latest.svg)")
        };
        body.push_str(&line);
        body.push('\n');
    }
    between_markers(readme, "results", &body)
}

/// Puts a full run's summary and goals into the project's README between its `bench` markers,
/// under a line naming the run.
pub fn into_project_readme(readme: &str, report: &str) -> Option<String> {
    let title = report.lines().next()?.strip_prefix("# ")?;
    let part = |heading: &str| {
        let (_, rest) = report.split_once(&format!("\n## {heading}\n"))?;
        Some(rest.split("\n## ").next().unwrap_or(rest).trim())
    };
    let body = format!(
        "{title} ([bench/results/latest.md](bench/results/latest.md)):\n\n{}\n\n{}\n",
        part(SUMMARY_HEADING)?,
        part("Goals")?
    );
    between_markers(readme, "bench", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(key: &'static str, unit: Unit, lower_better: bool, n: f64) -> Value {
        Value {
            key,
            label: key.to_owned(),
            unit,
            lower_better,
            number: Some(n),
            text: None,
        }
    }

    fn side(values: Vec<Value>) -> Result<Measured, Error> {
        Ok(Measured {
            values,
            ..Measured::default()
        })
    }

    #[test]
    fn numbers_are_shown_in_their_units() {
        assert_eq!(show(Unit::Ms, 1234.0), "1.23 ms");
        assert_eq!(show(Unit::Ms, 12_345.0), "12.3 ms");
        assert_eq!(show(Unit::Ms, 13_680_600.0), "13.7 s");
        assert_eq!(show(Unit::Count, 41.6), "42");
        assert_eq!(show(Unit::PerSec, 999.4), "999/s");
        assert_eq!(show(Unit::PerMin, 1234.4), "1234/min");
        assert_eq!(show(Unit::MiB, 3072.0), "3.0 MiB");
        assert_eq!(show(Unit::KiB, 1.25), "1.2 KiB");
        assert_eq!(show(Unit::Bytes, 2048.0), "2048 B (2.0 KiB)");
        assert_eq!(show(Unit::Secs, 2.25), "2.2 s");
    }

    #[test]
    fn a_cell_shows_text_first_then_the_number_else_a_dash() {
        let mut v = value("k", Unit::Ms, true, 500.0);
        assert_eq!(cell(Some(&v)), "0.50 ms");
        v.text = Some("not built".into());
        assert_eq!(cell(Some(&v)), "not built");
        assert_eq!(cell(None), "—");
    }

    #[test]
    fn the_ratio_says_whether_edgepush_is_better() {
        let ms = value("", Unit::Ms, true, 0.0);
        assert_eq!(ratio(&ms, Some(5.0), Some(10.0)), "0.50× (better)");
        assert_eq!(ratio(&ms, Some(20.0), Some(10.0)), "2.00× (worse)");
        assert_eq!(ratio(&ms, Some(10.0), Some(10.0)), "1.00×");
        let rate = value("", Unit::PerSec, false, 0.0);
        assert_eq!(ratio(&rate, Some(20.0), Some(10.0)), "2.00× (better)");
        // No ratio for counts, a zero denominator, or a missing side.
        assert_eq!(
            ratio(&value("", Unit::Count, true, 0.0), Some(1.0), Some(2.0)),
            ""
        );
        assert_eq!(ratio(&ms, Some(1.0), Some(0.0)), "");
        assert_eq!(ratio(&ms, None, Some(1.0)), "");
    }

    fn section(scenario: Scenario, layout: Layout, e: Vec<Value>, p: Vec<Value>) -> Section {
        Section {
            scenario,
            title: scenario.name(),
            setup: String::new(),
            layout,
            edgepush: side(e),
            pushpin: side(p),
        }
    }

    /// A run of four scenarios: latency and many users on plain workerd beside Pushpin, ingest
    /// without Pushpin's figure, and RPC beside fetch (two edgepush columns).
    fn a_run() -> Vec<Section> {
        let ms = |key, us| value(key, Unit::Ms, true, us);
        let count = |key, n| value(key, Unit::Count, true, n);
        vec![
            section(
                Scenario::LatencyWorkerd,
                Layout::Systems,
                vec![ms("latency.p50", 5000.0), ms("latency.p99", 13_000.0)],
                vec![ms("latency.p50", 4000.0), ms("latency.p99", 9000.0)],
            ),
            section(
                Scenario::ManyUsersWorkerd,
                Layout::Systems,
                vec![ms("many.p99", 40_000.0), count("lost", 1.0)],
                vec![ms("many.p99", 10_000.0), count("lost", 2.0)],
            ),
            section(
                Scenario::IngestWorkerd,
                Layout::Systems,
                vec![value("ingest.sustained", Unit::PerSec, false, 1000.0)],
                Vec::new(),
            ),
            section(
                Scenario::MercureFanoutWorkerd,
                Layout::Paths,
                vec![ms("broadcast.last_p50", 7000.0), count("duplicated", 0.0)],
                vec![ms("broadcast.last_p50", 9000.0), count("duplicated", 3.0)],
            ),
        ]
    }

    #[test]
    fn goals_check_the_measured_bars_and_count_losses_over_every_scenario() {
        let goals = goals(&a_run());
        let rows: Vec<(&str, &str, &str)> = goals
            .iter()
            .map(|(g, f, m)| (g.as_str(), f.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "latency p99 within 1.5× of Pushpin's (1b)",
                    "13.0 ms vs 9.00 ms (1.4×)",
                    "yes"
                ),
                (
                    "many users p99 within 3× of Pushpin's (3b)",
                    "40.0 ms vs 10.0 ms (4.0×)",
                    "**no**"
                ),
                (
                    "at least 1,000 publishes/s into one room, sustained (4b)",
                    "1000/s",
                    "yes"
                ),
                // The topic sockets' column is edgepush's too; Pushpin's loss is not edgepush's.
                (
                    "no event lost or duplicated, every scenario",
                    "edgepush 1 lost, 3 duplicated (Pushpin 2, 0)",
                    "**no**"
                ),
            ]
        );
        assert!(super::goals(&[]).is_empty());
    }

    #[test]
    fn the_summary_shows_its_rows_in_order_and_two_edgepush_columns_in_one() {
        assert_eq!(
            summary(&a_run()),
            "| | edgepush | Pushpin |\n|---|---|---|\n\
             | latency p50 / p99: 100 sockets of one user, 100 publishes/s | 5.00 ms / 13.0 ms | \
             4.00 ms / 9.00 ms |\n\
             | many users p50 / p99: 8,000 sockets of 1,000 users, 200 publishes/s | — / 40.0 ms \
             | — / 10.0 ms |\n\
             | ingest into one room, sustained 30 s / server CPU per publish | 1000/s / — | — |\n\
             | Mercure hub / topic sockets, 1,000 subscribers: last subscriber, median | 7.00 ms / \
             9.00 ms | — |\n"
        );
    }

    #[test]
    fn a_full_report_opens_with_its_summary_and_goals_and_the_readme_gets_both() {
        let ctx = Context {
            when: "2026-12-01 18:00 UTC".into(),
            smoke: false,
            facts: Vec::new(),
        };
        let report = markdown(&ctx, &a_run());
        let (head, _) = report.split_once("\n## latency-workerd").unwrap();
        assert!(head.contains("\n## In short\n\n| | edgepush | Pushpin |\n"));
        assert!(head.contains("\n## Goals\n\n| goal | figure | met |\n"));
        let readme = "# edgepush\n<!-- bench:start -->\nold\n<!-- bench:end -->\nprose\n";
        let updated = into_project_readme(readme, &report).unwrap();
        assert!(updated.starts_with(
            "# edgepush\n<!-- bench:start -->\nedgepush beside Pushpin — 2026-12-01 18:00 UTC \
             (full run) ([bench/results/latest.md](bench/results/latest.md)):\n\n| | edgepush |"
        ));
        assert!(updated.contains("| Mercure hub / topic sockets, 1,000 subscribers: "));
        assert!(updated.contains("| goal | figure | met |\n"));
        assert!(updated.ends_with(
            "(4b) | 1000/s | yes |\n| no event lost or duplicated, every \
             scenario | edgepush 1 lost, 3 duplicated (Pushpin 2, 0) | **no** |\n\
             <!-- bench:end -->\nprose\n"
        ));
        assert_eq!(into_project_readme("no markers", &report), None);
        let smoke = markdown(&Context { smoke: true, ..ctx }, &a_run());
        assert!(!smoke.contains("## In short") && !smoke.contains("## Goals"));
        assert_eq!(into_project_readme(readme, &smoke), None);
    }

    #[test]
    fn a_section_lines_up_rows_by_key_and_reports_failures_with_their_cause() {
        let ctx = Context {
            when: "today".into(),
            smoke: true,
            facts: vec![("cores".into(), "2".into())],
        };
        let sections = [Section {
            scenario: Scenario::Fanout,
            title: "2. Fan-out".into(),
            setup: "One publish.".into(),
            layout: Layout::Systems,
            edgepush: side(vec![value("fanout.p99", Unit::Ms, true, 2000.0)]),
            pushpin: Err(Error::Connect {
                failed: 5,
                total: 10,
                source: Box::new(Error::Timeout("welcome frame")),
            }),
        }];
        let md = markdown(&ctx, &sections);
        assert!(md.starts_with("# edgepush beside Pushpin — today (smoke run"));
        assert!(md.contains("| cores | 2 |"));
        assert!(!md.contains("## Goals"));
        assert!(md.contains("## 2. Fan-out\n\nOne publish.\n"));
        assert!(md.contains("| fanout.p99 | 2.00 ms | — |  |"));
        assert!(md.contains(
            "**Pushpin did not complete:** 5 of 10 sockets failed to open, first: no welcome \
             frame within 30 s"
        ));
    }

    #[test]
    fn a_before_after_section_names_its_columns_and_divides_after_by_before() {
        let ctx = Context {
            when: "today".into(),
            smoke: true,
            facts: Vec::new(),
        };
        let rows = |requests, held| {
            side(vec![
                value("r", Unit::PerMin, true, requests),
                value("h", Unit::Count, true, held),
            ])
        };
        let mut after = rows(30.0, 0.0);
        if let Ok(m) = &mut after {
            m.notes.push("closed with 4501".into());
        }
        let sections = [Section {
            scenario: Scenario::Hostile,
            title: "8. One hostile token holder".into(),
            setup: "One token.".into(),
            layout: Layout::BeforeAfter,
            edgepush: rows(6000.0, 300.0),
            pushpin: after,
        }];
        let md = markdown(&ctx, &sections);
        assert!(
            md.contains("| | before (limits off) | after (default limits) | after / before |\n")
        );
        assert!(
            md.contains("| r | 6000/min | 30/min | 0.0050× (1/200) |"),
            "{md}"
        );
        assert!(md.contains("| h | 300 | 0 | 0.00× |"), "{md}");
        assert!(md.contains("- after (default limits): closed with 4501"));
        assert_eq!(after_over_before(Some(10.0), Some(4.0)), "0.40× (1/2.5)");
        assert_eq!(after_over_before(Some(10.0), Some(9.7)), "0.97×");
        assert_eq!(after_over_before(Some(10.0), Some(20.0)), "2.00×");
        assert_eq!(after_over_before(Some(0.0), Some(1.0)), "");
    }

    #[test]
    fn the_readme_gets_the_report_between_its_markers_one_level_down() {
        let readme = "intro\n<!-- results:start -->\nold\n<!-- results:end -->\nafter\n";
        let report = "# Run\n## 1. Latency\n![chart](latest.svg)\n";
        assert_eq!(
            into_readme(readme, report).as_deref(),
            Some(
                "intro\n<!-- results:start -->\n### Run\n#### 1. Latency\n\
                 ![chart](results/latest.svg)\n<!-- results:end -->\nafter\n"
            )
        );
        assert_eq!(into_readme("no markers", report), None);
    }

    #[test]
    fn chart_text_is_escaped() {
        assert_eq!(escape("a<b & c>"), "a&lt;b &amp; c&gt;");
    }
}
