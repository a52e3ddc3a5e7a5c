//! The architecture check, from outside: run wharf under `strace -f -y`,
//! drive every kind of request through it, and prove from the trace that no
//! event-loop thread (`wharf-loop-N`) made a filesystem syscall, while the IO
//! pool threads (`wharf-io-N`) made all of them.
//!
//! Skips, with a message, when `strace` is missing or cannot trace here
//! (e.g. ptrace is not permitted), except under `CI`, where that fails (see
//! [`require_tool_with`]).
//!
//! This file holds the machinery: the traced process and its threads, the
//! trace parser and the loop rule (with a test of the parser);
//! [`scenario`] runs wharf under it and checks the trace.

mod miss_syscalls;
mod part_archive;
mod part_auth;
mod part_compress;
mod part_health;
mod part_proxy;
mod part_site;
mod parts;
mod scenario;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use crate::harness::TestServer;

/// Traced syscall classes: `%file` (every syscall taking a path) and
/// `%desc` (every syscall taking a descriptor: read/write families,
/// fstat, getdents64, sendfile, splice, copy_file_range, mmap, close, ...).
const TRACE: &str = "trace=%file,%desc";

/// Syscalls an event-loop thread must never make, whatever their arguments.
const FORBIDDEN: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "open_by_handle_at",
    "name_to_handle_at",
    "stat",
    "lstat",
    "fstat",
    "newfstatat",
    "fstatat64",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "sendfile",
    "sendfile64",
    "splice",
    "tee",
    "copy_file_range",
    "truncate",
    "ftruncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "fadvise64",
    "readahead",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chdir",
    "fchdir",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "lchown",
    "utimensat",
    "execve",
];

/// Data syscalls a loop may make only on sockets, pipes, eventfds, epoll
/// and other anonymous inodes, or terminals.
const DATA: &[&str] = &[
    "read", "pread64", "readv", "preadv", "preadv2", "write", "pwrite64", "writev", "pwritev",
    "pwritev2",
];

/// Whether `strace -f -y` works here (installed, and allowed to ptrace);
/// if not, why not. For [`require_tool_with`].
fn strace_can_trace() -> Result<(), String> {
    let result = Command::new("strace")
        .args(["-f", "-qq", "-y", "-e", TRACE, "-o", "/dev/null", "true"])
        .stdin(Stdio::null())
        .output();
    match result {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "cannot trace here (`strace -f true` failed: {:?} {})",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("not installed".to_string()),
        Err(e) => Err(format!("cannot be started ({e})")),
    }
}

// ---------------------------------------------------------------------------
// The traced process.

/// strace running wharf. On drop, wharf is killed before strace (a killed
/// tracer would leave its tracee running, detached).
struct Traced {
    server: TestServer,
    wharf_pid: Option<i32>,
    /// strace has exited (and so has wharf): nothing left to kill.
    finished: bool,
}

impl Traced {
    /// Spawns `command` (strace running wharf), waits for its URL line
    /// and finds wharf, strace's child.
    fn start(command: Command) -> Traced {
        let server = TestServer::spawn(command, None);
        let strace_pid = server.pid();
        let mut traced = Traced {
            server,
            wharf_pid: None,
            finished: false,
        };
        let mut wharf_pid = None;
        crate::harness::eventually(std::time::Duration::from_secs(10), || {
            wharf_pid = child_of(strace_pid);
            wharf_pid.is_some()
        });
        traced.wharf_pid = Some(wharf_pid.expect("wharf runs as strace's child"));
        traced
    }

    /// wharf's pid (found by [`Traced::start`]).
    fn wharf_pid(&self) -> i32 {
        self.wharf_pid.expect("found at start")
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(pid) = self.wharf_pid.or_else(|| child_of(self.server.pid())) {
            // SAFETY: `pid` is strace's child, and strace has not exited, so
            // it has not been reaped and its pid cannot have been reused.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ..."; comm may contain spaces and parens.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The process whose parent is `parent` (strace's one child: wharf).
fn child_of(parent: i32) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|&pid| parent_of(pid) == Some(parent))
}

/// TID to thread name, from `/proc/<pid>/task/*/comm`.
fn threads(pid: i32) -> BTreeMap<i32, String> {
    let mut map = BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
                map.insert(tid, comm.trim_end().to_string());
            }
        }
    }
    map
}

fn count_named(map: &BTreeMap<i32, String>, prefix: &str) -> usize {
    map.values().filter(|n| n.starts_with(prefix)).count()
}

// ---------------------------------------------------------------------------
// The trace.

/// One parsed trace line.
#[derive(Debug)]
struct Call<'a> {
    tid: i32,
    /// The syscall name (also for `<... name resumed>` lines).
    name: &'a str,
    /// Descriptor annotations outside string literals, in order
    /// (`/tmp/x/file`, `socket:[123]`, `anon_inode:[eventpoll]`, ...).
    fds: Vec<String>,
    /// The first argument's annotation, if the line shows the argument list.
    first_fd: Option<String>,
    /// A `<... name resumed>` line: the arguments were on an earlier line.
    resumed: bool,
}

/// Parses `TID  name(args) = ret`, `TID  name(args <unfinished ...>` and
/// `TID  <... name resumed>...`. Signal and exit lines give `None`.
fn parse_line(line: &str) -> Option<Call<'_>> {
    let (tid, rest) = line.split_once(char::is_whitespace)?;
    let tid: i32 = tid.parse().ok()?;
    let rest = rest.trim_start();
    let (name, args, resumed) = if let Some(resumed) = rest.strip_prefix("<... ") {
        let (name, after) = resumed.split_once(' ')?;
        (name, after, true)
    } else {
        let open = rest.find('(')?;
        let name = &rest[..open];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        (name, &rest[open + 1..], false)
    };
    let fds = fd_annotations(args);
    let first_fd = if resumed {
        None
    } else {
        leading_fd_annotation(args)
    };
    Some(Call {
        tid,
        name,
        fds,
        first_fd,
        resumed,
    })
}

/// `args` with the contents of string literals removed, so data such as
/// `"<td>123</td>"` cannot look like an annotation.
fn without_strings(args: &str) -> String {
    let mut out = String::with_capacity(args.len());
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        out.push_str("\"\"");
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                _ => {}
            }
        }
    }
    out
}

/// Every `N<...>` descriptor annotation outside string literals.
fn fd_annotations(args: &str) -> Vec<String> {
    let text = without_strings(args);
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find('<') {
        let start = i + at;
        i = start + 1;
        if start == 0 || !bytes[start - 1].is_ascii_digit() {
            continue; // `<unfinished ...>`, `<... x resumed>`
        }
        if let Some(len) = text[start + 1..].find('>') {
            found.push(text[start + 1..start + 1 + len].to_string());
            i = start + 1 + len;
        }
    }
    found
}

/// The annotation of the first argument, when it is `N<...>`.
fn leading_fd_annotation(args: &str) -> Option<String> {
    let digits = args.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || args.as_bytes().get(digits) != Some(&b'<') {
        return None;
    }
    let rest = &args[digits + 1..];
    rest.find('>').map(|end| rest[..end].to_string())
}

fn is_tty(annotation: &str) -> bool {
    annotation.starts_with("/dev/pts/") || annotation.starts_with("/dev/tty")
}

/// Not a file: sockets, pipes, eventfd/epoll/timerfd and other anonymous
/// inodes, terminals.
fn is_non_file(annotation: &str) -> bool {
    [
        "socket:",
        "pipe:",
        "anon_inode:",
        "TCP",
        "UDP",
        "UNIX",
        "NETLINK",
    ]
    .iter()
    .any(|p| annotation.starts_with(p))
        || is_tty(annotation)
}

/// Why a loop thread's call breaks the rule, if it does.
fn loop_violation(call: &Call) -> Option<String> {
    if FORBIDDEN.contains(&call.name) {
        return Some(format!("filesystem syscall {}", call.name));
    }
    if let Some(path) = call.fds.iter().find(|a| a.starts_with('/') && !is_tty(a)) {
        return Some(format!("{} on file descriptor of {path}", call.name));
    }
    if DATA.contains(&call.name) && !call.resumed {
        match &call.first_fd {
            Some(fd) if is_non_file(fd) => {}
            Some(fd) => return Some(format!("{} on non-socket descriptor <{fd}>", call.name)),
            None => return Some(format!("{} on an unannotated descriptor", call.name)),
        }
    }
    None
}

#[test]
fn trace_parser_understands_strace_lines() {
    let call = parse_line(
        "4242  openat2(5</tmp/x/site>, \"small.txt\", {flags=O_RDONLY}, 24) = 15</tmp/x/site/small.txt>",
    )
    .unwrap();
    assert_eq!((call.tid, call.name), (4242, "openat2"));
    assert_eq!(call.first_fd.as_deref(), Some("/tmp/x/site"));
    assert_eq!(call.fds, ["/tmp/x/site", "/tmp/x/site/small.txt"]);
    assert!(loop_violation(&call).is_some());

    // Data that looks like an annotation is not one.
    let call = parse_line(
        "7  writev(14<socket:[12431]>, [{iov_base=\"<td>123</td>\\\"9</x>\", iov_len=9}], 1) = 9",
    )
    .unwrap();
    assert_eq!(call.fds, ["socket:[12431]"]);
    assert!(loop_violation(&call).is_none());

    let call = parse_line("7  read(3</srv/f.txt>, \"x\", 1) = 1").unwrap();
    assert!(loop_violation(&call).is_some());
    let call = parse_line("7  read(3<pipe:[99]>, \"x\", 1) = 1").unwrap();
    assert!(loop_violation(&call).is_none());
    let call = parse_line("7  close(15</tmp/x/big.bin>) = 0").unwrap();
    assert!(loop_violation(&call).is_some());
    let call = parse_line("7  close(15<socket:[1]>) = 0").unwrap();
    assert!(loop_violation(&call).is_none());
    let call = parse_line("7  <... fstat resumed>{st_mode=S_IFREG}) = 0").unwrap();
    assert_eq!(call.name, "fstat");
    assert!(loop_violation(&call).is_some());
    let call = parse_line("7  epoll_wait(9<anon_inode:[eventpoll]>,  <unfinished ...>").unwrap();
    assert_eq!(call.fds, ["anon_inode:[eventpoll]"]);
    assert!(loop_violation(&call).is_none());
    let call =
        parse_line("7  mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3</lib/x.so>, 0) = 0x1").unwrap();
    assert!(loop_violation(&call).is_some());
    // glibc malloc's probe is a violation like any other file access.
    let call = parse_line(
        "7  openat(AT_FDCWD</tmp/x>, \"/proc/sys/vm/overcommit_memory\", O_RDONLY|O_CLOEXEC) = 3</proc/sys/vm/overcommit_memory>",
    )
    .unwrap();
    assert!(loop_violation(&call).is_some());

    assert!(parse_line("7  --- SIGTERM {si_signo=SIGTERM} ---").is_none());
    assert!(parse_line("7  +++ exited with 0 +++").is_none());
}
