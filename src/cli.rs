//! The command line: `wharf [OPTIONS] [ROOT]`. Every flag overrides the
//! matching key of the config file.

use std::path::PathBuf;

use clap::Parser;

use crate::config::Overrides;

/// A static-file HTTP/1.1 server whose event loops never touch the disk.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about)]
pub struct Cli {
    /// Directory to serve [config: server.root; default: current directory]
    pub root: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port [config: server.listen; default: 127.0.0.1:8080]
    #[arg(short, long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,

    /// Config file [default: ./config.toml when present]
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Event-loop threads; 0 = one per core [config: server.workers]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// IO pool threads; 0 = automatic [config: server.io_threads]
    #[arg(long, value_name = "N")]
    pub io_threads: Option<usize>,
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
