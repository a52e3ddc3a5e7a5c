//! Cells: one (mode, connections, size, server) combination and its runs
//! reduced to medians, the nginx `return 204` floor cell, and the idle and
//! cold runs of one isolation round.

use crate::options::Mode;
use crate::wrk::Run;

/// Connections of the chart and of the `return 204` floor cell.
pub const CHART_CONNECTIONS: u32 = 64;

/// The median of the finite values; `None` if there are none.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellKey {
    pub mode: Mode,
    pub conns: u32,
    /// Index into the sizes; `usize::MAX` for the `return 204` floor.
    pub size: usize,
    pub server: String,
}

pub const FLOOR: usize = usize::MAX;
pub const FLOOR_NAME: &str = "nginx return 204";

#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub rps: Option<f64>,
    pub mbps: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub cpu_per_req: Option<f64>,
    pub cpu_per_gb: Option<f64>,
    pub server_cores: Option<f64>,
    pub wrk_cores: Option<f64>,
    pub errors: u64,
    pub non2xx: u64,
}

/// A cell's runs reduced to the median of each figure (errors summed).
pub fn aggregate(runs: &[Run]) -> Cell {
    let m = |f: &dyn Fn(&Run) -> Option<f64>| median(runs.iter().filter_map(f).collect());
    Cell {
        rps: m(&|r| Some(r.wrk.rps)),
        mbps: m(&|r| r.wrk.mbps()),
        p50: m(&|r| r.wrk.p50),
        p99: m(&|r| r.wrk.p99),
        cpu_per_req: m(&|r| (r.wrk.requests > 0).then(|| r.server_cpu / r.wrk.requests as f64)),
        cpu_per_gb: m(&|r| (r.wrk.bytes > 0.0).then(|| r.server_cpu / (r.wrk.bytes / 1e9))),
        server_cores: m(&|r| Some(r.server_cpu / r.wall)),
        wrk_cores: m(&|r| Some(r.wrk_cpu / r.wall)),
        errors: runs.iter().map(|r| r.wrk.errors).sum(),
        non2xx: runs.iter().map(|r| r.wrk.non2xx).sum(),
    }
}

/// One isolation round of one server: wrk idle, then under the cold downloads.
#[derive(Debug, Clone, Default)]
pub struct IsoRound {
    pub idle: Run,
    pub cold: Run,
    pub cold_mbps: f64,
}
