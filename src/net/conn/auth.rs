//! Passwords, the loop side: the routing step of a GET or HEAD whose path
//! an `auth` rule protects (see [`crate::site::htpasswd`]). It comes after
//! the path checks and before the hidden-file check and the cache lookup,
//! so every answer under a protected path, a cached file or a `404`
//! included, needs the password first (as nginx answers `401` before
//! `404`).
//!
//! 1. No `Authorization`, or not readable `Basic` credentials: `401`.
//! 2. Credentials this loop checked recently ([`AuthMemo`]): a success
//!    goes on at once, a failure is `401` at once; no bcrypt.
//! 3. Otherwise the user is looked up here and the check (the user's hash,
//!    or the file's dummy hash for a user not listed, so that the timing
//!    does not tell which users exist) goes to the password lanes. The
//!    request waits like for any pool job; [`Conn::password_checked`] goes
//!    on from the answer with [`Conn::route_file`] (the cache, or an open
//!    job). If too many checks are waiting (`503`), or the client's
//!    address has a penalty (`429`, see [`crate::disk::password_guard`]):
//!    a refusal with `Retry-After`, held back like a failure.
//!
//! A `401` carries `WWW-Authenticate: Basic realm="...", charset="UTF-8"`
//! and keeps the connection, so the browser can ask and retry on it.
//! The user name (never the password) goes to the access log.
//!
//! A wrong password (from bcrypt or the memo) and a refused check (`503`
//! for a full queue, `429` for a client with a penalty) are held back
//! before they are sent ([`Conn::hold`]): `[http] auth_failure_delay_secs`,
//! doubled for each earlier failure of the same client, or until the
//! client's penalty ends ([`crate::disk::password_guard`]). The connection
//! sits on a timer, not read, so a client guessing passwords gets at most
//! one answer a second per connection, soon one every half minute, and
//! costs the loop a timer entry, not a request a few microseconds apart.
//! The `401` of a request without credentials (a browser's first) is not
//! held.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::disk::password::PasswordCheck;
use crate::disk::password_guard::Refused;
use crate::http::basic_auth;
use crate::http::request::FileHeaders;
use crate::net::auth_memo::{self, AuthMemo, Key};
use crate::site::htpasswd;

/// What a request waiting for its password check keeps, to go on when the
/// answer comes.
pub(super) struct AuthPending {
    file_headers: FileHeaders,
    wants_json: bool,
    /// The memo key of its credentials.
    key: Key,
    /// The configuration the check was made under: its answer is
    /// remembered only if that is still the loop's.
    config: Arc<Config>,
    /// The `WWW-Authenticate` value, if the password is wrong.
    challenge: String,
}

/// The index of the `auth` rule protecting the exchange's path, if any.
pub(super) fn rule_for(ctx: &LoopContext, exchange: &Exchange) -> Option<usize> {
    let rules = &ctx.config.http.auth_rules;
    if rules.is_empty() {
        return None;
    }
    let path = exchange.path.as_deref()?;
    htpasswd::protecting(rules, path).map(|(index, _)| index)
}

impl Conn {
    /// The password step for a request under `auth` rule number `index`
    /// (from [`rule_for`]); the rest of the routing is [`Conn::route_file`]'s,
    /// at once or when the check comes back.
    #[allow(clippy::too_many_arguments)] // The routing state, handed on.
    pub(super) fn check_auth(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        mut exchange: Exchange,
        index: usize,
        facts: PathFacts,
        file_headers: FileHeaders,
        wants_json: bool,
    ) {
        let config = ctx.config.clone();
        let Some(rule) = config.http.auth_rules.get(index) else {
            return self.start_status(ctx, exchange, Status::InternalServerError, false);
        };
        // Taken out of the request: the header is not needed after this
        // (and its bytes are zeroed when dropped).
        let header = exchange.request.authorization.take();
        let credentials = header
            .as_ref()
            .and_then(|header| basic_auth::parse_basic(header.as_bytes()));
        let (Some(header), Some(credentials)) = (header, credentials) else {
            return self.deny(ctx, exchange, &rule.challenge, None);
        };
        exchange.user = Some(credentials.user.clone());
        let key = auth_memo::key(index, rule, header.as_bytes());
        drop(header);
        match recall(&mut work.auth_memo, &config, &key, ctx) {
            Some(true) => {
                ctx.metrics.auth_successes.fetch_add(1, Ordering::Relaxed);
                return self.route_file(ctx, work, exchange, facts, file_headers, wants_json);
            }
            Some(false) => {
                let base = config.http.auth_failure_delay;
                let hold = ctx.io.password_failed_again(self.client(&exchange), base);
                return self.deny(ctx, exchange, &rule.challenge, Some(hold));
            }
            None => {}
        }
        let (hash, known_user) = match rule.users.hash_of(&credentials.user) {
            Some(hash) => (hash, true),
            None => (rule.users.dummy_hash(), false),
        };
        let check = PasswordCheck {
            hash: hash.to_string(),
            password: credentials.password,
            known_user,
        };
        let client = self.client(&exchange);
        let base = config.http.auth_failure_delay;
        if let Err(refused) = ctx.io.check_password(self.conn_ref, client, base, check) {
            // Nothing was decided, so neither a success nor a failure is
            // counted.
            exchange.auth_header = Some(("Retry-After", "1".to_string()));
            let (status, hold) = match refused {
                Refused::Busy => (Status::ServiceUnavailable, base),
                Refused::TooMany { until } => (
                    Status::TooManyRequests,
                    until.saturating_duration_since(Instant::now()).max(base),
                ),
            };
            return self.hold(ctx, exchange, status, hold);
        }
        exchange.auth = Some(Box::new(AuthPending {
            file_headers,
            wants_json,
            key,
            challenge: rule.challenge.clone(),
            config: config.clone(),
        }));
        self.wait_for_pool(ctx, exchange);
    }

    /// The password lanes answered a check sent by [`Conn::check_auth`].
    pub(super) fn password_checked(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        mut exchange: Exchange,
        matched: bool,
        hold: Duration,
    ) {
        let Some(pending) = exchange.auth.take() else {
            // Not waiting for a check: nothing to go on with.
            return self.start_status(ctx, exchange, Status::InternalServerError, false);
        };
        let AuthPending {
            file_headers,
            wants_json,
            key,
            config,
            challenge,
        } = *pending;
        work.auth_memo.remember(&config, key, matched, ctx.now);
        if !matched {
            return self.deny(ctx, exchange, &challenge, Some(hold));
        }
        ctx.metrics.auth_successes.fetch_add(1, Ordering::Relaxed);
        // Routing goes on where it stopped; the workspace's path buffers
        // were other requests' meanwhile, so the target is decoded again
        // (it passed the same checks before).
        let target = &exchange.request.target;
        match path::sanitize_into(target, &mut work.decoded, &mut work.relative) {
            Ok(facts) => self.route_file(ctx, work, exchange, facts, file_headers, wants_json),
            Err(_) => self.start_status(ctx, exchange, Status::BadRequest, false),
        }
    }

    /// `401` with the rule's challenge; `hold`: for a wrong password (not
    /// missing credentials), how long the answer waits.
    fn deny(
        &mut self,
        ctx: &LoopContext,
        mut exchange: Exchange,
        challenge: &str,
        hold: Option<Duration>,
    ) {
        ctx.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
        exchange.auth_header = Some(("WWW-Authenticate", challenge.to_string()));
        self.hold(
            ctx,
            exchange,
            Status::Unauthorized,
            hold.unwrap_or_default(),
        );
    }

    /// The client address the penalties and the per-client bound of
    /// checks go by: the access log's.
    fn client(&self, exchange: &Exchange) -> Option<IpAddr> {
        exchange.request.client.or(self.peer.map(|peer| peer.ip()))
    }

    /// Answers `status` after `delay` (at once if zero). Meanwhile the
    /// exchange waits as for a pool job, so the connection's input is not
    /// read; its deadline brings it back to [`Conn::release_held`].
    fn hold(&mut self, ctx: &LoopContext, mut exchange: Exchange, status: Status, delay: Duration) {
        if delay.is_zero() {
            let keep_alive = exchange.keep_alive;
            return self.start_status(ctx, exchange, status, keep_alive);
        }
        exchange.status = status;
        ctx.metrics.auth_held.fetch_add(1, Ordering::Relaxed);
        self.deadline = Some((ctx.now + delay, DeadlineKind::Held));
        self.phase = Phase::Resolving(exchange);
    }

    /// The hold of [`Conn::hold`] is over: the held answer is sent.
    pub(super) fn release_held(&mut self, ctx: &LoopContext) {
        let phase = std::mem::replace(&mut self.phase, Phase::Reading);
        let Phase::Resolving(exchange) = phase else {
            // Nothing is held (no other path leaves a `Held` deadline):
            // keep the state, under a deadline that is not already past.
            self.phase = phase;
            self.deadline = Some((ctx.now + ctx.config.limits.send_timeout, DeadlineKind::Send));
            return;
        };
        let (status, keep_alive) = (exchange.status, exchange.keep_alive);
        self.start_status(ctx, exchange, status, keep_alive);
    }
}

/// The memo's answer for `key`, counted when there is one.
fn recall(memo: &mut AuthMemo, config: &Arc<Config>, key: &Key, ctx: &LoopContext) -> Option<bool> {
    let remembered = memo.recall(config, key, ctx.now);
    if remembered.is_some() {
        ctx.metrics.auth_memo_hits.fetch_add(1, Ordering::Relaxed);
    }
    remembered
}
