//! Starts and stops a worker the way the Rust suites do (`edgepush_e2e::launch`), for the suites
//! in other languages (`scripts/shared-worker.sh`, `www/tests/harness.mjs`):
//!
//! ```text
//! edgepush-worker up PORT STORE LOG [wrangler dev args...]
//!     starts scripts/worker-under-test.sh in a process group of its own, output appended to LOG;
//!     once /health answers, prints the group id and exits 0 (the worker keeps running)
//! edgepush-worker down PGID [--kill]
//!     SIGTERM (SIGKILL with --kill) to the group; returns once none of it is left
//! ```

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::process::ExitCode;

use edgepush_e2e::launch::{START_TIMEOUT, stop_group, wait_healthy, worker_command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["up", port, store, log, extra @ ..] => up(port, Path::new(store), Path::new(log), extra),
        ["down", pgid] => down(pgid, false),
        ["down", pgid, "--kill"] => down(pgid, true),
        _ => Err("usage: edgepush-worker up PORT STORE LOG [args...] | down PGID [--kill]".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("edgepush-worker: {message}");
            ExitCode::FAILURE
        }
    }
}

fn up(port: &str, store: &Path, log: &Path, extra: &[&str]) -> Result<(), String> {
    let port: u16 = port.parse().map_err(|_| format!("{port} is not a port"))?;
    fs::create_dir_all(store).map_err(|e| format!("{}: {e}", store.display()))?;
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = worker_command(port, store, extra)
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start scripts/worker-under-test.sh: {e}"))?;
    if wait_healthy(port, START_TIMEOUT, || matches!(child.try_wait(), Ok(None))) {
        println!("{}", child.id());
        return Ok(());
    }
    stop_group(child.id(), true, || drop(child.try_wait()));
    Err(format!(
        "the worker on port {port} did not answer /health within {} s; see {}",
        START_TIMEOUT.as_secs(),
        log.display()
    ))
}

fn down(pgid: &str, hard: bool) -> Result<(), String> {
    let pgid: u32 = pgid
        .parse()
        .map_err(|_| format!("{pgid} is not a process group id"))?;
    stop_group(pgid, hard, || ());
    Ok(())
}
