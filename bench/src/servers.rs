//! The servers under test, each started in its own process group on free loopback ports with
//! private folders under the work directory, and stopped (the whole group) on drop:
//! edgepush under `wrangler dev` (started and awaited the test kit's way,
//! `edgepush_e2e::launch`) or plain workerd, and Pushpin with the zurl it needs (configs rendered
//! from `bench/pushpin/*.in`).

use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgepush_e2e::launch::{wait_healthy, worker_command};

use crate::error::{Error, Result};

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it again soon).
fn free_port() -> Result<u16> {
    edgepush_e2e::launch::free_port().map_err(Error::Loopback)
}

/// Process groups started by this run, written to a file so that `scripts/bench.sh` can stop
/// them even if this process dies before its destructors run; and the CPUs the servers are pinned
/// to, if any.
#[derive(Clone, Debug)]
pub struct GroupFile {
    path: Option<PathBuf>,
    cpus: Option<String>,
}

impl GroupFile {
    /// Records into `path` (if any); servers run on `cpus` (a `taskset -c` list) if given.
    pub fn new(path: Option<PathBuf>, cpus: Option<String>) -> Self {
        Self { path, cpus }
    }

    /// `command` as it is spawned: under `taskset -c <cpus>` when the servers are pinned (its
    /// children inherit the affinity).
    fn pinned(&self, command: Command) -> Command {
        let Some(cpus) = &self.cpus else {
            return command;
        };
        let mut pinned = Command::new("taskset");
        pinned
            .args(["-c", cpus])
            .arg(command.get_program())
            .args(command.get_args());
        if let Some(dir) = command.get_current_dir() {
            pinned.current_dir(dir);
        }
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => pinned.env(key, value),
                None => pinned.env_remove(key),
            };
        }
        pinned
    }

    fn edit(&self, f: impl FnOnce(&mut Vec<i32>)) {
        let Some(path) = &self.path else { return };
        let mut groups: Vec<i32> = fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        f(&mut groups);
        let text: String = groups.iter().map(|g| format!("{g}\n")).collect();
        let _ = fs::write(path, text);
    }
}

/// One process group (plus the groups its children put themselves in, as Pushpin's runner does);
/// stopped with SIGTERM (then SIGKILL) on drop.
pub struct Group {
    name: String,
    child: Option<Child>,
    /// The process group id (the leader's pid).
    pub pgid: i32,
    /// Process groups of descendants that left the leader's group.
    pub extra: Vec<i32>,
    groups: GroupFile,
}

impl Group {
    /// Spawns `command` as the leader of a new process group, with output to `log`.
    pub fn spawn(name: &str, command: Command, log: &Path, groups: &GroupFile) -> Result<Self> {
        let mut command = groups.pinned(command);
        let out = fs::File::create(log).map_err(Error::io(log))?;
        let err = out.try_clone().map_err(Error::io(log))?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command.spawn().map_err(|source| Error::Spawn {
            program: name.to_owned(),
            source,
        })?;
        // Linux pids fit in an i32 (pid_max is at most 2^22).
        let pgid = child.id() as i32;
        groups.edit(|g| g.push(pgid));
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            pgid,
            extra: Vec::new(),
            groups: groups.clone(),
        })
    }

    /// Whether the leader is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Records the process groups of descendants that left the leader's group, so that memory
    /// counts them and cleanup stops them.
    pub fn adopt_descendant_groups(&mut self) {
        let mine: Vec<i32> = processes(&[self.pgid])
            .iter()
            .map(|p| p.pgrp)
            .filter(|g| *g != self.pgid && !self.extra.contains(g))
            .collect();
        for g in mine {
            if !self.extra.contains(&g) {
                self.extra.push(g);
                self.groups.edit(|list| list.push(g));
            }
        }
    }

    /// All process groups of this server.
    pub fn all_groups(&self) -> Vec<i32> {
        let mut all = vec![self.pgid];
        all.extend(&self.extra);
        all
    }

    /// Stops the whole group: SIGTERM, up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let all = self.all_groups();
        let signal = |sig: &str, groups: &[i32]| {
            for g in groups {
                let _ = Command::new("kill")
                    .args([sig, "--", &format!("-{g}")])
                    .stderr(Stdio::null())
                    .status();
            }
        };
        // The leader first: Pushpin's runner stops its services itself.
        signal("-TERM", &[self.pgid]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let _ = child.try_wait();
            if processes(&all).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !processes(&all).is_empty() {
            eprintln!("bench: {} did not stop on SIGTERM; killing it", self.name);
            signal("-KILL", &all);
        }
        let _ = child.wait();
        self.groups.edit(|g| g.retain(|x| !all.contains(x)));
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A process seen in `/proc`.
#[derive(Clone, Debug)]
pub struct Proc {
    /// Process id.
    pub pid: i32,
    /// Process group.
    pub pgrp: i32,
    /// Executable name (`comm`).
    pub comm: String,
    /// Command line, arguments joined by spaces.
    pub cmdline: String,
    /// Resident set size in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// CPU time used so far (user + system), in milliseconds.
    pub cpu_ms: u64,
}

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

/// The live processes of the given process groups and their descendants (zombies excluded).
pub fn processes(pgids: &[i32]) -> Vec<Proc> {
    let all = all_processes();
    let mut chosen: Vec<i32> = all
        .iter()
        .filter(|(p, _)| pgids.contains(&p.pgrp))
        .map(|(p, _)| p.pid)
        .collect();
    loop {
        let more: Vec<i32> = all
            .iter()
            .filter(|(p, ppid)| chosen.contains(ppid) && !chosen.contains(&p.pid))
            .map(|(p, _)| p.pid)
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    all.into_iter()
        .filter(|(p, _)| chosen.contains(&p.pid))
        .map(|(p, _)| p)
        .collect()
}

/// Every live process with its parent's pid.
fn all_processes() -> Vec<(Proc, i32)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces or parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (Some(state), Some(ppid), Some(pgrp)) = (
            rest.first(),
            rest.get(1).and_then(|v| v.parse::<i32>().ok()),
            rest.get(2).and_then(|v| v.parse::<i32>().ok()),
        ) else {
            continue;
        };
        if *state == "Z" {
            continue;
        }
        // utime and stime are fields 14 and 15; `rest` starts at field 3.
        let ticks = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let cpu_ms = (ticks(11) + ticks(12)) * 1000 / TICKS_PER_SEC;
        let rss_kib = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0);
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .split('\0')
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        found.push((
            Proc {
                pid,
                pgrp,
                comm,
                cmdline,
                rss_kib,
                cpu_ms,
            },
            ppid,
        ));
    }
    found.sort_by_key(|(p, _)| p.pid);
    found
}

/// CPU time used so far by the live processes of the given process groups, in milliseconds.
pub fn cpu_ms(pgids: &[i32]) -> u64 {
    processes(pgids).iter().map(|p| p.cpu_ms).sum()
}

/// Total resident memory of the given process groups, in KiB.
pub fn rss_kib(pgids: &[i32]) -> u64 {
    processes(pgids).iter().map(|p| p.rss_kib).sum()
}

fn wait_tcp(port: u16, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500),
        )
        .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The limits on one token holder (`docs/limits.md`) for every scenario but `hostile`, raised far
/// above what the scenarios do: fan-out opens 1,000 sockets of one user and latency 100, within a
/// second or two, and tokens minted in the same second are identical, so the defaults (100 sockets
/// per user, 300 connects per user and 60 per token per minute) would refuse most of them. The
/// frame budget stays at its default: the bench's clients send no frames. Passed to `wrangler dev`
/// as `--var`s, and put into `bench/workerd/edgepush.capnp.in` (`@NAME@`) for plain workerd.
pub const RAISED_LIMITS: [(&str, u32); 3] = [
    ("MAX_SOCKETS_PER_USER", 100_000),
    ("MAX_CONNECTS_PER_USER_PER_MINUTE", 1_000_000),
    ("MAX_CONNECTS_PER_TOKEN_PER_MINUTE", 1_000_000),
];

/// Every limit on one token holder switched off (set far beyond reach): `hostile`'s "before".
pub const LIMITS_OFF: [(&str, u32); 4] = [
    ("MAX_SOCKETS_PER_USER", 1_000_000_000),
    ("MAX_CONNECTS_PER_USER_PER_MINUTE", 1_000_000_000),
    ("MAX_CONNECTS_PER_TOKEN_PER_MINUTE", 1_000_000_000),
    ("MAX_CLIENT_FRAMES_PER_MINUTE", 1_000_000_000),
];

/// `wrangler dev` arguments setting each (name, value) as a variable: `--var NAME:VALUE`.
pub fn var_args(vars: &[(&str, u32)]) -> Vec<String> {
    vars.iter()
        .flat_map(|(name, value)| ["--var".to_owned(), format!("{name}:{value}")])
        .collect()
}

/// `text` escaped for the inside of a Cap'n Proto text literal (`"…"`): the topic namespaces are
/// JSON, full of quotes.
fn capnp_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// What runs edgepush's built worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `wrangler dev` (Miniflare: wrangler's node process, its proxy workerd, and the workerd
    /// that runs the worker), as every test suite runs it.
    WranglerDev,
    /// Plain `workerd serve` on `bench/workerd/edgepush.capnp.in`: the runtime alone.
    Workerd,
}

/// edgepush under `wrangler dev` or plain workerd.
pub struct Edgepush {
    group: Group,
    /// The port it listens on.
    pub port: u16,
    /// What runs it.
    pub runtime: Runtime,
    /// Its output (on plain workerd, V8's `--trace-gc-nvp` lines among it).
    pub log: PathBuf,
}

impl Edgepush {
    /// Starts the built worker on a free port with a fresh storage folder under `dir`, with the
    /// settings `vars` (see [`var_args`]).
    pub fn start(dir: &Path, groups: &GroupFile, vars: &[(&str, u32)]) -> Result<Self> {
        let port = free_port()?;
        let store = dir.join(format!("edgepush-{port}"));
        let _ = fs::remove_dir_all(&store);
        fs::create_dir_all(&store).map_err(Error::io(&store))?;
        let command = worker_command(port, &store, var_args(vars));
        let log = dir.join(format!("edgepush-{port}.log"));
        let group = Group::spawn("wrangler dev", command, &log, groups)?;
        Self::ready(group, port, Runtime::WranglerDev, &log)
    }

    /// Starts the built worker under plain `workerd serve` (no wrangler) on a free port with a
    /// fresh storage folder under `dir`, from the config template in `templates`.
    pub fn start_workerd(
        repo: &Path,
        templates: &Path,
        dir: &Path,
        groups: &GroupFile,
    ) -> Result<Self> {
        let port = free_port()?;
        let base = dir.join(format!("wd-{port}"));
        let _ = fs::remove_dir_all(&base);
        let store = base.join("store");
        fs::create_dir_all(&store).map_err(Error::io(&store))?;
        let store = store.canonicalize().map_err(Error::io(&store))?;
        // The config embeds the bundle by relative path.
        let build = base.join("build");
        std::os::unix::fs::symlink(repo.join("server/build"), &build).map_err(Error::io(build))?;
        let template = templates.join("edgepush.capnp.in");
        let mut text = fs::read_to_string(&template).map_err(Error::io(&template))?;
        let var = |name| std::env::var(name).map_err(|_| Error::Env(name));
        let keys = format!(
            "{}:{}",
            var("EDGEPUSH_TEST_KEY_ID")?,
            var("EDGEPUSH_TEST_PUBLISH_SECRET")?
        );
        let limits = RAISED_LIMITS.map(|(name, value)| (format!("@{name}@"), value.to_string()));
        let namespaces = capnp_text(&var("EDGEPUSH_TEST_TOPIC_NAMESPACES")?);
        for (key, value) in [
            ("@PORT@".to_owned(), port.to_string()),
            ("@STORE@".to_owned(), store.display().to_string()),
            ("@JWT_SECRET@".to_owned(), var("EDGEPUSH_TEST_JWT_SECRET")?),
            ("@PUBLISH_KEYS@".to_owned(), keys),
            ("@TOPIC_NAMESPACES@".to_owned(), namespaces),
            (
                "@MERCURE_JWT_SECRET@".to_owned(),
                capnp_text(&var("EDGEPUSH_TEST_MERCURE_JWT_SECRET")?),
            ),
        ]
        .into_iter()
        .chain(limits)
        {
            text = text.replace(&key, &value);
        }
        let config = base.join("config.capnp");
        fs::write(&config, text).map_err(Error::io(config))?;
        let mut command = Command::new("workerd");
        command
            .args(["serve", "config.capnp", "--experimental"])
            .current_dir(&base);
        let log = base.join("workerd.log");
        let group = Group::spawn("workerd", command, &log, groups)?;
        Self::ready(group, port, Runtime::Workerd, &log)
    }

    fn ready(mut group: Group, port: u16, runtime: Runtime, log: &Path) -> Result<Self> {
        if wait_healthy(port, Duration::from_secs(120), || group.alive()) {
            return Ok(Self {
                group,
                port,
                runtime,
                log: log.to_owned(),
            });
        }
        Err(Error::ServerStart {
            what: format!("edgepush did not answer /health on port {port}"),
            log: log.to_owned(),
        })
    }

    /// The process groups whose memory counts as the server's.
    pub fn pgids(&self) -> Vec<i32> {
        vec![self.group.pgid]
    }

    /// Resident memory by role, in KiB: the runtime that runs the worker (workerd), wrangler's
    /// proxy in front of it (a second workerd), wrangler itself (node) and the rest.
    pub fn breakdown(&self) -> Vec<(String, u64)> {
        let entry = format!("entry=127.0.0.1:{} ", self.port);
        let mut roles: Vec<(String, u64)> = Vec::new();
        for p in processes(&[self.group.pgid]) {
            let role = match p.comm.as_str() {
                "workerd" if self.runtime == Runtime::Workerd => "workerd alone",
                "workerd" if p.cmdline.contains(&entry) => "wrangler's proxy (workerd)",
                "workerd" => "worker runtime (workerd)",
                "node" | "MainThread" => "wrangler (node)",
                _ => "other (esbuild, shell)",
            };
            match roles.iter_mut().find(|(r, _)| r == role) {
                Some((_, kib)) => *kib += p.rss_kib,
                None => roles.push((role.to_owned(), p.rss_kib)),
            }
        }
        roles.sort();
        roles
    }
}

/// Pushpin (condure, pushpin-proxy, pushpin-handler) and the zurl its proxy talks to.
pub struct Pushpin {
    pushpin: Group,
    zurl: Group,
    /// Client (WebSocket) port.
    pub http_port: u16,
    /// HTTP publish port (`POST /publish/`).
    pub publish_port: u16,
}

impl Pushpin {
    /// Renders the configs from `templates` into a fresh folder under `dir` and starts zurl and
    /// Pushpin, routed to the GRIP backend on `backend_port`.
    pub fn start(
        templates: &Path,
        dir: &Path,
        backend_port: u16,
        groups: &GroupFile,
    ) -> Result<Self> {
        let http_port = free_port()?;
        let publish_port = free_port()?;
        // ZeroMQ ipc paths must fit in a socket address (108 bytes): keep the folder short.
        let base = dir.join(format!("pp-{http_port}"));
        let _ = fs::remove_dir_all(&base);
        let rundir = base.join("run");
        let logdir = base.join("log");
        for d in [&rundir, &logdir] {
            fs::create_dir_all(d).map_err(Error::io(d))?;
        }
        let base = base.canonicalize().map_err(Error::io(&base))?;
        let rundir = base.join("run");
        let logdir = base.join("log");
        let routes = base.join("routes");
        let zurl_prefix = format!("{}/bench-", rundir.display());
        let vars = [
            ("@RUNDIR@", rundir.display().to_string()),
            ("@LOGDIR@", logdir.display().to_string()),
            ("@HTTP_PORT@", http_port.to_string()),
            ("@PUBLISH_PORT@", publish_port.to_string()),
            ("@ZURL_PREFIX@", zurl_prefix),
            ("@ROUTES@", routes.display().to_string()),
            ("@BACKEND_PORT@", backend_port.to_string()),
        ];
        let render = |name: &str, out: &Path| -> Result<()> {
            let path = templates.join(name);
            let mut text = fs::read_to_string(&path).map_err(Error::io(&path))?;
            for (key, value) in &vars {
                text = text.replace(key, value);
            }
            fs::write(out, text).map_err(Error::io(out))
        };
        render("pushpin.conf.in", &base.join("pushpin.conf"))?;
        render("zurl.conf.in", &base.join("zurl.conf"))?;
        render("routes.in", &routes)?;

        let mut zurl = Command::new("zurl");
        zurl.arg(format!("--config={}", base.join("zurl.conf").display()));
        let zurl = Group::spawn("zurl", zurl, &base.join("zurl.log"), groups)?;
        let mut pushpin = Command::new("pushpin");
        pushpin
            .arg("--config")
            .arg(base.join("pushpin.conf"))
            .current_dir(&base);
        let mut pushpin = Group::spawn("pushpin", pushpin, &base.join("pushpin.log"), groups)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        if wait_tcp(http_port, deadline) && wait_tcp(publish_port, deadline) && pushpin.alive() {
            // The proxy and handler connect their ZeroMQ sockets after the ports open.
            std::thread::sleep(Duration::from_millis(1000));
            // The runner starts condure, pushpin-proxy and pushpin-handler in groups of their own.
            pushpin.adopt_descendant_groups();
            return Ok(Self {
                pushpin,
                zurl,
                http_port,
                publish_port,
            });
        }
        Err(Error::ServerStart {
            what: format!("Pushpin did not open ports {http_port}/{publish_port}"),
            log: base,
        })
    }

    /// The process groups whose memory counts as the server's (Pushpin's services and zurl).
    pub fn pgids(&self) -> Vec<i32> {
        let mut all = self.pushpin.all_groups();
        all.push(self.zurl.pgid);
        all
    }

    /// Resident memory by process, in KiB.
    pub fn breakdown(&self) -> Vec<(String, u64)> {
        let mut roles: Vec<(String, u64)> = Vec::new();
        for p in processes(&self.pgids()) {
            match roles.iter_mut().find(|(r, _)| *r == p.comm) {
                Some((_, kib)) => *kib += p.rss_kib,
                None => roles.push((p.comm.clone(), p.rss_kib)),
            }
        }
        roles.sort();
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_goes_into_a_capnp_text_literal_with_its_quotes_and_backslashes_escaped() {
        assert_eq!(
            capnp_text(r#"{"crowd":{"public":true,"x":"a\b"}}"#),
            r#"{\"crowd\":{\"public\":true,\"x\":\"a\\b\"}}"#
        );
    }
}
