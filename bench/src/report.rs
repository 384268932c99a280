//! The results: one Markdown table per scenario (edgepush and Pushpin side by side, with the
//! ratio), a goals table, and an SVG chart of the latency distributions.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

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
    /// edgepush twice, calling its Durable Objects over Workers RPC (in the `edgepush` slot) and
    /// through `fetch` (in the `pushpin` slot); the ratio RPC / fetch.
    Calls,
}

impl Layout {
    /// The names of the two columns.
    pub fn names(self) -> [&'static str; 2] {
        match self {
            Self::Systems => ["edgepush", "Pushpin"],
            Self::BeforeAfter => ["before (limits off)", "after (default limits)"],
            Self::Paths => ["Mercure (SSE)", "topic sockets (SDK path)"],
            Self::Calls => ["Workers RPC", "fetch"],
        }
    }

    /// The ratio's heading.
    fn ratio_name(self) -> &'static str {
        match self {
            Self::Systems => "edgepush / Pushpin",
            Self::BeforeAfter => "after / before",
            Self::Paths => "Mercure / topic sockets",
            Self::Calls => "RPC / fetch",
        }
    }
}

/// One scenario's results on both systems (or on one, before and after).
pub struct Section {
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
    /// A value of one side by key.
    pub fn get(&self, edgepush: bool, key: &str) -> Option<f64> {
        let side = if edgepush {
            &self.edgepush
        } else {
            &self.pushpin
        };
        side.as_ref()
            .ok()?
            .values
            .iter()
            .find(|v| v.key == key)?
            .number
    }
}

fn show(unit: Unit, n: f64) -> String {
    match unit {
        Unit::Ms => {
            let ms = n / 1000.0;
            if ms < 10.0 {
                format!("{ms:.2} ms")
            } else {
                format!("{ms:.1} ms")
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

/// The goals table: (goal, figure, whether met) for every goal a section measured.
pub fn goals(sections: &[Section]) -> Vec<(String, String, String)> {
    let find = |key: &str| -> Option<&Section> {
        sections
            .iter()
            .find(|s| s.get(true, key).is_some() || s.get(false, key).is_some())
    };
    let ms = |us: f64| format!("{:.1} ms", us / 1000.0);
    let mut out = Vec::new();
    for (key, what) in [
        ("latency.p99", "latency"),
        ("fanout.p99", "fan-out"),
        ("many.p99", "many users"),
        ("ingest.p99", "ingest (each at its own sustained rate)"),
        ("batch.p99", "batch"),
    ] {
        // Against Pushpin: only where the second column is Pushpin.
        for s in sections.iter().filter(|s| {
            s.layout == Layout::Systems
                && (s.get(true, key).is_some() || s.get(false, key).is_some())
        }) {
            let what = format!("{what} ({})", s.title);
            let (e, p) = (s.get(true, key), s.get(false, key));
            let (figure, met) = match (e, p) {
                (Some(e), Some(p)) => (
                    format!("{} vs {}", ms(e), ms(p)),
                    if e < p { "yes" } else { "**no**" },
                ),
                _ => ("not measured".to_owned(), "—"),
            };
            out.push((
                format!("p99 below Pushpin's: {what}"),
                figure,
                met.to_owned(),
            ));
        }
    }
    if let Some(s) = find("fanout.last_p50")
        && let (Some(median), Some(worst)) = (
            s.get(true, "fanout.last_p50"),
            s.get(true, "fanout.last_max"),
        )
    {
        out.push((
            "fan-out to 1,000 sockets under 100 ms (median round)".into(),
            format!("median {}, worst {}", ms(median), ms(worst)),
            if median < 100_000.0 { "yes" } else { "**no**" }.into(),
        ));
    }
    for s in sections {
        if let Some(kib) = s.get(true, "many.kib_per_conn") {
            let sockets = s.setup.split_whitespace().next().unwrap_or("?").to_owned();
            let held = sockets.parse::<u32>().is_ok_and(|n| n >= 10_000);
            out.push((
                format!(
                    "10,000 open sockets on one machine, under 2 KB of server memory each ({})",
                    s.title
                ),
                format!("{sockets} sockets held, {kib:.1} KiB each"),
                if held && kib < 2.0 { "yes" } else { "**no**" }.into(),
            ));
        }
    }
    for s in sections {
        if let Some(rate) = s.get(true, "ingest.sustained") {
            out.push((
                format!("at least 1,000 publishes/s into one room ({})", s.title),
                format!("{rate:.0}/s sustained"),
                if rate >= 1000.0 { "yes" } else { "**no**" }.into(),
            ));
        }
    }
    out
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

/// The Markdown report.
pub fn markdown(ctx: &Context, sections: &[Section], goals: &[(String, String, String)]) -> String {
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
    if !goals.is_empty() {
        md.push_str("## Goals\n\n| goal | figure | met |\n|---|---|---|\n");
        for (goal, figure, met) in goals {
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
                m.values.iter().find(|v| v.key == key).cloned()
            }
        };
        for (i, row) in rows.iter().enumerate() {
            let e = find(&s.edgepush, i, row.key);
            let p = find(&s.pushpin, i, row.key);
            let number = |v: &Option<Value>| v.as_ref().and_then(|v| v.number);
            let ratio = match s.layout {
                Layout::Systems | Layout::Paths | Layout::Calls => {
                    ratio(row, number(&e), number(&p))
                }
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

/// Puts a run's report into a README between `<!-- results:start -->` and
/// `<!-- results:end -->`: headings one level down, the chart linked from `results/`.
pub fn into_readme(readme: &str, report: &str) -> Option<String> {
    const START: &str = "<!-- results:start -->";
    const END: &str = "<!-- results:end -->";
    let (before, rest) = readme.split_once(START)?;
    let (_, after) = rest.split_once(END)?;
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
    Some(format!("{before}{START}\n{body}{END}{after}"))
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

    #[test]
    fn goals_compare_p99s_and_check_the_absolute_targets() {
        let sections = [
            Section {
                title: "1. Latency".into(),
                setup: String::new(),
                layout: Layout::Systems,
                edgepush: side(vec![value("latency.p99", Unit::Ms, true, 8000.0)]),
                pushpin: side(vec![value("latency.p99", Unit::Ms, true, 9000.0)]),
            },
            // RPC beside fetch: no goal against Pushpin.
            Section {
                title: "11. Object calls".into(),
                setup: String::new(),
                layout: Layout::Calls,
                edgepush: side(vec![value("latency.p99", Unit::Ms, true, 7000.0)]),
                pushpin: side(vec![value("latency.p99", Unit::Ms, true, 9000.0)]),
            },
            Section {
                title: "3. Many users".into(),
                setup: "10000 sockets across 1000 users".into(),
                layout: Layout::Systems,
                edgepush: side(vec![value("many.kib_per_conn", Unit::KiB, true, 2.5)]),
                pushpin: Err(Error::Skipped),
            },
            Section {
                title: "4. Ingest".into(),
                setup: String::new(),
                layout: Layout::Systems,
                edgepush: side(vec![value("ingest.sustained", Unit::PerSec, false, 1000.0)]),
                pushpin: side(Vec::new()),
            },
        ];
        let goals = goals(&sections);
        let rows: Vec<(&str, &str, &str)> = goals
            .iter()
            .map(|(g, f, m)| (g.as_str(), f.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "p99 below Pushpin's: latency (1. Latency)",
                    "8.0 ms vs 9.0 ms",
                    "yes"
                ),
                (
                    "10,000 open sockets on one machine, under 2 KB of server memory each (3. \
                     Many users)",
                    "10000 sockets held, 2.5 KiB each",
                    "**no**"
                ),
                (
                    "at least 1,000 publishes/s into one room (4. Ingest)",
                    "1000/s sustained",
                    "yes"
                ),
            ]
        );
    }

    #[test]
    fn a_section_lines_up_rows_by_key_and_reports_failures_with_their_cause() {
        let ctx = Context {
            when: "today".into(),
            smoke: true,
            facts: vec![("cores".into(), "2".into())],
        };
        let sections = [Section {
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
        let md = markdown(&ctx, &sections, &[]);
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
            title: "8. One hostile token holder".into(),
            setup: "One token.".into(),
            layout: Layout::BeforeAfter,
            edgepush: rows(6000.0, 300.0),
            pushpin: after,
        }];
        let md = markdown(&ctx, &sections, &[]);
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
