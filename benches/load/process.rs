//! The processes the bench starts: a guard that stops a child's whole
//! process tree when dropped, spawning (pinned with `taskset` if asked),
//! and Ctrl-C turned into an unwind so that every guard's `Drop` runs.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::system::{descendants, proc_alive};
use crate::Result;

/// How long a server may take to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Set on SIGINT, SIGTERM or SIGHUP; [`check_interrupt`] turns it into an
/// unwind, so every guard's `Drop` runs.
pub fn stop_flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

pub struct Interrupted;

pub fn check_interrupt() {
    if stop_flag().load(Ordering::Relaxed) {
        std::panic::resume_unwind(Box::new(Interrupted));
    }
}

/// Sleeps in short steps, unwinding on Ctrl-C.
pub fn nap(d: Duration) {
    let end = Instant::now() + d;
    loop {
        check_interrupt();
        let now = Instant::now();
        if now >= end {
            return;
        }
        thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

/// A child process (tree) that is stopped when the guard is dropped:
/// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`], for the process and every
/// descendant it had.
pub struct Guard {
    pub name: String,
    pub child: Child,
    /// When the child first printed a line with a URL on stdout (wharf's
    /// start-up line), for servers started with [`spawn`].
    pub url_line: Arc<OnceLock<Instant>>,
}

impl Guard {
    pub fn new(name: &str, child: Child) -> Guard {
        Guard {
            name: name.to_string(),
            child,
            url_line: Arc::default(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let pid = self.child.id();
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let family = descendants(pid);
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    eprintln!("load: {} did not stop on SIGTERM; killing it", self.name);
                    signal(pid, libc::SIGKILL);
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
            }
        }
        for p in family {
            if proc_alive(p) {
                signal(p, libc::SIGKILL);
            }
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// `program`, to be run on `cpu` (through `taskset -c`) if one is given.
pub fn command_on(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Spawns `program args` (on `cpu` via taskset if given), output to `log`.
/// The child gets SIGTERM if this process dies first. Its stdout goes
/// through a thread that notes when a URL line is first printed.
pub fn spawn(
    name: &str,
    program: &Path,
    args: &[String],
    cpu: Option<usize>,
    log: &Path,
) -> Result<Guard> {
    let mut cmd = command_on(program, cpu);
    let out = File::create(log)?;
    let mut copy = out.try_clone()?;
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(out);
    // SAFETY: prctl is async-signal-safe; the closure touches no shared state.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let guard_stdout = child.stdout.take();
    let guard = Guard::new(name, child);
    if let Some(stdout) = guard_stdout {
        let seen = guard.url_line.clone();
        // Ends when the child's stdout closes (it exited).
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if line.contains("http://") {
                    let _ = seen.set(Instant::now());
                }
                let _ = writeln!(copy, "{line}");
            }
        });
    }
    Ok(guard)
}
