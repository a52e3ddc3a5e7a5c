//! The scenarios: `load` (throughput, latency and CPU per cell),
//! `isolation` (p99 under cold-disk downloads), and the real-site ones:
//! `site` (a generated tree, Zipf and uniform path lists), `cold` (the same
//! tree evicted from the page cache), `churn` (a connection per request,
//! an accept storm), `pipelined` (16 requests per write) and `scale` (the
//! tree from 1k to 1M files). `matrix` holds what the last five share.

pub mod churn;
pub mod cold;
pub mod isolation;
pub mod load;
pub mod matrix;
pub mod pipelined;
pub mod scale;
pub mod site;
