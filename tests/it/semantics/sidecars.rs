//! Precompressed sidecars (`.br`, `.gz`, `.zst`): negotiation, each
//! variant's own `ETag`, `Vary` on 206 and 304, and turning them off.

use super::*;

const APP_JS: &[u8] = b"console.log('identity');\n";
const APP_JS_GZ: &[u8] = b"GZ-BYTES-of-app.js";
const APP_JS_BR: &[u8] = b"BR-BYTES-of-app.js!!";
const LIB_JS: &[u8] = b"export const lib = 1;\n";
const LIB_JS_ZST: &[u8] = b"ZSTD-BYTES";
const LIB_JS_GZ: &[u8] = b"GZ-of-lib";

fn precompressed_site() -> tempfile::TempDir {
    let dir = site();
    let root = dir.path();
    write(root, "app.js", APP_JS);
    write(root, "app.js.gz", APP_JS_GZ);
    write(root, "app.js.br", APP_JS_BR);
    write(root, "lib.js", LIB_JS);
    write(root, "lib.js.zst", LIB_JS_ZST);
    write(root, "lib.js.gz", LIB_JS_GZ);
    dir
}

fn assert_js_type(response: &Response) {
    let content_type = response.header("Content-Type").unwrap_or("");
    assert!(
        (content_type.starts_with("text/javascript")
            || content_type.starts_with("application/javascript"))
            && content_type.contains("charset="),
        "the .js file's type, not the sidecar's: {content_type}"
    );
}

#[test]
fn precompressed_sidecars_are_negotiated() {
    // From the disk by the pool, and from the hot-file cache by the loop
    // (every request after a file's first is a hit there).
    for config in ["[cache]\nenabled = false\n", ""] {
        negotiate_precompressed(config);
    }
}

fn negotiate_precompressed(config: &str) {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), config);
    // (path, Accept-Encoding, expected Content-Encoding, expected bytes)
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);
    let cases: &[Case] = &[
        ("/app.js", Some("gzip"), Some("gzip"), APP_JS_GZ),
        ("/app.js", Some("br, gzip"), Some("br"), APP_JS_BR),
        ("/app.js", Some("gzip, br"), Some("br"), APP_JS_BR),
        (
            "/app.js",
            Some("gzip;q=1, br;q=0.5"),
            Some("gzip"),
            APP_JS_GZ,
        ),
        ("/app.js", Some("br;q=0, gzip"), Some("gzip"), APP_JS_GZ),
        ("/app.js", Some("x-gzip"), Some("gzip"), APP_JS_GZ),
        ("/app.js", None, None, APP_JS),
        ("/app.js", Some(""), None, APP_JS),
        ("/app.js", Some("identity"), None, APP_JS),
        ("/app.js", Some("gzip;q=0, br;q=0"), None, APP_JS),
        ("/app.js", Some("*"), Some("br"), APP_JS_BR),
        ("/app.js", Some("*;q=0.5, br;q=0"), Some("gzip"), APP_JS_GZ),
        // Issue 16: a coding rated below 1 beats an unnamed identity...
        (
            "/app.js",
            Some("deflate, gzip;q=0.5"),
            Some("gzip"),
            APP_JS_GZ,
        ),
        (
            "/app.js",
            Some("br;q=0.2, gzip;q=0.3"),
            Some("gzip"),
            APP_JS_GZ,
        ),
        ("/lib.js", Some("zstd;q=0.1"), Some("zstd"), LIB_JS_ZST),
        // ...but not an explicit identity rated higher.
        ("/app.js", Some("gzip;q=0.5, identity"), None, APP_JS),
        (
            "/app.js",
            Some("gzip;q=0.5, identity;q=0.4"),
            Some("gzip"),
            APP_JS_GZ,
        ),
        ("/app.js", Some("zstd"), None, APP_JS),
        ("/app.js", Some("deflate"), None, APP_JS),
        ("/lib.js", Some("zstd"), Some("zstd"), LIB_JS_ZST),
        ("/lib.js", Some("zstd, gzip"), Some("zstd"), LIB_JS_ZST),
        ("/lib.js", Some("gzip"), Some("gzip"), LIB_JS_GZ),
        ("/lib.js", Some("br"), None, LIB_JS),
    ];
    for &(path, accept, coding, bytes) in cases {
        let headers: Vec<(&str, &str)> = accept
            .map(|a| vec![("Accept-Encoding", a)])
            .unwrap_or_default();
        let response = get(&server, path, &headers);
        check_full(&response, bytes);
        assert_eq!(
            response.header("Content-Encoding"),
            coding,
            "{path} Accept-Encoding: {accept:?} with {config:?}"
        );
        assert_js_type(&response);
        assert_eq!(
            response.header("Vary"),
            Some("Accept-Encoding"),
            "{path} {accept:?}: Vary on every response of a file with variants"
        );
        assert_eq!(response.header("Accept-Ranges"), Some("bytes"));
    }
}

#[test]
fn each_precompressed_variant_has_its_own_etag() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "");
    let identity = etag_of(&get(&server, "/app.js", &[]));
    let gzip = etag_of(&get(&server, "/app.js", &[("Accept-Encoding", "gzip")]));
    let br = etag_of(&get(&server, "/app.js", &[("Accept-Encoding", "br")]));
    assert_ne!(identity, gzip);
    assert_ne!(identity, br);
    assert_ne!(gzip, br);
    for tag in [&identity, &gzip, &br] {
        assert!(tag.starts_with('"'), "strong: {tag}");
    }
    // The tag is stable for the same selection.
    assert_eq!(
        gzip,
        etag_of(&get(&server, "/app.js", &[("Accept-Encoding", "gzip")]))
    );
    // A cache holding the identity copy does not get a 304 for gzip...
    let response = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &identity)],
    );
    check_full(&response, APP_JS_GZ);
    // ...but one holding both gets a 304 naming the gzip variant.
    let both = format!("{identity}, {gzip}");
    let response = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &both)],
    );
    check_not_modified(&response);
    assert_eq!(response.header("ETag"), Some(gzip.as_str()));
}

#[test]
fn variant_206_and_304_carry_vary_and_the_variant_etag() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "");
    let full = get(&server, "/app.js", &[("Accept-Encoding", "gzip")]);
    check_full(&full, APP_JS_GZ);
    let gzip_tag = etag_of(&full);

    // A range applies to the representation sent (the .gz bytes).
    let partial = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-3")],
    );
    check(&partial, 206);
    assert_eq!(
        partial.header("Content-Range"),
        Some(format!("bytes 0-3/{}", APP_JS_GZ.len()).as_str())
    );
    assert_eq!(partial.body, &APP_JS_GZ[..4]);
    assert_eq!(partial.header("Content-Encoding"), Some("gzip"));
    assert_eq!(partial.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(partial.header("ETag"), Some(gzip_tag.as_str()));
    assert_js_type(&partial);

    // If-Range with the variant's tag honours the range.
    let partial = get(
        &server,
        "/app.js",
        &[
            ("Accept-Encoding", "gzip"),
            ("Range", "bytes=-2"),
            ("If-Range", &gzip_tag),
        ],
    );
    check(&partial, 206);
    assert_eq!(partial.body, &APP_JS_GZ[APP_JS_GZ.len() - 2..]);

    for method in ["GET", "HEAD"] {
        let not_modified = fetch(
            &server,
            method,
            "/app.js",
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &gzip_tag)],
        );
        check_not_modified(&not_modified);
        assert_eq!(not_modified.header("Vary"), Some("Accept-Encoding"));
        assert_eq!(not_modified.header("ETag"), Some(gzip_tag.as_str()));
        assert_eq!(
            not_modified.header("Cache-Control"),
            full.header("Cache-Control")
        );
        assert_eq!(
            not_modified.header("Last-Modified"),
            full.header("Last-Modified")
        );
    }

    // The identity representation's 304 carries Vary too.
    let identity_tag = etag_of(&get(&server, "/app.js", &[]));
    let not_modified = get(&server, "/app.js", &[("If-None-Match", &identity_tag)]);
    check_not_modified(&not_modified);
    assert_eq!(not_modified.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(not_modified.header("ETag"), Some(identity_tag.as_str()));

    // A 416 on the variant is computed against the variant's length.
    let too_far = format!("bytes={}-", APP_JS_GZ.len());
    let response = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", &too_far)],
    );
    check(&response, 416);
    assert_eq!(
        response.header("Content-Range"),
        Some(format!("bytes */{}", APP_JS_GZ.len()).as_str())
    );
}

#[test]
fn files_without_sidecars_have_no_vary() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "");
    for accept in [None, Some("gzip, br, zstd"), Some("*")] {
        let headers: Vec<(&str, &str)> = accept
            .map(|a| vec![("Accept-Encoding", a)])
            .unwrap_or_default();
        let response = get(&server, "/hello.txt", &headers);
        check_full(&response, HELLO);
        assert!(response.header("Vary").is_none(), "{}", response.head);
        assert!(response.header("Content-Encoding").is_none());
    }
}

#[test]
fn precompressed_can_be_turned_off() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "[http]\nprecompressed = false\n");
    for accept in ["gzip", "br, gzip", "*", "zstd"] {
        for path in ["/app.js", "/lib.js"] {
            let response = get(&server, path, &[("Accept-Encoding", accept)]);
            check(&response, 200);
            let expected = if path == "/app.js" { APP_JS } else { LIB_JS };
            assert_eq!(response.body, expected);
            assert!(response.header("Content-Encoding").is_none());
            assert!(response.header("Vary").is_none(), "{}", response.head);
        }
    }
}
