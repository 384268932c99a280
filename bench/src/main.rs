//! `edgepush-bench`: runs the scenarios of `bench/README.md` against edgepush (under `wrangler dev`
//! or plain workerd) and Pushpin (with the GRIP backend in this process), both on loopback, and
//! writes a Markdown report and an SVG chart. `scripts/bench.sh` is the way to run it.

mod catalogue;
mod error;
mod gc;
mod grip;
mod hostile;
mod load;
mod report;
mod scenarios;
mod servers;
mod target;
mod topics;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum as _};
use edgepush_protocol::signature::SigningKey;
use edgepush_protocol::token::TokenKey;

use crate::catalogue::{Scenario, Workload};
use crate::error::{Error, Result, chain};
use crate::report::{Context, Layout, Section};
use crate::scenarios::{Measured, Params, Unit};
use crate::servers::{Edgepush, GroupFile, LIMITS_OFF, Pushpin, RAISED_LIMITS, Runtime};
use crate::target::{Kind, Target};
use crate::topics::Series;

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
    /// Copies bench/results/latest.md into bench/README.md (between its results markers), and
    /// its summary and goals into README.md (between its bench markers).
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
    /// Sockets in many-users, under wrangler dev (full run). wrangler's proxy workerd holds four
    /// file descriptors per socket, and the hard limit here is 20,000.
    #[arg(long, default_value_t = 4_500)]
    many_users_sockets: usize,
    /// Sockets in many-users-workerd, on plain workerd (full run), which holds two file
    /// descriptors per socket and three per active Durable Object (its SQLite files).
    #[arg(long, default_value_t = 8_000)]
    many_users_workerd_sockets: usize,
    /// Subscribers of the one topic in broadcast-workerd and reconnect-storm-workerd (full run),
    /// on plain workerd: two file descriptors per socket (the storm briefly holds the dropped
    /// ones and the new ones) and three per awake room (each subscriber is a user whose room a
    /// topic socket's connect asks); 4,000 ran out of the 20,000 descriptors in the storm.
    #[arg(long, default_value_t = 3_000)]
    broadcast_sockets: usize,
    /// Only these scenarios (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Run against one system only, for investigating.
    #[arg(long)]
    system: Option<Kind>,
    /// Pin every server process to these CPUs (a `taskset -c` list, e.g. `0`); scripts/bench.sh
    /// passes the first CPU and runs the benchmark itself on the others.
    #[arg(long)]
    server_cpus: Option<String>,
}

fn env(name: &'static str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::Env(name))
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

fn machine_facts(smoke: bool, server_cpus: Option<&str>, work: &Path) -> Vec<(String, String)> {
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
    // Every core of the machine, whatever this process is pinned to.
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let own_cpus = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Cpus_allowed_list:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    let pinning = match server_cpus {
        Some(cpus) => format!(
            "servers (every process of both) on CPU {cpus}, the benchmark's clients and \
             publisher on CPU {own_cpus} (`taskset`)"
        ),
        None => format!("none: servers, clients and publisher share CPUs {own_cpus}"),
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        ("cores".into(), format!("{cores} ({model})")),
        ("memory".into(), mem),
        ("CPU pinning".into(), pinning),
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
            "servers' state (SQLite files, logs)".into(),
            format!(
                "{} ({})",
                work.display(),
                tool_version("stat", &["-f", "-c", "%T", &work.display().to_string()])
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

impl Servers {
    /// Starts edgepush under `runtime` and Pushpin, routed to the GRIP backend on `backend_port`.
    fn start(bench: &Bench, backend_port: u16, runtime: Runtime) -> Result<Self> {
        let (repo, work, groups) = (&bench.repo, &bench.work, &bench.groups);
        let edgepush = match runtime {
            Runtime::WranglerDev => {
                eprintln!("bench: starting edgepush (wrangler dev) and Pushpin");
                Edgepush::start(work, groups, &RAISED_LIMITS)?
            }
            Runtime::Workerd => {
                eprintln!("bench: starting edgepush (plain workerd) and Pushpin");
                Edgepush::start_workerd(repo, &repo.join("bench/workerd"), work, groups)?
            }
        };
        let pushpin = Pushpin::start(&repo.join("bench/pushpin"), work, backend_port, groups)?;
        Ok(Self { edgepush, pushpin })
    }

    /// The two systems as the scenarios see them: edgepush, then Pushpin.
    /// edgepush's with its Mercure hub.
    fn targets(&self, bench: &Bench) -> Result<[Arc<Target>; 2]> {
        let target = |kind, ws_url, publish_url, pgids| {
            let (tokens, signing) = (bench.tokens.clone(), bench.signing.clone());
            Target::new(kind, ws_url, publish_url, pgids, tokens, signing)
        };
        let (edgepush, pushpin) = (&self.edgepush, &self.pushpin);
        Ok([
            target(
                Kind::Edgepush,
                format!("ws://127.0.0.1:{}/connect", edgepush.port),
                format!("http://127.0.0.1:{}/publish", edgepush.port),
                edgepush.pgids(),
            )?
            .with_mercure(
                format!("http://127.0.0.1:{}/.well-known/mercure", edgepush.port),
                bench.mercure.clone(),
            )
            .map(Arc::new)?,
            target(
                Kind::Pushpin,
                format!("ws://127.0.0.1:{}/connect", pushpin.http_port),
                format!("http://127.0.0.1:{}/publish/", pushpin.publish_port),
                pushpin.pgids(),
            )
            .map(Arc::new)?,
        ])
    }
}

/// Runs one scenario's `work` on one system (or one path of it), then lets the server settle.
/// Adds the servers' CPU time (`pgids`, from `/proc`) over the whole workload, connects and
/// warm-up included, per event published and per frame delivered.
async fn run_one(
    name: &str,
    system: &str,
    params: &Params,
    pgids: &[i32],
    work: impl Future<Output = Result<Measured>>,
) -> Result<Measured> {
    eprintln!("bench: {name} on {system}");
    let cpu_before = servers::cpu_ms(pgids);
    let mut result = work.await;
    let cpu_us = servers::cpu_ms(pgids).saturating_sub(cpu_before) as f64 * 1000.0;
    if let Ok(m) = &mut result
        && let Some((published, delivered)) = m.counted.filter(|&(p, d)| p > 0 && d > 0)
    {
        m.add(
            "cpu.per_publish",
            "server CPU per event published (whole scenario, connects included)",
            Unit::Ms,
            true,
            cpu_us / published as f64,
        );
        m.add(
            "cpu.per_frame",
            "server CPU per frame delivered (whole scenario, connects included)",
            Unit::Ms,
            true,
            cpu_us / delivered as f64,
        );
    }
    // Let the server settle (closed sockets, hibernation) before the next run.
    tokio::time::sleep(params.settle / 2).await;
    if let Err(e) = &result {
        eprintln!("bench: {name} on {system} failed: {}", chain(e));
    }
    result
}
/// One `run`: its arguments, and what every scenario shares.
struct Bench {
    args: RunArgs,
    repo: PathBuf,
    work: PathBuf,
    groups: GroupFile,
    tokens: TokenKey,
    signing: SigningKey,
    /// Signs the Mercure hub's tokens (the test workers' Mercure key).
    mercure: TokenKey,
    params: Params,
}

impl Bench {
    /// Finds the repository, makes the work folder and reads the keys of `scripts/env.sh`.
    fn new(args: RunArgs) -> Result<Self> {
        let repo = args.repo.canonicalize().map_err(Error::io(&args.repo))?;
        let work = repo.join(&args.work_dir);
        std::fs::create_dir_all(&work).map_err(Error::io(&work))?;
        let tokens = TokenKey::new(env("EDGEPUSH_TEST_JWT_SECRET")?.as_bytes())?;
        let signing = SigningKey::new(
            &env("EDGEPUSH_TEST_KEY_ID")?,
            env("EDGEPUSH_TEST_PUBLISH_SECRET")?.as_bytes(),
        )?;
        let mercure = TokenKey::new(env("EDGEPUSH_TEST_MERCURE_JWT_SECRET")?.as_bytes())?;
        let params = if args.smoke {
            Params::smoke()
        } else {
            Params::full(
                args.many_users_sockets,
                args.many_users_workerd_sockets,
                args.broadcast_sockets,
            )
        };
        Ok(Self {
            groups: GroupFile::new(args.pgid_file.clone(), args.server_cpus.clone()),
            args,
            repo,
            work,
            tokens,
            signing,
            mercure,
            params,
        })
    }

    /// The scenarios to run, in run order: those of `--only`, or every one (in a smoke run, those
    /// marked for it).
    fn selected(&self) -> Vec<Scenario> {
        let (only, smoke) = (&self.args.only, self.args.smoke);
        Scenario::value_variants()
            .iter()
            .copied()
            .filter(|s| match only.is_empty() {
                true => !smoke || s.row(&self.params).in_smoke,
                false => only.contains(s),
            })
            .collect()
    }

    /// Runs every selected scenario on both systems, beside the GRIP backend Pushpin routes to;
    /// returns one section each, sorted by title.
    async fn measure_all(&self) -> Result<Vec<Section>> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::Loopback)?;
        let backend_port = listener.local_addr().map_err(Error::Loopback)?.port();
        let backend = tokio::spawn(grip::serve(listener, Arc::new(self.tokens.clone())));
        let mut sections = Vec::new();
        let mut servers: Option<Servers> = None;
        for scenario in self.selected() {
            let row = scenario.row(&self.params);
            let layout = row.live.map_or(Layout::Systems, |(_, w)| w.layout());
            let (edgepush, pushpin) = match row.live {
                None => {
                    let (edgepush, pushpin) = scenarios::size(&self.repo);
                    (Ok(edgepush), Ok(pushpin))
                }
                Some((_, Workload::Hostile)) => {
                    // Workers of its own, and no other server running meanwhile.
                    if let Some(s) = servers.take() {
                        tokio::task::block_in_place(|| drop(s));
                    }
                    self.measure_hostile(&scenario.name()).await?
                }
                Some((runtime, workload)) => {
                    // Fresh servers for every scenario of a full run (clean memory and storage);
                    // one pair for the whole smoke run, except where the runtime changes.
                    let kept = servers
                        .take()
                        .filter(|s| self.args.smoke && s.edgepush.runtime == runtime);
                    let s = match kept {
                        Some(s) => s,
                        None => tokio::task::block_in_place(|| {
                            Servers::start(self, backend_port, runtime)
                        })?,
                    };
                    let sides = self.measure(scenario, workload, &s).await?;
                    servers = Some(s);
                    sides
                }
            };
            sections.push(Section {
                scenario,
                title: row.title.to_owned(),
                setup: row.setup,
                layout,
                edgepush,
                pushpin,
            });
        }
        drop(servers);
        backend.abort();
        sections.sort_by(|a, b| a.title.cmp(&b.title));
        Ok(sections)
    }

    /// Runs one workload on each system (or on the one `--system` chose).
    async fn measure(
        &self,
        scenario: Scenario,
        workload: Workload,
        s: &Servers,
    ) -> Result<(Result<Measured>, Result<Measured>)> {
        let [edge, push] = s.targets(self)?;
        let (name, params) = (scenario.name(), &self.params);
        if let Workload::Mercure {
            sockets, pushpin, ..
        } = workload
        {
            return Ok(self
                .measure_paths(&name, workload, sockets, pushpin, [&edge, &push])
                .await);
        }
        let wanted = |k| self.args.system.is_none_or(|w| w == k);
        let edgepush = match wanted(Kind::Edgepush) {
            true => {
                let breakdown = || s.edgepush.breakdown();
                let work = workload.run(&edge, params, &breakdown);
                // Only plain workerd's log has the collections (`--trace-gc-nvp`).
                let log = &s.edgepush.log;
                let from = (s.edgepush.runtime == Runtime::Workerd).then(|| gc::mark(log));
                let mut result = run_one(&name, "edgepush", params, &edge.pgids, work).await;
                if let (Ok(m), Some(from)) = (&mut result, from) {
                    gc::since(log, from).add_to(m);
                }
                result
            }
            false => Err(Error::Skipped),
        };
        let pushpin = match wanted(Kind::Pushpin) {
            true => {
                let breakdown = || s.pushpin.breakdown();
                let work = workload.run(&push, params, &breakdown);
                run_one(&name, "Pushpin", params, &push.pgids, work).await
            }
            false => Err(Error::Skipped),
        };
        Ok((edgepush, pushpin))
    }

    /// A Mercure workload: its series over edgepush's Mercure hub, then `sockets` over
    /// edgepush's topic sockets; with `pushpin`, `sockets` also over Pushpin's, as a note beside
    /// the topic sockets. `--system pushpin` skips it.
    async fn measure_paths(
        &self,
        name: &str,
        workload: Workload,
        sockets: Series,
        pushpin: bool,
        [edge, push]: [&Arc<Target>; 2],
    ) -> (Result<Measured>, Result<Measured>) {
        if self.args.system == Some(Kind::Pushpin) {
            return (Err(Error::Skipped), Err(Error::Skipped));
        }
        let params = &self.params;
        let none = || Vec::new();
        let work = workload.run(edge, params, &none);
        let mercure = run_one(name, "Mercure", params, &edge.pgids, work).await;
        let via = topics::Path::TopicSocket;
        let work = topics::series(edge, via, &sockets);
        let mut beside = run_one(name, "edgepush topic sockets", params, &edge.pgids, work).await;
        if pushpin {
            let work = topics::series(push, via, &sockets);
            let theirs = run_one(name, "Pushpin", params, &push.pgids, work).await;
            if let Ok(m) = &mut beside {
                m.notes.push(topics::pushpin_note(&theirs));
            }
        }
        (mercure, beside)
    }

    /// Runs `hostile` on two fresh workers under `wrangler dev`, one after the other: before, with
    /// the limits on one token holder switched off, and after, with the defaults.
    async fn measure_hostile(&self, name: &str) -> Result<(Result<Measured>, Result<Measured>)> {
        if self.args.system == Some(Kind::Pushpin) {
            return Ok((Err(Error::Skipped), Err(Error::Skipped)));
        }
        let mut sides = Vec::new();
        for (vars, limited) in [(&LIMITS_OFF[..], false), (&[][..], true)] {
            let side = Layout::BeforeAfter.names()[usize::from(limited)];
            eprintln!("bench: starting edgepush (wrangler dev), {side}");
            let edgepush =
                tokio::task::block_in_place(|| Edgepush::start(&self.work, &self.groups, vars))?;
            let target = self.target_of(&edgepush)?;
            eprintln!("bench: {name}, {side}");
            let result = hostile::run(&target, &self.params, limited).await;
            if let Err(e) = &result {
                eprintln!("bench: {name}, {side}, failed: {}", chain(e));
            }
            sides.push(result);
            tokio::task::block_in_place(|| drop(edgepush));
        }
        let after = sides.pop().unwrap_or(Err(Error::Skipped));
        let before = sides.pop().unwrap_or(Err(Error::Skipped));
        Ok((before, after))
    }

    /// An edgepush worker started for one scenario, as the scenario sees it.
    fn target_of(&self, edgepush: &Edgepush) -> Result<Arc<Target>> {
        Target::new(
            Kind::Edgepush,
            format!("ws://127.0.0.1:{}/connect", edgepush.port),
            format!("http://127.0.0.1:{}/publish", edgepush.port),
            edgepush.pgids(),
            self.tokens.clone(),
            self.signing.clone(),
        )
        .map(Arc::new)
    }

    /// Writes the Markdown report and its chart (a full run's under `--out` as the stamp, and a
    /// whole full run's also as `latest`; a smoke run's in the work folder), prints the report,
    /// and after a whole full run puts it into `bench/README.md`.
    fn write_reports(&self, sections: &[Section], ctx: &Context) -> Result<()> {
        let args = &self.args;
        let whole = args.only.is_empty() && args.system.is_none();
        let markdown = report::markdown(ctx, sections);
        let svg = report::chart(sections, &ctx.when);
        let (dir, names) = if args.smoke {
            (self.work.clone(), vec!["smoke".to_owned()])
        } else {
            let mut names = vec![args.stamp.clone()];
            if whole {
                names.push("latest".to_owned());
            }
            (self.repo.join(&args.out), names)
        };
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let mut written = Vec::new();
        for name in &names {
            // The Markdown links the chart of the same name.
            let md = format!("{markdown}![publish→deliver latency]({name}.svg)\n");
            let (md_path, svg_path) = (
                dir.join(format!("{name}.md")),
                dir.join(format!("{name}.svg")),
            );
            std::fs::write(&md_path, md).map_err(Error::io(&md_path))?;
            std::fs::write(&svg_path, &svg).map_err(Error::io(&svg_path))?;
            written.push(md_path.display().to_string());
        }
        println!("{markdown}");
        if !args.smoke && whole {
            update_readme(&self.repo)?;
        }
        eprintln!("bench: wrote {}", written.join(", "));
        Ok(())
    }
}

/// Prints every failure and every finding of `sections`; returns whether there was none.
fn judge(sections: &[Section]) -> bool {
    let mut ok = true;
    for s in sections {
        for (name, side) in s.layout.names().into_iter().zip([&s.edgepush, &s.pushpin]) {
            let problems: Vec<&Error> = match side {
                Err(e) => vec![e],
                Ok(m) => m.problems.iter().collect(),
            };
            for problem in problems {
                ok = false;
                eprintln!("bench: {} on {name}: {}", s.title, chain(problem));
            }
        }
    }
    ok
}

async fn run(args: RunArgs) -> Result<bool> {
    let bench = Bench::new(args)?;
    let ctx = Context {
        when: tool_version("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        smoke: bench.args.smoke,
        facts: machine_facts(
            bench.args.smoke,
            bench.args.server_cpus.as_deref(),
            &bench.work,
        ),
    };
    let sections = bench.measure_all().await?;
    bench.write_reports(&sections, &ctx)?;
    Ok(judge(&sections))
}

async fn grip_backend(port: u16) -> Result<()> {
    let key = TokenKey::new(env("EDGEPUSH_TEST_JWT_SECRET")?.as_bytes())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(Error::Loopback)?;
    grip::serve(listener, Arc::new(key)).await;
    Ok(())
}

/// Puts `bench/results/latest.md` into `bench/README.md`, and its summary and goals into the
/// project's `README.md`.
fn update_readme(repo: &Path) -> Result<()> {
    let latest = repo.join("bench/results/latest.md");
    let report = std::fs::read_to_string(&latest).map_err(Error::io(&latest))?;
    for (file, put) in [
        (
            "bench/README.md",
            report::into_readme as fn(&str, &str) -> Option<String>,
        ),
        ("README.md", report::into_project_readme),
    ] {
        let readme = repo.join(file);
        let text = std::fs::read_to_string(&readme).map_err(Error::io(&readme))?;
        let updated = put(&text, &report).ok_or_else(|| Error::NoMarkers(readme.clone()))?;
        std::fs::write(&readme, updated).map_err(Error::io(&readme))?;
        eprintln!("bench: updated {}", readme.display());
    }
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
    let passed = match cli.command {
        Cmd::Readme { repo } => update_readme(&repo).map(|()| true),
        Cmd::GripBackend { port } => runtime.block_on(grip_backend(port)).map(|()| true),
        // A full run reports shortfalls; only the smoke run judges.
        Cmd::Run(args) => {
            let smoke = args.smoke;
            runtime.block_on(run(args)).map(|ok| ok || !smoke)
        }
    };
    match passed {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: smoke run FAILED (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
