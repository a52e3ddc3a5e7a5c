//! Feature parts of the loop-purity scenario: each feature that adds a new
//! request path (a fallback, an auth check, an archive, a compression job,
//! a health probe, ...) adds one [`Part`] here, in a module of its own, so
//! the strace check covers it without the features editing each other's
//! traffic.
//!
//! A part's `toml` uses dotted keys only (`http.fallback = "/index.html"`,
//! `http.cors.allow_origins = ["*"]`): the parts' lines are put before the
//! scenario's own tables, so two parts may both set keys of `[http]`.

use std::path::Path;

use crate::harness::TestServer;

/// One feature's share of the scenario.
pub struct Part {
    /// Named in assertion messages.
    pub name: &'static str,
    /// Writes the files the part needs beneath the served root.
    pub files: fn(root: &Path),
    /// Config lines (dotted keys only, see the module doc).
    pub toml: &'static str,
    /// Drives the part's requests through the server; returns how many
    /// responses the access log should record.
    pub traffic: fn(server: &TestServer) -> usize,
}

/// Every part, run in order after the base traffic.
pub const PARTS: &[Part] = &[
    super::part_archive::PART,
    super::part_site::PART,
    super::part_compress::PART,
    super::part_auth::PART,
    super::part_health::PART,
    super::part_proxy::PART,
];
