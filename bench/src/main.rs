//! `edgepush-bench`: runs the scenarios of issue 7 against edgepush (under `wrangler dev`) and
//! Pushpin (with the GRIP backend in this process), both on loopback, and writes a Markdown
//! report and an SVG chart. `scripts/bench.sh` is the way to run it; see `bench/README.md`.

mod grip;
mod load;
mod report;
mod scenarios;
mod servers;
mod target;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use edgepush_protocol::signature::SigningKey;
use edgepush_protocol::token::TokenKey;

use crate::report::{Context, Panel, Section};
use crate::scenarios::{Measured, Params};
use crate::servers::{Edgepush, GroupFile, Pushpin, Runtime};
use crate::target::{Kind, Target};

/// Errors are messages for the report.
pub type Res<T> = Result<T, String>;

#[derive(Parser)]
#[command(about = "Benchmarks edgepush beside Pushpin (run it through scripts/bench.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Starts both servers and runs the scenarios.
    Run(RunArgs),
    /// Copies bench/results/latest.md into bench/README.md (between its results markers).
    Readme {
        /// Repository root.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Runs only the GRIP backend (for trying Pushpin by hand).
    GripBackend {
        /// Port on 127.0.0.1.
        #[arg(long)]
        port: u16,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Tiny sizes; fails if any scenario delivers nothing or loses events.
    #[arg(long)]
    smoke: bool,
    /// Repository root.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Folder for server state, configs and logs (relative to the repository).
    #[arg(long, default_value = "target/bench")]
    work_dir: PathBuf,
    /// Folder for the reports of full runs (relative to the repository).
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Name of this run's files (e.g. the date).
    #[arg(long, default_value = "run")]
    stamp: String,
    /// File listing the process groups started, for the calling script's cleanup.
    #[arg(long)]
    pgid_file: Option<PathBuf>,
    /// Sockets in scenario 3 under wrangler dev (full run). wrangler's proxy workerd holds four
    /// file descriptors per socket, and the hard limit here is 20,000.
    #[arg(long, default_value_t = 4_500)]
    many_users_sockets: usize,
    /// Sockets in scenario 3b, edgepush on plain workerd (full run), which holds two file
    /// descriptors per socket and three per active Durable Object (its SQLite files).
    #[arg(long, default_value_t = 8_000)]
    many_users_workerd_sockets: usize,
    /// Only these scenarios (comma-separated: memory, memory-deflate, memory-workerd, many-users,
    /// many-users-workerd, latency, latency-workerd, fanout, ingest, ingest-workerd,
    /// ingest-batched-workerd, batch, size).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run against one system only (edgepush or pushpin), for investigating.
    #[arg(long)]
    system: Option<String>,
}

fn env(name: &str) -> Res<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: source scripts/env.sh"))
}

fn tool_version(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "not found".to_owned())
}

fn machine_facts(smoke: bool) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim())
        .to_owned();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map_or("unknown".to_owned(), |k| {
            format!("{:.1} GiB", k / 1024.0 / 1024.0)
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        ("cores".into(), format!("{cores} ({model})")),
        ("memory".into(), mem),
        ("kernel".into(), tool_version("uname", &["-sr"])),
        (
            "load average at start (1, 5, 15 min)".into(),
            format!("{load} (the machine is shared: other builds may run meanwhile)"),
        ),
        (
            "edgepush under".into(),
            format!(
                "wrangler {} / workerd {} / node {}",
                tool_version("wrangler", &["--version"]),
                tool_version("workerd", &["--version"]),
                tool_version("node", &["--version"])
            ),
        ),
        (
            "Pushpin".into(),
            format!(
                "{} / condure {} / {}",
                tool_version("pushpin", &["--version"]),
                tool_version("condure", &["--version"]),
                tool_version("zurl", &["--version"])
            ),
        ),
        (
            "benchmark client".into(),
            format!(
                "edgepush-bench ({}), {}; tokio, tokio-tungstenite, reqwest, hdrhistogram",
                if cfg!(debug_assertions) {
                    "debug build"
                } else {
                    "optimised build"
                },
                tool_version("rustc", &["--version"])
            ),
        ),
        (
            "sizes".into(),
            if smoke {
                "smoke (tiny)".into()
            } else {
                "full".into()
            },
        ),
    ]
}

/// Both servers, fresh.
struct Servers {
    edgepush: Edgepush,
    pushpin: Pushpin,
}

fn start_servers(
    repo: &Path,
    work: &Path,
    backend_port: u16,
    groups: &GroupFile,
    runtime: Runtime,
) -> Res<Servers> {
    let edgepush = match runtime {
        Runtime::WranglerDev => {
            eprintln!("bench: starting edgepush (wrangler dev) and Pushpin");
            Edgepush::start(repo, work, groups)?
        }
        Runtime::Workerd => {
            eprintln!("bench: starting edgepush (plain workerd) and Pushpin");
            Edgepush::start_workerd(repo, &repo.join("bench/workerd"), work, groups)?
        }
    };
    let pushpin = Pushpin::start(&repo.join("bench/pushpin"), work, backend_port, groups)?;
    Ok(Servers { edgepush, pushpin })
}

/// Run order (the report sorts by title): the memory scenarios first, on servers that have not
/// yet grown; the one on plain workerd last, so that a smoke run switches runtime once.
const SCENARIOS: [&str; 13] = [
    "memory",
    "memory-deflate",
    "many-users",
    "latency",
    "fanout",
    "ingest",
    "batch",
    "memory-workerd",
    "many-users-workerd",
    "latency-workerd",
    "ingest-workerd",
    "ingest-batched-workerd",
    "size",
];

fn title_and_setup(name: &str, p: &Params) -> (String, String) {
    match name {
        "latency" => (
            "1. Latency".into(),
            format!(
                "{} sockets of one user; {} publishes/s for {} s, one event per request, sent on \
                 schedule whether or not earlier ones were answered. Latency is publish→deliver, \
                 from a wall-clock timestamp in the payload to the frame's arrival.",
                p.latency.0, p.latency.1, p.latency.2
            ),
        ),
        "fanout" => (
            "2. Fan-out".into(),
            format!(
                "One publish to {} sockets of one user, {} rounds; time from the publish request \
                 until the last socket has the event.",
                p.fanout.0, p.fanout.1
            ),
        ),
        "many-users" => (
            "3. Many users".into(),
            format!(
                "{} sockets across {} users; {} publishes/s to random users for {} s.",
                p.many.0, p.many.1, p.many.2, p.many.3
            ),
        ),
        "many-users-workerd" => (
            "3b. Many users, edgepush on plain `workerd serve`".into(),
            format!(
                "{} sockets across {} users; {} publishes/s to random users for {} s; edgepush \
                 runs under plain `workerd serve` (as in 6c) instead of `wrangler dev`. workerd \
                 holds two file descriptors per WebSocket (the accepted socket and a duplicate) \
                 and three per active Durable Object (its SQLite files), wrangler's proxy \
                 workerd four per WebSocket, and the hard limit here is 20,000: so about 8,000 \
                 sockets of 1,000 active users on one workerd, and 4,990 through `wrangler dev`.",
                p.many_workerd, p.many.1, p.many.2, p.many.3
            ),
        ),
        "latency-workerd" => (
            "1b. Latency, edgepush on plain `workerd serve`".into(),
            format!(
                "As 1 ({} sockets of one user, {} publishes/s for {} s), with edgepush's built \
                 worker under plain `workerd serve` (as in 6c): what wrangler's dev server adds.",
                p.latency.0, p.latency.1, p.latency.2
            ),
        ),
        "ingest-workerd" => (
            "4b. Ingest, edgepush on plain `workerd serve`".into(),
            format!(
                "As 4 ({} sockets, steps {:?}/s), with edgepush under plain `workerd serve`.",
                p.ingest.0, p.ingest.1
            ),
        ),
        "ingest-batched-workerd" => (
            "4c. Ingest in batches, edgepush on plain `workerd serve`".into(),
            format!(
                "As 4b, but each request carries {} events (a publisher that batches, like the \
                 PHP `Publisher::publishBatch`); rates are events per second, steps {:?}/s. Not \
                 counted toward the publishes/s goal.",
                p.ingest_batched.0, p.ingest_batched.1
            ),
        ),
        "ingest" => (
            "4. Ingest".into(),
            format!(
                "Publishes into one user's room ({} sockets), stepping through {:?}/s for {} s \
                 each until a step has an error, a missing delivery or a backlog; then the best \
                 rate for {} s (or half of it if that fails).",
                p.ingest.0, p.ingest.1, p.ingest.2, p.ingest.3
            ),
        ),
        "batch" => (
            "5. Batch".into(),
            format!(
                "One publish request carrying one event for each of {} users ({} socket(s) \
                 each), {} rounds; time until the last socket has its event.",
                p.batch.0, p.batch.1, p.batch.2
            ),
        ),
        "memory-deflate" => (
            "6b. Memory with browser-like handshakes (permessage-deflate offered)".into(),
            format!(
                "As 6, but each of the {} sockets (of {} users) is opened with a hand-written \
                 handshake that offers `permessage-deflate` as browsers do, and is never read. \
                 workerd accepts compression and keeps a zlib context per socket; condure (Pushpin) \
                 only compresses when started with `--compression`, which the packaged runner \
                 does not pass.",
                p.memory.0, p.memory.1
            ),
        ),
        "memory-workerd" => (
            "6c. Memory without wrangler: edgepush on plain `workerd serve`".into(),
            format!(
                "As 6 (same client, no compression offered), but edgepush's built worker runs \
                 under plain `workerd serve` (bench/workerd/edgepush.capnp.in: same bundle, \
                 Durable Objects with SQLite on local disk) instead of `wrangler dev`: no \
                 wrangler proxy, no inspector, no node. Pushpin is measured again beside it. {} \
                 sockets of {} users.",
                p.memory.0, p.memory.1
            ),
        ),
        "memory" => (
            "6. Memory".into(),
            format!(
                "Resident memory (RSS, summed over every process of the server: for edgepush \
                 wrangler's node, its proxy workerd and the workerd running the worker; for \
                 Pushpin condure, pushpin-proxy, pushpin-handler, the runner and zurl) on fresh \
                 servers: idle, with {} sockets of {} users open, and after they closed.",
                p.memory.0, p.memory.1
            ),
        ),
        _ => (
            "7. Size".into(),
            "What a browser downloads, and what the server ships.".into(),
        ),
    }
}

async fn run_one(
    name: &str,
    target: &Arc<Target>,
    params: &Params,
    breakdown: &dyn Fn() -> Vec<(String, u64)>,
) -> Result<Measured, String> {
    eprintln!("bench: {name} on {}", target.kind.name());
    let result = match name {
        "latency" | "latency-workerd" => scenarios::latency(target, params).await,
        "fanout" => scenarios::fanout(target, params).await,
        "many-users" => scenarios::many_users(target, params).await,
        "many-users-workerd" => {
            let mut p = params.clone();
            p.many.0 = params.many_workerd;
            scenarios::many_users(target, &p).await
        }
        "ingest" | "ingest-workerd" => scenarios::ingest(target, params, false).await,
        "ingest-batched-workerd" => scenarios::ingest(target, params, true).await,
        "batch" => scenarios::batch(target, params).await,
        "memory" | "memory-workerd" => scenarios::memory(target, params, breakdown, false).await,
        "memory-deflate" => scenarios::memory(target, params, breakdown, true).await,
        _ => Err(format!("unknown scenario {name}")),
    };
    // Let the server settle (closed sockets, hibernation) before the next run.
    tokio::time::sleep(params.settle / 2).await;
    if let Err(e) = &result {
        eprintln!("bench: {name} on {} failed: {e}", target.kind.name());
    }
    result
}

fn goals(sections: &[Section]) -> Vec<(String, String, String)> {
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
        for s in sections
            .iter()
            .filter(|s| s.get(true, key).is_some() || s.get(false, key).is_some())
        {
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

async fn run(args: RunArgs) -> Res<bool> {
    let repo = args
        .repo
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.repo.display()))?;
    let work = repo.join(&args.work_dir);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let groups = GroupFile::new(args.pgid_file.clone());
    let tokens =
        TokenKey::new(env("EDGEPUSH_TEST_JWT_SECRET")?.as_bytes()).map_err(|e| e.to_string())?;
    let signing = SigningKey::new(
        &env("EDGEPUSH_TEST_KEY_ID")?,
        env("EDGEPUSH_TEST_PUBLISH_SECRET")?.as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let when = tool_version("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let facts = machine_facts(args.smoke);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| e.to_string())?;
    let backend_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let backend = tokio::spawn(grip::serve(listener, Arc::new(tokens.clone())));

    let params = if args.smoke {
        Params::smoke()
    } else {
        Params::full(args.many_users_sockets, args.many_users_workerd_sockets)
    };
    let selected: Vec<&str> = SCENARIOS
        .iter()
        .copied()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s))
        // The smoke run covers the plain-workerd path with 6c and the only scenario that exists
        // on it alone (4c), not every variant.
        .filter(|s| {
            !args.smoke
                || !args.only.is_empty()
                || !s.ends_with("-workerd")
                || ["memory-workerd", "ingest-batched-workerd"].contains(s)
        })
        .collect();

    let mut sections = Vec::new();
    let mut servers: Option<Servers> = None;
    for name in selected {
        let (title, setup) = title_and_setup(name, &params);
        if name == "size" {
            let (edgepush, pushpin) = scenarios::size(&repo);
            sections.push(Section {
                title,
                setup,
                edgepush: Ok(edgepush),
                pushpin: Ok(pushpin),
            });
            continue;
        }
        // Fresh servers for every scenario of a full run (clean memory and storage); one pair
        // for the whole smoke run, except where the runtime changes.
        let runtime = if name.ends_with("-workerd") {
            Runtime::Workerd
        } else {
            Runtime::WranglerDev
        };
        if !args.smoke
            || servers
                .as_ref()
                .is_none_or(|s| s.edgepush.runtime != runtime)
        {
            drop(servers.take());
            servers = Some(tokio::task::block_in_place(|| {
                start_servers(&repo, &work, backend_port, &groups, runtime)
            })?);
        }
        let Some(s) = &servers else { continue };
        let edge = Arc::new(Target::new(
            Kind::Edgepush,
            format!("ws://127.0.0.1:{}/connect", s.edgepush.port),
            format!("http://127.0.0.1:{}/publish", s.edgepush.port),
            s.edgepush.pgids(),
            tokens.clone(),
            signing.clone(),
        )?);
        let push = Arc::new(Target::new(
            Kind::Pushpin,
            format!("ws://127.0.0.1:{}/connect", s.pushpin.http_port),
            format!("http://127.0.0.1:{}/publish/", s.pushpin.publish_port),
            s.pushpin.pgids(),
            tokens.clone(),
            signing.clone(),
        )?);
        let wanted = |k: &str| {
            args.system
                .as_deref()
                .is_none_or(|w| w.eq_ignore_ascii_case(k))
        };
        let skipped = || Err("not run (--system)".to_owned());
        let edgepush = if wanted("edgepush") {
            run_one(name, &edge, &params, &|| s.edgepush.breakdown()).await
        } else {
            skipped()
        };
        let pushpin = if wanted("pushpin") {
            run_one(name, &push, &params, &|| s.pushpin.breakdown()).await
        } else {
            skipped()
        };
        sections.push(Section {
            title,
            setup,
            edgepush,
            pushpin,
        });
    }
    drop(servers.take());
    backend.abort();
    sections.sort_by(|a, b| a.title.cmp(&b.title));

    let goals = if args.smoke {
        Vec::new()
    } else {
        goals(&sections)
    };
    let ctx = Context {
        when: when.clone(),
        smoke: args.smoke,
        facts,
    };
    let markdown = report::markdown(&ctx, &sections, &goals);
    let mut panels = Vec::new();
    for s in &sections {
        let (Ok(e), Ok(p)) = (&s.edgepush, &s.pushpin) else {
            continue;
        };
        if let (Some(he), Some(hp)) = (&e.curve, &p.curve) {
            panels.push(Panel {
                title: s.title.clone(),
                series: vec![("edgepush", "#d9480f", he), ("Pushpin", "#1c7ed6", hp)],
            });
        }
    }
    let svg = report::svg(
        &panels,
        &format!(
            "publish→deliver latency by percentile, {when}; edgepush under wrangler dev (local \
             workerd), not Cloudflare's network"
        ),
    );
    let (dir, names): (PathBuf, Vec<String>) = if args.smoke {
        (work.clone(), vec!["smoke".to_owned()])
    } else {
        (
            repo.join(&args.out),
            vec![args.stamp.clone(), "latest".to_owned()],
        )
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for name in &names {
        // The Markdown links the chart of the same name.
        let md = format!("{markdown}![publish→deliver latency]({name}.svg)\n");
        std::fs::write(dir.join(format!("{name}.md")), md).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(format!("{name}.svg")), &svg).map_err(|e| e.to_string())?;
    }
    println!("{markdown}");
    if !args.smoke && args.only.is_empty() && args.system.is_none() {
        update_readme(&repo)?;
    }
    eprintln!(
        "bench: wrote {}",
        names
            .iter()
            .map(|n| dir.join(format!("{n}.md")).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut ok = true;
    for s in &sections {
        for (name, side) in [("edgepush", &s.edgepush), ("Pushpin", &s.pushpin)] {
            match side {
                Err(e) => {
                    ok = false;
                    eprintln!("bench: {} on {name}: {e}", s.title);
                }
                Ok(m) => {
                    for problem in &m.problems {
                        ok = false;
                        eprintln!("bench: {} on {name}: {problem}", s.title);
                    }
                }
            }
        }
    }
    Ok(ok)
}

/// Puts `bench/results/latest.md` into `bench/README.md`.
fn update_readme(repo: &Path) -> Res<()> {
    let latest = repo.join("bench/results/latest.md");
    let readme = repo.join("bench/README.md");
    let report =
        std::fs::read_to_string(&latest).map_err(|e| format!("{}: {e}", latest.display()))?;
    let text =
        std::fs::read_to_string(&readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let updated = report::into_readme(&text, &report)
        .ok_or_else(|| format!("{} has no results markers", readme.display()))?;
    std::fs::write(&readme, updated).map_err(|e| e.to_string())?;
    eprintln!("bench: updated {}", readme.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Cmd::Readme { repo } => match update_readme(&repo) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::GripBackend { port } => runtime.block_on(async move {
            let secret = match env("EDGEPUSH_TEST_JWT_SECRET") {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let (Ok(key), Ok(listener)) = (
                TokenKey::new(secret.as_bytes()),
                tokio::net::TcpListener::bind(("127.0.0.1", port)).await,
            ) else {
                eprintln!("cannot listen on 127.0.0.1:{port}");
                return ExitCode::FAILURE;
            };
            grip::serve(listener, Arc::new(key)).await;
            ExitCode::SUCCESS
        }),
        Cmd::Run(args) => {
            let smoke = args.smoke;
            match runtime.block_on(run(args)) {
                Ok(true) => ExitCode::SUCCESS,
                // A full run reports shortfalls; only the smoke run judges.
                Ok(false) if !smoke => ExitCode::SUCCESS,
                Ok(false) => {
                    eprintln!("bench: smoke run FAILED (see above)");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
