//! Running wharf: the access log ([`access_log`]), counters and histograms
//! ([`metrics`]), wharf's own diagnostics ([`diag`]) and the start-up
//! banner ([`banner`]).

pub mod access_log;
pub mod banner;
pub mod diag;
pub mod metrics;
