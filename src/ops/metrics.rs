//! Server-wide counters and latency histograms, updated with relaxed atomics
//! by the event loops and the IO pool, and rendered in the Prometheus text
//! format (`GET /metrics` on the `[metrics] listen` address), or as a
//! one-screen summary (on SIGUSR2, and at exit with `[metrics] summary`).
//!
//! Nothing here blocks or allocates on the update path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cache::FileCache;

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed it, or a read or write failed.
    Client,
    /// The server closed it after a response without keep-alive.
    Done,
    /// Idle keep-alive timeout.
    IdleTimeout,
    /// Request head not complete in time.
    HeaderTimeout,
    /// No write progress in time.
    SendTimeout,
    /// Malformed request, bad framing or a file that shrank mid-send.
    Error,
    /// Graceful shutdown.
    Shutdown,
}

impl CloseReason {
    const ALL: [CloseReason; 7] = [
        CloseReason::Client,
        CloseReason::Done,
        CloseReason::IdleTimeout,
        CloseReason::HeaderTimeout,
        CloseReason::SendTimeout,
        CloseReason::Error,
        CloseReason::Shutdown,
    ];

    fn label(self) -> &'static str {
        match self {
            CloseReason::Client => "client",
            CloseReason::Done => "done",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::SendTimeout => "send_timeout",
            CloseReason::Error => "error",
            CloseReason::Shutdown => "shutdown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds of the latency buckets, in microseconds.
const BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// A fixed-bucket latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    /// One counter per bound, plus one for larger values.
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, duration: Duration) {
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        let index = BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BOUNDS_US.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The bucket bound at or below which a fraction `q` of the values
    /// fall (an upper estimate), in microseconds; the maximum for the top
    /// bucket.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= target {
                let max = self.max_us.load(Ordering::Relaxed);
                return BOUNDS_US.get(i).map_or(max, |&b| b.min(max));
            }
        }
        self.max_us.load(Ordering::Relaxed)
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS_US.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count());
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            self.count()
        );
    }
}

/// Everything wharf counts.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    pub accepted: AtomicU64,
    /// Refused with 503 over `max_connections`.
    pub refused: AtomicU64,
    closed: [AtomicU64; 7],
    /// Responses by status class: 1xx .. 5xx.
    responses: [AtomicU64; 5],
    pub body_bytes: AtomicU64,
    /// `accept` failed for lack of descriptors.
    pub emfile: AtomicU64,
    /// Turns a connection ended early, after [`crate::config::REQUESTS_PER_TURN`]
    /// pipelined requests, to let the loop's other connections run.
    pub turns_yielded: AtomicU64,
    /// Jobs waiting for a pool thread.
    pub pool_queued: AtomicI64,
    /// From job submission to its start on a pool thread.
    pub pool_wait: Histogram,
    /// A job's own run time.
    pub pool_run: Histogram,
    /// From a complete request head to the last byte of the response.
    pub request_time: Histogram,
    /// Connections closed unanswered for a missing, malformed or
    /// incomplete PROXY protocol header (`[server] proxy_protocol`).
    pub proxy_header_rejected: AtomicU64,
    /// Requests under an `auth` rule let through: a password checked on
    /// the pool, or a recent success remembered.
    pub auth_successes: AtomicU64,
    /// Requests under an `auth` rule answered `401` (no credentials,
    /// unreadable ones, an unknown user or a wrong password).
    pub auth_failures: AtomicU64,
    /// bcrypt checks run on the password lanes.
    pub auth_checks: AtomicU64,
    /// Answers given from the memo of recent checks, without bcrypt.
    pub auth_memo_hits: AtomicU64,
    /// Password checks waiting for a password lane.
    pub auth_queued: AtomicI64,
    /// Password checks admitted and not yet answered (waiting or running).
    pub auth_pending: AtomicI64,
    /// Checks refused (`503`) because the password lanes' queue was full.
    pub auth_refused_busy: AtomicU64,
    /// Checks refused (`429`) because the client address had a penalty.
    pub auth_refused_client: AtomicU64,
    /// Answers held back before they were sent (a wrong password's `401`,
    /// a refused check's `429` or `503`).
    pub auth_held: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            started: Instant::now(),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            closed: Default::default(),
            responses: Default::default(),
            body_bytes: AtomicU64::new(0),
            emfile: AtomicU64::new(0),
            turns_yielded: AtomicU64::new(0),
            pool_queued: AtomicI64::new(0),
            pool_wait: Histogram::default(),
            pool_run: Histogram::default(),
            request_time: Histogram::default(),
            proxy_header_rejected: AtomicU64::new(0),
            auth_successes: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            auth_checks: AtomicU64::new(0),
            auth_memo_hits: AtomicU64::new(0),
            auth_queued: AtomicI64::new(0),
            auth_pending: AtomicI64::new(0),
            auth_refused_busy: AtomicU64::new(0),
            auth_refused_client: AtomicU64::new(0),
            auth_held: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn closed(&self, reason: CloseReason) {
        self.closed[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished (or abandoned) response.
    pub fn response(&self, status: u16, body_bytes: u64, time: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        self.body_bytes.fetch_add(body_bytes, Ordering::Relaxed);
        self.request_time.observe(time);
    }

    fn responses_total(&self) -> u64 {
        self.responses
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render_prometheus(&self, open_connections: usize, cache: &FileCache) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, value: u64| {
            write_sample(&mut out, "counter", name, help, value)
        };
        counter(
            "wharf_connections_accepted_total",
            "Connections accepted.",
            self.accepted.load(Ordering::Relaxed),
        );
        counter(
            "wharf_connections_refused_total",
            "Connections refused with 503 over max_connections.",
            self.refused.load(Ordering::Relaxed),
        );
        counter(
            "wharf_accept_emfile_total",
            "Times accept failed for lack of file descriptors.",
            self.emfile.load(Ordering::Relaxed),
        );
        counter(
            "wharf_turns_yielded_total",
            &format!(
                "Turns a connection gave up after {} pipelined requests, to let others run.",
                crate::config::REQUESTS_PER_TURN
            ),
            self.turns_yielded.load(Ordering::Relaxed),
        );
        counter(
            "wharf_proxy_protocol_rejected_total",
            "Connections closed without a response for a missing, malformed or incomplete PROXY protocol header.",
            self.proxy_header_rejected.load(Ordering::Relaxed),
        );
        counter(
            "wharf_response_body_bytes_total",
            "Response body bytes sent.",
            self.body_bytes.load(Ordering::Relaxed),
        );
        counter(
            "wharf_cache_hits_total",
            "Hot-file cache hits.",
            cache.stats.hits.load(Ordering::Relaxed),
        );
        counter(
            "wharf_cache_inserts_total",
            "Files put into the hot-file cache.",
            cache.stats.inserts.load(Ordering::Relaxed),
        );
        counter(
            "wharf_cache_rejections_total",
            "Missed files not put into the full hot-file cache: asked for less often than what they would displace.",
            cache.stats.rejections.load(Ordering::Relaxed),
        );
        counter(
            "wharf_cache_invalidations_total",
            "Hot-file cache invalidations by filesystem events.",
            cache.stats.invalidations.load(Ordering::Relaxed),
        );
        counter(
            "wharf_auth_successes_total",
            "Requests under an auth rule that passed (checked, or remembered).",
            self.auth_successes.load(Ordering::Relaxed),
        );
        counter(
            "wharf_auth_failures_total",
            "Requests under an auth rule answered 401.",
            self.auth_failures.load(Ordering::Relaxed),
        );
        counter(
            "wharf_auth_checks_total",
            "bcrypt password checks run on the password lanes.",
            self.auth_checks.load(Ordering::Relaxed),
        );
        counter(
            "wharf_auth_memo_hits_total",
            "Auth answers taken from the memo of recent checks, without bcrypt.",
            self.auth_memo_hits.load(Ordering::Relaxed),
        );
        counter(
            "wharf_auth_refused_busy_total",
            "Password checks refused with 503: too many were waiting.",
            self.auth_refused_busy.load(Ordering::Relaxed),
        );
        counter(
            "wharf_auth_refused_client_total",
            "Password checks refused with 429: the client address had a penalty.",
            self.auth_refused_client.load(Ordering::Relaxed),
        );
        counter(
            "wharf_auth_held_total",
            "Wrong-password 401s and refused 429s and 503s held back before they were sent.",
            self.auth_held.load(Ordering::Relaxed),
        );
        let gauge = |value: i64| u64::try_from(value).unwrap_or(0);
        write_sample(
            &mut out,
            "gauge",
            "wharf_auth_checks_queued",
            "Password checks waiting for a password lane.",
            gauge(self.auth_queued.load(Ordering::Relaxed)),
        );
        write_sample(
            &mut out,
            "gauge",
            "wharf_auth_checks_pending",
            "Password checks admitted and not yet answered (waiting or running).",
            gauge(self.auth_pending.load(Ordering::Relaxed)),
        );
        write_sample(
            &mut out,
            "gauge",
            "wharf_connections_open",
            "Client connections open now.",
            open_connections as u64,
        );
        let _ = writeln!(
            out,
            "# HELP wharf_connections_closed_total Connections closed, by reason.\n# TYPE wharf_connections_closed_total counter"
        );
        for reason in CloseReason::ALL {
            let _ = writeln!(
                out,
                "wharf_connections_closed_total{{reason=\"{}\"}} {}",
                reason.label(),
                self.closed[reason.index()].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP wharf_responses_total Responses, by status class.\n# TYPE wharf_responses_total counter"
        );
        for (i, count) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "wharf_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                count.load(Ordering::Relaxed)
            );
        }
        write_sample(
            &mut out,
            "gauge",
            "wharf_io_pool_queue_depth",
            "Jobs waiting for an IO pool thread.",
            gauge(self.pool_queued.load(Ordering::Relaxed)),
        );
        write_sample(
            &mut out,
            "gauge",
            "wharf_cache_bytes",
            "Bytes held by the hot-file cache.",
            cache.used_bytes() as u64,
        );
        self.pool_wait.render(
            "wharf_io_pool_wait_seconds",
            "Time IO jobs waited for a pool thread.",
            &mut out,
        );
        self.pool_run
            .render("wharf_io_job_seconds", "Time IO jobs ran.", &mut out);
        self.request_time.render(
            "wharf_request_duration_seconds",
            "Time from a complete request head to the last response byte.",
            &mut out,
        );
        out
    }

    /// A one-screen summary of what was served since start.
    pub fn summary(&self, cache: &FileCache) -> String {
        let uptime = self.started.elapsed().as_secs_f64().max(1e-9);
        let total = self.responses_total();
        let class = |i: usize| self.responses[i].load(Ordering::Relaxed);
        let closed = |r: CloseReason| self.closed[r.index()].load(Ordering::Relaxed);
        let ms = |us: u64| us as f64 / 1000.0;
        let mut out = String::new();
        let _ = writeln!(out, "wharf summary after {uptime:.1} s");
        let _ = writeln!(
            out,
            "  requests     {total} ({:.0}/s), {:.1} MB of bodies ({:.1} MB/s)",
            total as f64 / uptime,
            self.body_bytes.load(Ordering::Relaxed) as f64 / 1e6,
            self.body_bytes.load(Ordering::Relaxed) as f64 / 1e6 / uptime
        );
        let _ = writeln!(
            out,
            "  status       2xx {}  3xx {}  4xx {}  5xx {}",
            class(1),
            class(2),
            class(3),
            class(4)
        );
        let _ = writeln!(
            out,
            "  latency      p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms (bucket upper bounds)",
            ms(self.request_time.quantile_us(0.5)),
            ms(self.request_time.quantile_us(0.9)),
            ms(self.request_time.quantile_us(0.99)),
            ms(self.request_time.max_us.load(Ordering::Relaxed))
        );
        let _ = writeln!(
            out,
            "  pool wait    p50 {:.2} ms  p99 {:.2} ms over {} jobs",
            ms(self.pool_wait.quantile_us(0.5)),
            ms(self.pool_wait.quantile_us(0.99)),
            self.pool_wait.count()
        );
        let _ = writeln!(
            out,
            "  connections  {} accepted, {} refused (503), {} accept EMFILE",
            self.accepted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.emfile.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "  closed       header timeout {}  idle timeout {}  send timeout {}  errors {}",
            closed(CloseReason::HeaderTimeout),
            closed(CloseReason::IdleTimeout),
            closed(CloseReason::SendTimeout),
            closed(CloseReason::Error)
        );
        let rejected = self.proxy_header_rejected.load(Ordering::Relaxed);
        if rejected > 0 {
            let _ = writeln!(out, "  proxy        {rejected} bad PROXY protocol headers");
        }
        let failures = self.auth_failures.load(Ordering::Relaxed);
        let successes = self.auth_successes.load(Ordering::Relaxed);
        if failures + successes > 0 {
            let _ = writeln!(
                out,
                "  passwords    {successes} passed, {failures} refused (401), {} bcrypt checks, {} busy (503)",
                self.auth_checks.load(Ordering::Relaxed),
                self.auth_refused_busy.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "  cache        {} hits, {} files, {:.1} MB",
            cache.stats.hits.load(Ordering::Relaxed),
            cache.len(),
            cache.used_bytes() as f64 / 1e6
        );
        out
    }
}

/// One sample with its `HELP` and `TYPE` lines (`kind`: counter, gauge).
fn write_sample(out: &mut String, kind: &str, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CacheConfig;

    fn cache() -> FileCache {
        FileCache::new(CacheConfig {
            enabled: true,
            max_file_bytes: 10,
            max_total_bytes: 10,
            revalidate: Duration::ZERO,
            recheck: Duration::ZERO,
            descriptors: false,
        })
    }

    #[test]
    fn histogram_quantiles() {
        let h = Histogram::default();
        for _ in 0..90 {
            h.observe(Duration::from_micros(80));
        }
        for _ in 0..10 {
            h.observe(Duration::from_millis(3));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_us(0.5), 100);
        assert_eq!(h.quantile_us(0.9), 100);
        assert_eq!(h.quantile_us(0.99), 3_000); // Capped by the maximum seen.
    }

    #[test]
    fn prometheus_text_has_every_family() {
        let m = Metrics::default();
        m.accepted.fetch_add(3, Ordering::Relaxed);
        m.response(200, 10, Duration::from_micros(120));
        m.response(404, 5, Duration::from_micros(60));
        m.closed(CloseReason::IdleTimeout);
        let text = m.render_prometheus(2, &cache());
        for line in [
            "wharf_connections_accepted_total 3",
            "wharf_connections_open 2",
            "wharf_responses_total{class=\"2xx\"} 1",
            "wharf_responses_total{class=\"4xx\"} 1",
            "wharf_response_body_bytes_total 15",
            "wharf_connections_closed_total{reason=\"idle_timeout\"} 1",
            "wharf_request_duration_seconds_count 2",
            "wharf_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "wharf_io_pool_queue_depth 0",
            "wharf_cache_hits_total 0",
            "wharf_auth_failures_total 0",
            "wharf_auth_checks_queued 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Every sample line belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{name}");
        }
    }

    #[test]
    fn summary_mentions_the_essentials() {
        let m = Metrics::default();
        m.response(200, 1000, Duration::from_millis(1));
        let text = m.summary(&cache());
        assert!(text.contains("requests     1"));
        assert!(text.contains("2xx 1"));
        assert!(text.contains("p99"));
        assert!(!text.contains("passwords"), "no line without auth rules");
        m.auth_failures.fetch_add(2, Ordering::Relaxed);
        m.auth_checks.fetch_add(1, Ordering::Relaxed);
        let text = m.summary(&cache());
        assert!(text.contains("passwords    0 passed, 2 refused (401), 1 bcrypt checks"));
    }
}
