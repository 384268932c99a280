//! The one way every suite starts the built worker: `scripts/worker-under-test.sh PORT STORE` as
//! the leader of a process group of its own, ready once `GET /health` answers 200, stopped by
//! signalling the whole group. The Rust end-to-end tests use it through [`crate::Worker`], the
//! bench directly, and the suites in other languages through the `edgepush-worker` binary
//! (`scripts/shared-worker.sh`, the demo page's JS harness).

use std::ffi::OsStr;
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh worker may take to answer `/health`.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a stopped worker's processes may take to exit before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it again soon).
pub fn free_port() -> io::Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

/// `bash scripts/worker-under-test.sh PORT STORE EXTRA...` (the test secrets of `scripts/env.sh`,
/// `wrangler dev` on 127.0.0.1), stdin closed, as the leader of a new process group so that
/// [`stop_group`] stops wrangler and its workerds together. The caller sets stdout and stderr.
pub fn worker_command(
    port: u16,
    store: &Path,
    extra: impl IntoIterator<Item = impl AsRef<OsStr>>,
) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(crate::repo_root().join("scripts/worker-under-test.sh"))
        .arg(port.to_string())
        .arg(store)
        .args(extra)
        .stdin(Stdio::null())
        .process_group(0);
    command
}

/// Waits until `GET http://127.0.0.1:PORT/health` answers 200 (or `server_misconfigured`: a
/// worker started with a bad setting on purpose is up), for at most `within` and while
/// `running()` says the server has not exited; returns whether it answered.
pub fn wait_healthy(port: u16, within: Duration, mut running: impl FnMut() -> bool) -> bool {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build(),
    );
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(mut answer) = agent.get(&url).call() {
            let status = answer.status().as_u16();
            let body = answer.body_mut().read_to_string().unwrap_or_default();
            if status == 200 || (status == 500 && body.contains("\"server_misconfigured\"")) {
                return true;
            }
        }
        if !running() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Whether any process of group `pgid` is left (a zombie counts until its parent reaps it).
pub fn group_alive(pgid: u32) -> bool {
    signal_group(pgid, "-0")
}

fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Stops process group `pgid` and returns once no process of it is left (so its port is free):
/// SIGTERM, or SIGKILL at once when `hard` (a crash: no shutdown, no flush), then SIGKILL for
/// whatever is left after 10 s (and gives up 10 s later). `reap` runs while waiting, for a parent
/// to reap its child.
pub fn stop_group(pgid: u32, hard: bool, mut reap: impl FnMut()) {
    signal_group(pgid, if hard { "-KILL" } else { "-TERM" });
    let started = Instant::now();
    while started.elapsed() < 2 * STOP_TIMEOUT {
        reap();
        if !group_alive(pgid) {
            return;
        }
        if started.elapsed() > STOP_TIMEOUT {
            signal_group(pgid, "-KILL");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
