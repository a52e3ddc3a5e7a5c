//! Files and their headers: body, length, type by extension, `Date`,
//! `Last-Modified`, empty files, and HEAD matching GET.

use super::*;

use std::time::{SystemTime, UNIX_EPOCH};

/// `Sun, 06 Nov 1994 08:49:37 GMT` as Unix seconds.
const KNOWN_MTIME: u64 = 784_111_777;
const KNOWN_MTIME_TEXT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an IMF-fixdate strictly (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// including the weekday, into Unix seconds.
fn parse_imf_fixdate(text: &str) -> Option<u64> {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if text.len() != 29 {
        return None;
    }
    let parts: Vec<&str> = text.split(' ').collect();
    let [weekday, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let digits = |s: &str, n: usize| -> Option<i64> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let weekday = weekday.strip_suffix(',')?;
    let day = digits(day, 2)?;
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let year = digits(year, 4)?;
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms[..] else {
        return None;
    };
    let (h, m, s) = (digits(h, 2)?, digits(m, 2)?, digits(s, 2)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if DAYS[(days + 4).rem_euclid(7) as usize] != weekday {
        return None;
    }
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn get_file_has_body_and_headers() {
    let site = site();
    set_mtime(
        &site.path().join("hello.txt"),
        UNIX_EPOCH + Duration::from_secs(KNOWN_MTIME),
    );
    let server = TestServer::start(site.path(), "");
    let before = unix_now();
    let response = server.get("/hello.txt");
    let after = unix_now();

    assert!(
        response.head.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        response.head
    );
    assert_eq!(response.body, HELLO);
    assert_eq!(response.header("Content-Length"), Some("13"));
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.header("Server"),
        Some(concat!("wharf/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(response.header("Last-Modified"), Some(KNOWN_MTIME_TEXT));
    let date = response.header("Date").expect("a Date header");
    assert!(date.ends_with(" GMT"), "{date}");
    let date = parse_imf_fixdate(date).unwrap_or_else(|| panic!("not IMF-fixdate: {date}"));
    assert!(
        date + 2 >= before && date <= after + 2,
        "Date {date} not near now ({before}..{after})"
    );
}

#[test]
fn content_types_by_extension() {
    let site = site();
    write(site.path(), "blob.zzqunknown", b"??");
    write(site.path(), "noext", b"raw");
    write(site.path(), "style.css", b"a{}");
    write(site.path(), "pic.png", b"\x89PNG");
    let server = TestServer::start(site.path(), "");
    let cases: &[(&str, &[u8], &str)] = &[
        ("/hello.txt", HELLO, "text/plain; charset=utf-8"),
        ("/index.html", INDEX, "text/html; charset=utf-8"),
        ("/data.json", DATA, "application/json; charset=utf-8"),
        ("/style.css", b"a{}", "text/css; charset=utf-8"),
        ("/pic.png", b"\x89PNG", "image/png"),
        ("/blob.zzqunknown", b"??", "application/octet-stream"),
        ("/noext", b"raw", "application/octet-stream"),
    ];
    for (path, body, content_type) in cases {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body, *body, "{path}");
        assert_eq!(
            response.header("Content-Type"),
            Some(*content_type),
            "{path}"
        );
        assert_eq!(
            response.header("Content-Length"),
            Some(body.len().to_string().as_str()),
            "{path}"
        );
        let last_modified = response.header("Last-Modified").expect("Last-Modified");
        assert!(
            parse_imf_fixdate(last_modified).is_some(),
            "{path}: {last_modified}"
        );
    }
}

#[test]
fn empty_file_is_served_with_zero_length() {
    let site = site();
    write(site.path(), "empty.txt", b"");
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    send(&mut stream, "GET /empty.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let response = next_response(&mut stream, false);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Length"), Some("0"));
    assert!(response.body.is_empty());
    // The connection is still in sync.
    send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(next_response(&mut stream, false).body, HELLO);
}

#[test]
fn head_matches_get_without_a_body() {
    let site = site();
    let big = pattern(200_000, 7);
    write(site.path(), "big.bin", &big);
    let server = TestServer::start(site.path(), "");
    // (path, expected status): a small file, a streamed file, a listing,
    // a redirect, and a 404.
    let cases = [
        ("/hello.txt", 200),
        ("/big.bin", 200),
        ("/empty/", 200),
        ("/sub", 301),
        ("/missing.txt", 404),
    ];
    let mut stream = server.connect();
    for (path, status) in cases {
        // HEAD then GET on the same connection: if HEAD sent any body bytes,
        // the GET's response would not parse right after the HEAD's head.
        send(
            &mut stream,
            &format!(
                "HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\nGET {path} HTTP/1.1\r\nHost: t\r\n\r\n"
            ),
        );
        let head = next_response(&mut stream, true);
        let get = next_response(&mut stream, false);
        assert!(
            get.head.starts_with("HTTP/1.1 "),
            "GET after HEAD {path}: {:?}",
            get.head
        );
        assert_eq!(head.status, status, "HEAD {path}");
        assert_eq!(get.status, status, "GET {path}");
        let without_date = |r: &Response| {
            r.headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(without_date(&head), without_date(&get), "{path}");
        assert_eq!(
            head.header("Content-Length"),
            Some(get.body.len().to_string().as_str()),
            "{path}"
        );
        assert!(head.header("Date").is_some());
        assert_keeps_alive(&head);
        assert_keeps_alive(&get);
    }
    // The streamed file's GET body was intact.
    send(&mut stream, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(next_response(&mut stream, false).body == big);
}
