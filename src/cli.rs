//! The command line: `wharf [OPTIONS] [ROOT]`, plus `wharf completions
//! SHELL` and `wharf man`, which print a shell completion script or the man
//! page generated from this very definition, and `wharf check URL`, a
//! health probe. Every flag overrides the matching key of the config file.
//!
//! A first argument that names a subcommand (`man`, `completions`) is the
//! subcommand; to serve a directory of that name, write it as a path
//! (`wharf ./man`) or put any option first (`wharf -l 127.0.0.1:8080 man`).

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use crate::config::{Overrides, MAX_THREADS};

/// A static-file HTTP/1.1 server whose event loops never touch the disk.
#[derive(Debug, Parser)]
#[command(
    name = "wharf",
    version,
    about,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    after_help = "Signals: SIGINT/SIGTERM stop gracefully, SIGHUP reloads the config file, \
                  SIGUSR1 reopens the access-log file.\n\
                  Diagnostics go to stderr; set their level with RUST_LOG (error, warn, info, debug, trace; default info).\n\
                  To serve a directory named like a subcommand, write it as a path: wharf ./man"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Directory to serve [config: server.root; default: current directory]
    pub root: Option<PathBuf>,

    /// Address to listen on: ADDR:PORT (port 0 picks a free port; [::]:PORT takes IPv4 too) or unix:PATH; repeat for several (they replace the file's list) [config: server.listen; default: 127.0.0.1:8080]
    #[arg(short, long, value_name = "ADDR:PORT")]
    pub listen: Vec<String>,

    /// Config file [default: ./config.toml when present]
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Event-loop threads, 0 to 1024; 0 = one per core [config: server.workers]
    #[arg(long, value_name = "N", value_parser = thread_count)]
    pub workers: Option<usize>,

    /// IO pool threads, 0 to 1024; 0 = automatic [config: server.io_threads]
    #[arg(long, value_name = "N", value_parser = thread_count)]
    pub io_threads: Option<usize>,

    /// Print one plain start-up line instead of the banner, even on a terminal
    #[arg(short, long)]
    pub quiet: bool,
}

/// A thread count from the command line, held to the config file's range.
fn thread_count(text: &str) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|e| format!("{e}"))?;
    if n > MAX_THREADS {
        return Err(format!("must be 0 to {MAX_THREADS}"));
    }
    Ok(n)
}

/// The subcommands: tools around wharf rather than a server run.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print a shell completion script to stdout (e.g. wharf completions bash > /etc/bash_completion.d/wharf)
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff) to stdout (e.g. wharf man | man -l -)
    Man,
    /// Probe a URL: exit 0 if it answers 2xx in time, else 1 with the reason on stderr (e.g. wharf check http://127.0.0.1:9100/healthz)
    Check {
        /// http://HOST[:PORT]/PATH, or unix:/path/to.sock:/PATH
        url: String,
        /// Seconds to wait for the answer, 1 to 3600
        #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
        timeout_secs: u64,
    },
}

impl Cli {
    /// The values that override the config file.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            root: self.root.clone(),
            listen: self.listen.clone(),
            workers: self.workers,
            io_threads: self.io_threads,
        }
    }
}

/// Writes the completion script for `shell`.
pub fn write_completions(shell: Shell, out: &mut dyn Write) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "wharf", out);
}

/// Writes the man page, `wharf(1)`, in roff.
///
/// # Errors
/// Writing to `out` can fail.
pub fn write_man_page(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("wharf").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn root_and_subcommands() {
        let cli = parse(&["--listen", "127.0.0.1:0", "site"]).unwrap();
        assert_eq!(cli.root, Some(PathBuf::from("site")));
        assert_eq!(cli.command, None);

        let cli = parse(&["man"]).unwrap();
        assert_eq!(cli.command, Some(Command::Man));
        assert_eq!(cli.root, None);

        // A directory named like a subcommand, written as a path.
        let cli = parse(&["./man"]).unwrap();
        assert_eq!(cli.root, Some(PathBuf::from("./man")));
        assert_eq!(cli.command, None);

        let cli = parse(&["completions", "zsh"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Completions { shell: Shell::Zsh })
        );
        assert!(parse(&["completions", "tcsh"]).is_err());
        // After an option, a bare word is the root again.
        let cli = parse(&["--listen", "127.0.0.1:0", "man"]).unwrap();
        assert_eq!(cli.root, Some(PathBuf::from("man")));
        assert_eq!(cli.command, None);
        // Subcommands take no server options.
        assert!(parse(&["man", "--listen", "127.0.0.1:0"]).is_err());

        let cli = parse(&["check", "http://127.0.0.1:1/healthz"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Check {
                url: "http://127.0.0.1:1/healthz".into(),
                timeout_secs: 5
            })
        );
        let cli = parse(&["check", "--timeout-secs", "2", "http://h/"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Check {
                timeout_secs: 2,
                ..
            })
        ));
        assert!(parse(&["check", "--timeout-secs", "0", "http://h/"]).is_err());

        // --listen repeats.
        let cli = parse(&["-l", "127.0.0.1:0", "--listen", "unix:/tmp/w.sock"]).unwrap();
        assert_eq!(cli.listen, ["127.0.0.1:0", "unix:/tmp/w.sock"]);

        let cli = parse(&["-q", "."]).unwrap();
        assert!(cli.quiet);
    }

    #[test]
    fn generated_texts_mention_the_flags() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            write_completions(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("listen"), "{shell}: {text}");
        }
        let mut out = Vec::new();
        write_man_page(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(".ie") || text.starts_with(".TH"), "{text}");
        assert!(text.contains("listen"), "{text}");
    }
}
