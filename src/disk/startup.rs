//! Start-up helpers: the filesystem questions loading the configuration
//! asks (the config file, the root). They run on the main thread, and on
//! reload on the signal thread, never on an event loop.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, Files, Overrides};

/// Answers [`Files`] from the real filesystem.
pub struct StartupFiles;

impl Files for StartupFiles {
    fn is_file(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_file())
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn canonical_dir(&self, path: &Path) -> io::Result<PathBuf> {
        let canonical = std::fs::canonicalize(path)?;
        if !std::fs::metadata(&canonical)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(canonical)
    }
}

/// [`Config::load`] against the real filesystem.
///
/// # Errors
/// As [`Config::load`].
pub fn load_config(
    config_file: Option<&Path>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    Config::load(config_file, overrides, &StartupFiles)
}
