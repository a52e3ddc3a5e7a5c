//! The `wharf` binary: parse the command line, load the config, bind, print
//! the URL, run until SIGINT/SIGTERM. Everything else lives in the library.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use wharf::cli::Cli;
use wharf::{Config, Server};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message is several lines; its first says what is wrong.
            let message = e.to_string();
            let first = message.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "wharf: {} (see wharf --help)",
                first.trim_start_matches("error: ").trim()
            );
            return ExitCode::from(2);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wharf: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let config =
        Config::load(cli.config.as_deref(), &cli.overrides()).map_err(|e| e.to_string())?;
    let server = Server::bind(config, cli.overrides()).map_err(|e| e.to_string())?;
    wharf::server::handle_signals(server.handle())
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let config = server.config();
    println!(
        "wharf {} serving {} on {} ({} event loops, {} IO threads)",
        env!("CARGO_PKG_VERSION"),
        config.root.display(),
        server.url(),
        config.workers,
        config.io_threads
    );
    let _ = std::io::stdout().flush();
    server.run().map_err(|e| e.to_string())
}
