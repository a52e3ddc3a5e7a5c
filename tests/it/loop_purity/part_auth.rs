//! Passwords (`auth` rules): a request without credentials, one with a
//! wrong password and one with the right one (each check a bcrypt job),
//! then the right one again (answered from the loop's memo). The strace
//! check proves the loops made no filesystem call for them; bcrypt makes
//! no syscalls at all, so the part proves where it ran from the CPU time
//! the password lane's thread (`wharf-io-auth-0`) gained meanwhile.
//!
//! The htpasswd file is written beside the root, where the scenario's
//! config file lives, so `auth` names it relative to the config file.

use std::io::Write;
use std::path::Path;

use super::parts::Part;
use super::{child_of, threads};
use crate::harness::{read_response, TestServer};

pub const PART: Part = Part {
    name: "auth",
    files,
    toml: "http.rules = [{ match = \"/auth-part/**\", auth = \"auth-part.htpasswd\", realm = \"part\" }]",
    traffic,
};

/// The cost of the part's hash: enough work (tens of milliseconds a
/// check) to show in the thread's CPU time.
const COST: u32 = 10;

fn files(root: &Path) {
    crate::harness::write(root, "auth-part/secret.txt", b"auth part\n");
    let hash = bcrypt::hash("right", COST).unwrap();
    let config_dir = root.parent().expect("the root has a parent");
    std::fs::write(
        config_dir.join("auth-part.htpasswd"),
        format!("alice:{hash}\n"),
    )
    .unwrap();
}

/// CPU time (user + system, in clock ticks) of `wharf`'s password lane.
fn password_lane_ticks(server: &TestServer) -> u64 {
    let wharf = child_of(server.pid()).expect("wharf runs under strace");
    let (tid, _) = threads(wharf)
        .into_iter()
        .find(|(_, name)| name == "wharf-io-auth-0")
        .expect("a password lane thread");
    let stat = std::fs::read_to_string(format!("/proc/{wharf}/task/{tid}/stat")).unwrap();
    // "tid (comm) state ..."; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn traffic(server: &TestServer) -> usize {
    let before = password_lane_ticks(server);
    let mut stream = server.connect();
    let basic = |password: &str| {
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("alice:{password}"),
        );
        format!("Authorization: Basic {token}\r\n")
    };
    for (authorization, status) in [
        (String::new(), 401),
        (basic("wrong"), 401),
        (basic("right"), 200),
        (basic("right"), 200),
    ] {
        let raw = format!("GET /auth-part/secret.txt HTTP/1.1\r\nHost: t\r\n{authorization}\r\n");
        stream.write_all(raw.as_bytes()).unwrap();
        let response = read_response(&mut stream, false).expect("a response");
        assert_eq!(response.status, status, "{}", response.head);
    }
    // Two bcrypt checks at cost 10 take well over 100 ms of CPU (10 ticks
    // at the usual 100 Hz): if they had run anywhere else, the lane's
    // thread would have gained nothing like it.
    let gained = password_lane_ticks(server) - before;
    assert!(
        gained >= 10,
        "the password lane gained {gained} ticks of CPU: where did bcrypt run?"
    );
    4
}
