//! The `wharf` binary: parse the command line, load the config, bind, print
//! the URL (a banner on a terminal), run until SIGINT/SIGTERM. `wharf
//! completions SHELL` and `wharf man` print generated texts instead;
//! `wharf check URL` probes a URL.
//! Everything else lives in the library.
//!
//! Diagnostics go through the `log` crate to stderr ([`diag`]); a start-up
//! failure is one `wharf: error: ...` line that says what to do about it.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use wharf::cli::{Cli, Command};
use wharf::ops::{banner, diag};
use wharf::Server;

fn main() -> ExitCode {
    diag::init();
    let code = match Cli::try_parse() {
        Ok(cli) => match cli.command {
            Some(Command::Check { url, timeout_secs }) => check(&url, timeout_secs),
            Some(command) => print_generated(command),
            None => match run(&cli) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    log::error!("{message}");
                    ExitCode::FAILURE
                }
            },
        },
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            // clap's message is several lines: what is wrong (sometimes
            // with the arguments concerned on lines of their own), a blank
            // line, then usage. The first paragraph, as one line.
            let message = e.to_string();
            let what: Vec<&str> = message
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty())
                .collect();
            let what = what.join(" ");
            let what = what.trim_start_matches("error: ");
            log::error!(
                "{} (see wharf --help)",
                if what.is_empty() {
                    "invalid arguments"
                } else {
                    what
                }
            );
            ExitCode::from(2)
        }
    };
    log::logger().flush();
    code
}

/// `wharf check URL`: exit 0 on a 2xx answer in time, else 1 with one
/// line on stderr.
fn check(url: &str, timeout_secs: u64) -> ExitCode {
    match wharf::ops::check::check(url, std::time::Duration::from_secs(timeout_secs)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(why) => {
            log::error!("check failed: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `wharf completions SHELL` and `wharf man`.
fn print_generated(command: Command) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = match command {
        Command::Completions { shell } => {
            wharf::cli::write_completions(shell, &mut out);
            Ok(())
        }
        Command::Man => wharf::cli::write_man_page(&mut out),
        Command::Check { .. } => Ok(()),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`wharf man | head`) is not worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let config = wharf::disk::startup::load_config(cli.config.as_deref(), &cli.overrides())
        .map_err(|e| with_hint(&e.to_string(), cli))?;
    let server = Server::bind(config, cli.overrides()).map_err(|e| e.to_string())?;
    wharf::server::handle_signals(server.handle())
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let config = server.config();
    let facts = banner::Facts {
        config: &config,
        bound: server.bound(),
        pid: std::process::id(),
        metrics: server.metrics_url(),
    };
    let mut stdout = std::io::stdout().lock();
    let text = if !cli.quiet && stdout.is_terminal() {
        let style = banner::Style {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        banner::banner(&facts, &banner::interface_addrs(), &style)
    } else {
        banner::plain_line(&facts) + "\n"
    };
    // The URL line is what scripts wait for: if stdout is gone, say so
    // rather than serve unseen.
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the start-up line to stdout: {e}"))?;
    drop(stdout);
    for bound in server.bound() {
        log::debug!("listening on {bound}");
    }
    server.run().map_err(|e| e.to_string())
}

/// Adds what to do to a config-loading error that does not say it already.
fn with_hint(message: &str, cli: &Cli) -> String {
    let config_key = if cli.root.is_some() {
        "the ROOT argument"
    } else {
        "[server] root in the config file, or pass a directory as ROOT"
    };
    let hint = if message.starts_with("root: ") {
        format!("check {config_key}")
    } else if message.starts_with("listen: ") {
        "give ADDR:PORT, e.g. --listen 127.0.0.1:8080, 0.0.0.0:8080 or [::]:8080".to_string()
    } else if message.starts_with("cannot read config file") {
        if cli.config.is_some() {
            "check the path given with -c/--config".to_string()
        } else {
            "check ./config.toml, or pass another file with -c".to_string()
        }
    } else {
        return message.to_string();
    };
    format!("{message} ({hint})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("wharf").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn hints() {
        let with_root = cli(&["/srv/x"]);
        assert_eq!(
            with_hint(
                "root: /srv/x: No such file or directory (os error 2)",
                &with_root
            ),
            "root: /srv/x: No such file or directory (os error 2) (check the ROOT argument)"
        );
        assert!(with_hint("root: www: x", &cli(&[])).contains("[server] root"));
        assert!(with_hint("listen: 'x' is not an ADDR:PORT", &cli(&[])).contains("--listen"));
        assert!(
            with_hint("cannot read config file a.toml: x", &cli(&["-c", "a.toml"]))
                .contains("-c/--config")
        );
        // Errors that already name their key are left alone.
        assert_eq!(
            with_hint("wharf.toml: [server] port: unknown key", &cli(&[])),
            "wharf.toml: [server] port: unknown key"
        );
    }
}
