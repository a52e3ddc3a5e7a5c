//! Building responses: from the pool's answer (files, listings,
//! redirects), from the hot-file cache, and for errors and `OPTIONS`;
//! and putting what the pool read for the cache into it (the entry itself
//! is built by [`CachedFile::from_cacheable`]). Each path ends by
//! handing a head and a body to [`Conn::enter_sending`], or by sending a
//! job to the pool and waiting for its answer.

use super::*;

use crate::http::compressible::CodingSet;

impl Conn {
    /// Waits for the pool's answer to `exchange`'s job. A job stuck on a
    /// dead disk (or a hung network filesystem) cannot be cancelled, but
    /// the connection need not wait with it: like a response that makes
    /// no progress, it is closed after `send_timeout`, and the job's late
    /// answer is discarded (connection ids are never reused).
    pub(super) fn wait_for_pool(&mut self, ctx: &LoopContext, exchange: Exchange) {
        self.deadline = Some((ctx.now + ctx.config.limits.send_timeout, DeadlineKind::Send));
        self.phase = Phase::Resolving(exchange);
    }

    /// The metrics listener's pages: `GET /metrics` in the Prometheus
    /// text format, rendered from counters in memory, and the health
    /// probes `/healthz` and `/readyz` (see [`Conn::serve_health`]).
    pub(super) fn serve_metrics(&mut self, ctx: &LoopContext, request: Request, keep_alive: bool) {
        let readable = matches!(request.method, Method::Get | Method::Head);
        let page = path::split_query(&request.target).0;
        let health = match page {
            "/healthz" => Some(!ctx.control.draining()),
            "/readyz" => Some(ctx.control.ready()),
            _ => None,
        };
        let found = readable && (page == "/metrics" || health.is_some());
        let mut exchange = Exchange::new(request, keep_alive, ctx.now);
        if !found {
            return self.start_status(ctx, exchange, Status::NotFound, keep_alive);
        }
        if let Some(healthy) = health {
            return self.serve_health(ctx, exchange, healthy);
        }
        let open = ctx
            .control
            .open_connections
            .load(std::sync::atomic::Ordering::Relaxed);
        let body = ctx.metrics.render_prometheus(open, &ctx.cache).into_bytes();
        let head = ResponseHead {
            content_type: Some("text/plain; version=0.0.4; charset=utf-8"),
            content_length: body.len() as u64,
            cache_control: Some("no-store"),
            keep_alive,
            minor_version: exchange.request.minor_version,
            ..ResponseHead::new(Status::Ok)
        };
        let head_only = exchange.head_only;
        self.queue(ctx, &head, body, head_only);
        exchange.status = Status::Ok;
        self.enter_sending(ctx, exchange, Body::Complete);
    }

    /// A health probe's answer: 200 `ok` when `healthy`, else 503
    /// `draining` (`/healthz` once a graceful shutdown began) or
    /// `not ready` (`/readyz`). Never cached.
    fn serve_health(&mut self, ctx: &LoopContext, mut exchange: Exchange, healthy: bool) {
        let (status, body): (Status, &[u8]) = match (healthy, ctx.control.draining()) {
            (true, _) => (Status::Ok, b"ok\n"),
            (false, true) => (Status::ServiceUnavailable, b"draining\n"),
            (false, false) => (Status::ServiceUnavailable, b"not ready\n"),
        };
        let head = ResponseHead {
            content_type: Some("text/plain; charset=utf-8"),
            content_length: body.len() as u64,
            cache_control: Some("no-store"),
            keep_alive: exchange.keep_alive,
            minor_version: exchange.request.minor_version,
            ..ResponseHead::new(status)
        };
        let head_only = exchange.head_only;
        self.queue(ctx, &head, body.to_vec(), head_only);
        exchange.status = status;
        self.enter_sending(ctx, exchange, Body::Complete);
    }

    /// `OPTIONS` (for any target, including `*`): 204 with `Allow`.
    pub(super) fn start_options(&mut self, ctx: &LoopContext, mut exchange: Exchange) {
        exchange.status = Status::NoContent;
        // Rule headers matter here: a CORS preflight is an OPTIONS request.
        let mut applied = rule_headers(&ctx.config, &exchange);
        // `[http.cors]`: a preflight from an allowed origin (the origin
        // itself is answered for every response, in `enter_sending`).
        if let Some(cors) = &ctx.config.http.cors {
            let request = &exchange.request;
            if request.cors_preflight && cors.allow_origin(request.origin.as_deref()).is_some() {
                applied.headers.extend(cors.preflight_fields());
            }
        }
        let head = ResponseHead {
            allow: true,
            extra: &applied.headers,
            keep_alive: exchange.keep_alive,
            minor_version: exchange.request.minor_version,
            ..ResponseHead::new(Status::NoContent)
        };
        self.queue(ctx, &head, Vec::new(), true);
        self.enter_sending(ctx, exchange, Body::Complete);
    }

    /// Turns the pool's answer into a response.
    pub(super) fn start_response(
        &mut self,
        ctx: &LoopContext,
        mut exchange: Exchange,
        result: Result<Opened, OpenError>,
    ) {
        let applied = file_rules(&ctx.config, &exchange);
        match result {
            Ok(Opened::File(file)) => self.start_file(ctx, exchange, file, &applied),
            Ok(Opened::Fallback(file)) => {
                let applied = fallback_rules(&ctx.config, &exchange);
                self.start_file(ctx, exchange, file, &applied)
            }
            Ok(Opened::Redirect { location }) => {
                self.start_redirect(ctx, exchange, Status::MovedPermanently, &location)
            }
            Ok(Opened::Listing {
                body,
                json,
                etag,
                not_modified,
            }) => {
                let status = if not_modified {
                    Status::NotModified
                } else {
                    Status::Ok
                };
                exchange.status = status;
                let head = ResponseHead {
                    content_type: Some(if json { JSON_UTF8 } else { HTML_UTF8 }),
                    content_length: body.len() as u64,
                    etag: Some(&etag),
                    vary: Some("Accept"),
                    cache_control: applied.cache_control,
                    extra: &applied.headers,
                    keep_alive: exchange.keep_alive,
                    minor_version: exchange.request.minor_version,
                    ..ResponseHead::new(status)
                };
                let head_only = exchange.head_only || not_modified;
                self.queue(ctx, &head, body, head_only);
                self.enter_sending(ctx, exchange, Body::Complete);
            }
            Ok(Opened::Archive { kind, name, stream }) => {
                self.start_archive(ctx, exchange, kind, &name, stream, &applied)
            }
            Err(error) => {
                let status = match error {
                    OpenError::NotFound => Status::NotFound,
                    OpenError::Forbidden => Status::Forbidden,
                    OpenError::Io(e) => {
                        log::error!("{}: {e}", exchange.request.target);
                        Status::InternalServerError
                    }
                };
                // 404 and 403 keep the connection: they are ordinary answers.
                let keep_alive = exchange.keep_alive && status != Status::InternalServerError;
                self.start_status(ctx, exchange, status, keep_alive);
            }
        }
    }

    /// A redirect (a directory without its slash, `[[http.redirects]]`,
    /// `[http] canonical`): `status` with `Location` and a small page.
    pub(super) fn start_redirect(
        &mut self,
        ctx: &LoopContext,
        mut exchange: Exchange,
        status: Status,
        location: &str,
    ) {
        let applied = file_rules(&ctx.config, &exchange);
        exchange.status = status;
        let body = error_body(status);
        let head = ResponseHead {
            content_type: Some(HTML_UTF8),
            content_length: body.len() as u64,
            location: Some(location),
            extra: &applied.headers,
            keep_alive: exchange.keep_alive,
            minor_version: exchange.request.minor_version,
            ..ResponseHead::new(status)
        };
        self.queue(ctx, &head, body, exchange.head_only);
        self.enter_sending(ctx, exchange, Body::Complete);
    }

    /// Answers with a file: 200, 206, 304, or (through the error path) 412
    /// and 416, as the pool's plan says.
    pub(super) fn start_file(
        &mut self,
        ctx: &LoopContext,
        mut exchange: Exchange,
        file: FileResponse,
        applied: &rules::Applied,
    ) {
        let FileResponse {
            plan,
            mut meta,
            content_length,
            multipart_type,
            body,
            cacheable,
        } = file;
        if let (Some(mut cacheable), Some(key)) = (cacheable, exchange.cache_key.take()) {
            // Variants wharf may compute: this answer varies too.
            let offer = Self::offer_compression(ctx, &mut cacheable);
            meta.has_variants |= !offer.is_empty();
            Self::cache_insert(ctx, key, *cacheable, applied, offer, &exchange);
        }
        let status = match &plan {
            Plan::Full => Status::Ok,
            Plan::Partial(_) | Plan::Multipart(_) => Status::PartialContent,
            Plan::NotModified => Status::NotModified,
            Plan::PreconditionFailed => {
                let keep_alive = exchange.keep_alive;
                return self.start_status(ctx, exchange, Status::PreconditionFailed, keep_alive);
            }
            Plan::Unsatisfiable => {
                exchange.content_range = Some(range::unsatisfiable_content_range(meta.len));
                let keep_alive = exchange.keep_alive;
                return self.start_status(ctx, exchange, Status::RangeNotSatisfiable, keep_alive);
            }
        };
        let content_range = match &plan {
            Plan::Partial(r) => Some(range::content_range(r, meta.len)),
            _ => None,
        };
        let last_modified = http_date(meta.modified);
        let head = ResponseHead {
            content_type: Some(multipart_type.as_deref().unwrap_or(&meta.content_type)),
            content_length,
            content_range: content_range.as_deref(),
            keep_alive: exchange.keep_alive,
            minor_version: exchange.request.minor_version,
            ..file_head(ctx, &meta, &last_modified, applied, status)
        };
        self.out.clear();
        head.render(ctx.date.header_value(), &mut self.out.head);
        exchange.status = status;
        let body = match body {
            FileBody::Empty => Body::Complete,
            FileBody::InMemory(data) => {
                self.out.body = BodyBytes::Owned(data);
                Body::Complete
            }
            FileBody::Shared { bytes, start, len } => {
                self.out.body = BodyBytes::Shared(bytes, start..start + len);
                Body::Complete
            }
            FileBody::Stream { file, offset, len } => match body_strategy(len) {
                BodyStrategy::Sendfile(class) => match rustix::io::dup(&self.socket) {
                    Ok(socket) => {
                        self.socket_shared = true;
                        Body::Sendfile(Sendfile::new(file, socket, offset, len, class))
                    }
                    Err(_) => Self::start_stream(self.conn_ref, ctx, file, offset, len),
                },
                // Also a small body left on file: a range of a cached
                // descriptor.
                BodyStrategy::Chunked | BodyStrategy::InMemory => {
                    Self::start_stream(self.conn_ref, ctx, file, offset, len)
                }
            },
        };
        self.enter_sending(ctx, exchange, body);
    }

    /// A body streamed in chunks: the first read is requested at once.
    pub(super) fn start_stream(
        conn: ConnRef,
        ctx: &LoopContext,
        file: SharedFile,
        offset: u64,
        len: u64,
    ) -> Body {
        let mut stream = Stream::new(file, offset, len);
        Self::request_chunk(conn, ctx, &mut stream, Vec::new());
        Body::Stream(stream)
    }

    /// Puts a file the pool read whole (with its sidecars), or its
    /// descriptor, into the hot-file cache, with the 200 header fields of
    /// each representation rendered once; with slots for the codings of
    /// `offer` wharf may compute, the first of which `exchange`'s client
    /// wants is started at once.
    pub(super) fn cache_insert(
        ctx: &LoopContext,
        key: String,
        cacheable: Cacheable,
        applied: &rules::Applied,
        offer: CodingSet,
        exchange: &Exchange,
    ) {
        // A reload published a new configuration this loop has not picked up
        // yet: headers rendered now would follow the old rules.
        if !Arc::ptr_eq(&ctx.config, &ctx.control.config()) {
            return;
        }
        let generation = cacheable.generation;
        let mut entry = CachedFile::from_cacheable(cacheable, |meta| {
            let last_modified = http_date(meta.modified);
            let mut fields = String::with_capacity(256);
            file_head(ctx, meta, &last_modified, applied, Status::Ok).render_fields(&mut fields);
            fields.into_bytes()
        });
        if offer.is_empty() {
            return ctx.cache.insert(key, entry, generation);
        }
        Self::prepare_computed(&mut entry, offer);
        ctx.cache.insert(key.clone(), entry, generation);
        if let Some(entry) = ctx.cache.entry(&key) {
            let path = exchange.path.as_deref().unwrap_or("/");
            Self::start_compression(ctx, &key, path, &entry, &exchange.accept);
        }
    }

    /// Answers from the hot-file cache: no pool round trip, no filesystem
    /// call. A full 200 uses the header fields rendered at insert time.
    pub(super) fn start_cached(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        mut exchange: Exchange,
        entry: &CachedFile,
        plan: Plan,
    ) {
        let len = entry.body.len();
        if plan == Plan::Full && entry.file.is_none() {
            let head = &mut work.head_text;
            head.clear();
            http::response::render_start(Status::Ok, ctx.date.header_value(), head);
            self.out.clear();
            if self.out.head.capacity() == 0 {
                self.out.head = work.recycler.bytes();
            }
            self.out.head.extend_from_slice(head.as_bytes());
            self.out.head.extend_from_slice(&entry.head_200);
            head.clear();
            http::response::render_end(exchange.keep_alive, exchange.request.minor_version, head);
            self.out.head.extend_from_slice(head.as_bytes());
            if !exchange.head_only && len > 0 {
                self.out.body = BodyBytes::Shared(entry.body.clone(), 0..len);
            }
            exchange.status = Status::Ok;
            return self.enter_sending(ctx, exchange, Body::Complete);
        }
        let content_length = match &plan {
            Plan::Partial(range) => range.len(),
            Plan::Full => entry.len,
            _ => 0,
        };
        // A descriptor entry: the pool sends from the cached descriptor,
        // with no open and no stat.
        let body = match (&plan, &entry.file) {
            _ if exchange.head_only || content_length == 0 => FileBody::Empty,
            (Plan::Partial(range), None) => FileBody::Shared {
                bytes: entry.body.clone(),
                start: range.start as usize,
                len: range.len() as usize,
            },
            (Plan::Partial(range), Some(file)) => FileBody::Stream {
                file: file.clone(),
                offset: range.start,
                len: range.len(),
            },
            (Plan::Full, Some(file)) => FileBody::Stream {
                file: file.clone(),
                offset: 0,
                len: entry.len,
            },
            _ => FileBody::Empty,
        };
        let file = FileResponse {
            plan,
            meta: entry.meta(),
            content_length,
            multipart_type: None,
            body,
            cacheable: None,
        };
        let applied = file_rules(&ctx.config, &exchange);
        self.start_file(ctx, exchange, file, &applied);
    }

    /// Queues a head and an in-memory body (dropped for HEAD).
    pub(super) fn queue(
        &mut self,
        ctx: &LoopContext,
        head: &ResponseHead,
        body: Vec<u8>,
        head_only: bool,
    ) {
        self.out.clear();
        head.render(ctx.date.header_value(), &mut self.out.head);
        if !head_only {
            self.out.body = BodyBytes::Owned(body);
        }
    }

    /// Answers a request that could not be parsed. Protocol errors close
    /// the connection, since what follows on it cannot be trusted.
    pub(super) fn start_error(&mut self, ctx: &LoopContext, request: Request, status: Status) {
        let exchange = Exchange::new(request, false, ctx.now);
        self.start_status(ctx, exchange, status, false);
    }

    /// Answers with an error status, through the configured error page
    /// (`[http.error_pages]`, read on the pool) when there is one.
    pub(super) fn start_status(
        &mut self,
        ctx: &LoopContext,
        mut exchange: Exchange,
        status: Status,
        keep_alive: bool,
    ) {
        exchange.status = status;
        exchange.keep_alive = keep_alive;
        let page = exchange.path.as_ref().and_then(|_| {
            ctx.config
                .http
                .error_pages
                .iter()
                .find(|(code, _)| *code == status.code())
                .map(|(_, page)| page.clone())
        });
        match page {
            // Also for HEAD: the headers must be those of the GET answer.
            Some(page) => {
                ctx.io.error_page(self.conn_ref, page);
                self.wait_for_pool(ctx, exchange);
            }
            _ => self.finish_status(ctx, exchange, None),
        }
    }

    /// Sends an error status with the custom `page` or the built-in one.
    pub(super) fn finish_status(
        &mut self,
        ctx: &LoopContext,
        exchange: Exchange,
        page: Option<(Vec<u8>, Cow<'static, str>)>,
    ) {
        let status = exchange.status;
        let (body, content_type) = match page {
            Some((body, content_type)) => (body, content_type),
            None => (error_body(status), Cow::Borrowed(HTML_UTF8)),
        };
        let mut applied = rule_headers(&ctx.config, &exchange);
        // `WWW-Authenticate` of a 401, `Retry-After` of a 503 (auth.rs).
        if let Some((name, value)) = &exchange.auth_header {
            applied.headers.push((name, value));
        }
        let head = ResponseHead {
            content_type: Some(&content_type),
            content_length: body.len() as u64,
            content_range: exchange.content_range.as_deref(),
            allow: status == Status::MethodNotAllowed,
            extra: &applied.headers,
            keep_alive: exchange.keep_alive,
            minor_version: exchange.request.minor_version,
            ..ResponseHead::new(status)
        };
        let head_only = exchange.head_only;
        self.queue(ctx, &head, body, head_only);
        self.enter_sending(ctx, exchange, Body::Complete);
    }
}

/// The head fields every answer with a file's content shares: type,
/// length, validators, coding and the path's rule headers.
pub(super) fn file_head<'a>(
    ctx: &LoopContext,
    meta: &'a FileMeta,
    last_modified: &'a str,
    applied: &'a rules::Applied,
    status: Status,
) -> ResponseHead<'a> {
    ResponseHead {
        content_type: Some(&meta.content_type),
        content_length: meta.len,
        content_encoding: meta.encoding.map(Coding::token),
        etag: Some(&meta.etag),
        last_modified: Some(last_modified),
        // Not advertised when `max_ranges = 0` turned ranges off.
        accept_ranges: ctx.config.limits.max_ranges > 0,
        vary: meta.has_variants.then_some("Accept-Encoding"),
        cache_control: applied.cache_control,
        extra: &applied.headers,
        ..ResponseHead::new(status)
    }
}

/// The `[[http.rules]]` headers for an answer with a file's content, which
/// takes the configured `Cache-Control` unless a rule sets its own.
fn file_rules<'a>(config: &'a Config, exchange: &Exchange) -> rules::Applied<'a> {
    let path = exchange.path.as_deref().unwrap_or("/");
    rules::apply(
        &config.http.rules,
        config.http.cache_control.as_deref(),
        path,
    )
}

/// The `[[http.rules]]` headers for the `[http] fallback` file: those of
/// its own path (an app shell under `/assets/x` must not get the assets'
/// `immutable`), plus `Vary: Accept` when `Accept` decided that the
/// fallback answers (the request's last segment has an extension).
fn fallback_rules<'a>(config: &'a Config, exchange: &Exchange) -> rules::Applied<'a> {
    let fallback = config.http.fallback.as_deref().unwrap_or_default();
    let mut path = String::with_capacity(fallback.len() + 1);
    path.push('/');
    path.push_str(fallback);
    let mut applied = rules::apply(
        &config.http.rules,
        config.http.cache_control.as_deref(),
        &path,
    );
    let requested = exchange.path.as_deref().unwrap_or("/");
    if !crate::site::redirects::fallback_applies(requested, false) {
        applied.headers.push(("Vary", "Accept"));
    }
    applied
}

/// The `[[http.rules]]` headers for a response that carries no
/// `Cache-Control` of its own (errors, OPTIONS); none before the path
/// passed its checks.
fn rule_headers<'a>(config: &'a Config, exchange: &Exchange) -> rules::Applied<'a> {
    exchange
        .path
        .as_deref()
        .map(|path| rules::apply(&config.http.rules, None, path))
        .unwrap_or_default()
}
