//! Routing a parsed request: the checks every request passes (the method,
//! the path; `Host` and framing were checked by the parser), the password
//! of an `auth` rule (`auth.rs`), then the answer chosen at once (an
//! error, `OPTIONS`, the metrics page, a cache hit) or the open job sent to
//! the pool.

use super::*;
use crate::http::request::FileHeaders;
use crate::site::redirects;

use crate::http::encoding;

impl Conn {
    /// Whether a response to `request` may keep the connection open.
    fn may_keep_alive(ctx: &LoopContext, request: &Request) -> bool {
        request.keep_alive && !ctx.shutting_down && !ctx.config.limits.keepalive_timeout.is_zero()
    }

    /// Routes a parsed request: answers it at once or sends it to the pool.
    pub(super) fn handle_request(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        mut request: Request,
    ) {
        // `Host` was checked by the parser (a bad one is a parse error). A
        // request with a body is answered as if it had none: the parser
        // made it close the connection, and the lingering drain after the
        // answer discards the body unread (`finish_response`). So a POST
        // gets 405 and a GET its file, and no body is read as a request.
        let keep_alive = Self::may_keep_alive(ctx, &request);
        #[cfg(debug_assertions)]
        if request.target == "/__wharf_fault/panic-loop" && crate::fault::fault_injection() {
            panic!("injected fault: a panic while handling a connection");
        }
        if self.metrics_endpoint {
            return self.serve_metrics(ctx, request, keep_alive);
        }
        let method = request.method;
        // Into the loop's scratch buffers: a hit needs no owned copy.
        let safe = path::sanitize_into(&request.target, &mut work.decoded, &mut work.relative);
        let file_headers = std::mem::take(&mut request.file_headers);
        let wants_json = request.wants_json;
        let mut exchange = Exchange::new(request, keep_alive, ctx.now);
        if let Ok(facts) = &safe {
            let mut path = work.recycler.string();
            push_request_path(&mut path, &work.relative, facts.trailing_slash);
            exchange.path = Some(path);
        }
        match method {
            Method::Other => {
                return self.start_status(ctx, exchange, Status::MethodNotAllowed, keep_alive)
            }
            Method::Options => return self.start_options(ctx, exchange),
            Method::Get | Method::Head => {}
        }
        let Ok(facts) = safe else {
            return self.start_status(ctx, exchange, Status::BadRequest, false);
        };
        // `[[http.redirects]]`: before files and the cache.
        if let Some((status, location)) = configured_redirect(ctx, &exchange) {
            return self.start_redirect(ctx, exchange, status, &location);
        }
        // Passwords (`auth` rules, auth.rs): before the hidden check and the
        // cache lookup, so nothing under a protected path is answered, not
        // even from the cache or with a 404, without the check. The check
        // may wait for the pool; `route_file` goes on from its answer.
        if let Some(index) = auth::rule_for(ctx, &exchange) {
            return self.check_auth(ctx, work, exchange, index, facts, file_headers, wants_json);
        }
        self.route_file(ctx, work, exchange, facts, file_headers, wants_json);
    }

    /// Routes a GET or HEAD whose path passed its checks (and its password,
    /// if it needs one): the hidden-file check, then a cache hit or an
    /// open job. `work.relative` holds the path relative to the root.
    pub(super) fn route_file(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        mut exchange: Exchange,
        facts: PathFacts,
        file_headers: FileHeaders,
        wants_json: bool,
    ) {
        let PathFacts {
            trailing_slash,
            hidden,
        } = facts;
        let method = exchange.request.method;
        let accepts_html = exchange.request.accepts_html;
        let keep_alive = exchange.keep_alive;
        if hidden && !ctx.config.http.hidden_files {
            return self.start_status(ctx, exchange, Status::NotFound, keep_alive);
        }
        // `[http] canonical`: `/about.html` to `/about`.
        if let Some(location) = canonical_redirect(ctx, &exchange) {
            return self.start_redirect(ctx, exchange, Status::MovedPermanently, &location);
        }
        let key = cache_key(exchange.path.as_deref().unwrap_or("/"), trailing_slash);
        let cached = ctx
            .cache
            .get(key, &mut work.event_check, self.last_read, ctx.now);
        if let Some(entry) = &cached {
            let path = exchange.path.as_deref().unwrap_or("/");
            let accept_encoding = file_headers.accept_encoding.as_deref();
            let entry = Self::cached_representation(ctx, key, path, entry, accept_encoding);
            let is_get = method == Method::Get;
            let max_ranges = ctx.config.limits.max_ranges;
            let plan = entry.plan(&file_headers, is_get, ctx.now_secs, max_ranges);
            // A multi-range answer is assembled on the pool, like a miss.
            if !matches!(plan, Plan::Multipart(_)) {
                for field in file_headers.into_fields() {
                    work.recycler.give_bytes(field);
                }
                return self.start_cached(ctx, work, exchange, entry, plan);
            }
        }
        exchange.cache_key = Some(key.to_string());
        exchange.accept = encoding::preference(file_headers.accept_encoding.as_deref());
        // Asked here, not by the pool: one check vouches for a whole batch.
        let sidecars_settled = ctx.config.http.precompressed
            && ctx
                .cache
                .events_settled(&mut work.event_check, self.last_read);
        let query = path::split_query(&exchange.request.target)
            .1
            .map(String::from);
        ctx.io.open(
            self.conn_ref,
            OpenRequest {
                relative: work.relative.clone(),
                trailing_slash,
                query,
                is_get: method == Method::Get,
                headers: file_headers,
                wants_json,
                max_ranges: ctx.config.limits.max_ranges,
                sidecars_settled,
                fallback: ctx.config.http.fallback.is_some()
                    && redirects::fallback_applies(&work.relative, accepts_html),
            },
        );
        self.wait_for_pool(ctx, exchange);
    }
}

/// The first `[[http.redirects]]` entry matching the request's path, as
/// its status and `Location`.
fn configured_redirect(ctx: &LoopContext, exchange: &Exchange) -> Option<(Status, String)> {
    let redirects = &ctx.config.http.redirects;
    if redirects.is_empty() {
        return None;
    }
    let path = exchange.path.as_deref()?;
    let query = path::split_query(&exchange.request.target).1;
    let (code, location) = redirects::find(redirects, path, query)?;
    Some((Status::redirect(code)?, location))
}

/// The canonical clean URL of the request's path, when `[http] canonical`
/// says it should be redirected there.
fn canonical_redirect(ctx: &LoopContext, exchange: &Exchange) -> Option<String> {
    let http = &ctx.config.http;
    if !http.canonical {
        return None;
    }
    let path = exchange.path.as_deref()?;
    let query = path::split_query(&exchange.request.target).1;
    redirects::canonical_location(path, query, &http.try_extensions, &http.index_files)
}

/// Appends the decoded path with its leading `/` (and a trailing one for
/// a directory other than the root), as [`Exchange::path`] holds it.
fn push_request_path(out: &mut String, relative: &str, trailing_slash: bool) {
    out.push('/');
    out.push_str(relative);
    if trailing_slash && !relative.is_empty() {
        out.push('/');
    }
}

/// The hot-file cache key of a request for `path` (the decoded path with
/// its leading `/`, see [`Exchange::path`]) as the pool is asked to open
/// it (`trailing_slash`): what [`crate::cache::FileCache::key`] makes of
/// the relative path and the flag, without building it again. It must
/// tell apart every two requests the pool may answer differently, or a hit
/// answers one with the other's entry: the root asked for without a slash
/// (`/.`, which the pool redirects to `/`) is `""`, not `/`, since
/// [`Exchange::path`] is `/` for both.
fn cache_key(path: &str, trailing_slash: bool) -> &str {
    match path.strip_prefix('/') {
        Some("") | None if trailing_slash => "/",
        Some(relative) => relative,
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::FileCache;

    #[test]
    fn the_cache_key_from_the_path_is_the_one_the_cache_builds() {
        let targets = [
            "/",
            "/a",
            "/a/",
            "/a/b.txt",
            "/a/b/",
            "/%2e/x",
            "//a//b/",
            "/.",
            "/%2e",
            "//.",
            "/./.",
            "/./",
            "//",
            "/a/.",
            "/a/./",
            "/a/./b",
            "http://h",
            "http://h/.",
        ];
        for target in targets {
            let safe = path::sanitize(target).unwrap();
            let mut path = String::new();
            push_request_path(&mut path, &safe.relative, safe.trailing_slash);
            assert_eq!(
                cache_key(&path, safe.trailing_slash),
                FileCache::key(&safe.relative, safe.trailing_slash),
                "{target}"
            );
        }
    }
}
