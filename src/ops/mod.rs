//! Running wharf: the access log ([`access_log`]), counters and histograms
//! ([`metrics`]), wharf's own diagnostics ([`diag`]), the start-up
//! banner ([`banner`]) and the `wharf check` probe ([`check`]).

pub mod access_log;
pub mod banner;
pub mod check;
pub mod diag;
pub mod metrics;
