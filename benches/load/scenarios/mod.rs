//! The two scenarios: `load` (throughput, latency and CPU per cell) and
//! `isolation` (p99 under cold-disk downloads).

pub mod isolation;
pub mod load;
