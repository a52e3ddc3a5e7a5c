//! Property tests (proptest) for the code that parses untrusted input: the
//! request parser, the path sanitiser and the range parser. On arbitrary
//! input they must never panic, and what they accept must be safe.

use std::path::{Component, Path};

use proptest::prelude::*;
use wharf::http::request::{parse, ParseLimits};
use wharf::site::path::{percent_encode_path, sanitize};

const LIMITS: ParseLimits = ParseLimits {
    max_head_bytes: 4096,
    max_target_bytes: 1024,
};

/// Request-target-like strings: mostly path characters, escapes and dots.
fn target() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("%2e".to_string()),
        Just("%2f".to_string()),
        Just("%5c".to_string()),
        Just("%00".to_string()),
        Just("%c0%ae".to_string()),
        Just("\\".to_string()),
        Just("?".to_string()),
        Just(":".to_string()),
        "[a-zA-Z0-9_~-]{1,8}",
        "%[0-9a-fA-F]{2}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&bytes, &LIMITS);
    }

    #[test]
    fn parser_accepts_each_valid_request_only_once_complete(
        path in "/[a-z0-9/._-]{0,40}",
        headers in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,40}"), 0..8),
    ) {
        let mut raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\n");
        for (name, value) in &headers {
            // Names that change framing or connection semantics are tested
            // elsewhere; here they would make the request invalid (so would
            // a second Host).
            let lower = name.to_ascii_lowercase();
            if lower == "content-length" || lower == "transfer-encoding" || lower == "host" {
                continue;
            }
            raw.push_str(&format!("{name}: {}\r\n", value.trim()));
        }
        raw.push_str("\r\n");
        let bytes = raw.as_bytes();
        let (request, used) = parse(bytes, &LIMITS).unwrap().expect("complete");
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(request.target, path);
        // Every strict prefix is incomplete, never an error or a request.
        for cut in 0..bytes.len() {
            prop_assert_eq!(parse(&bytes[..cut], &LIMITS), Ok(None), "prefix {}", cut);
        }
    }

    #[test]
    fn sanitized_paths_stay_under_the_root(target in target()) {
        if let Ok(safe) = sanitize(&target) {
            let relative = Path::new(&safe.relative);
            prop_assert!(!safe.relative.starts_with('/'));
            prop_assert!(!safe.relative.contains('\\'));
            prop_assert!(!safe.relative.chars().any(char::is_control));
            // Only plain names: no root, no `.`, no `..`.
            for component in relative.components() {
                prop_assert!(matches!(component, Component::Normal(_)), "{:?}", component);
            }
            let root = Path::new("/srv/www");
            prop_assert!(root.join(relative).starts_with(root));
        }
    }

    #[test]
    fn sanitize_never_panics_on_arbitrary_strings(target in any::<String>()) {
        let _ = sanitize(&target);
    }

    #[test]
    fn encoded_names_round_trip(name in "[^/\\\\\\x00-\\x1f\\x7f-\\u{9f}]{1,30}") {
        // Any name a Linux directory can hold and a link can carry: `:`,
        // trailing dots and spaces included (only `.` and `..` are not
        // names).
        prop_assume!(name != "." && name != "..");
        let encoded = percent_encode_path(&format!("/{name}"));
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        prop_assert_eq!(sanitize(&encoded).unwrap().relative, name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ranges_are_sorted_disjoint_and_inside_the_file(
        header in "(bytes|BYTES|items)=([0-9]{0,4}-[0-9]{0,4}, ?){0,6}[0-9]{0,4}-[0-9]{0,4}",
        file_len in 0u64..5000,
    ) {
        use wharf::http::range::{parse_range, RangeRequest};
        if let RangeRequest::Satisfiable(ranges) = parse_range(header.as_bytes(), file_len, 4) {
            prop_assert!(!ranges.is_empty() && ranges.len() <= 4);
            for pair in ranges.windows(2) {
                // Sorted, and neither overlapping nor adjacent (coalesced).
                prop_assert!(pair[0].end + 1 < pair[1].start);
            }
            for range in &ranges {
                prop_assert!(range.start <= range.end && range.end < file_len);
            }
        }
    }

    #[test]
    fn range_parser_never_panics(header in proptest::collection::vec(any::<u8>(), 0..256), file_len in any::<u64>()) {
        let _ = wharf::http::range::parse_range(&header, file_len, 8);
    }
}

// ---------------------------------------------------------------------------
// Behind a proxy: the PROXY header and the X-Forwarded-For walk.

mod proxy {
    use std::net::IpAddr;

    use proptest::prelude::*;
    use wharf::http::forwarded::{client_address, TrustedProxies};
    use wharf::http::proxy_protocol::{parse, Parsed, V1_MAX_BYTES, V2_MAX_BYTES};

    /// Bytes that often begin like a header, then go anywhere.
    fn header_like() -> impl Strategy<Value = Vec<u8>> {
        let start = prop_oneof![
            Just(b"PROXY TCP4 ".to_vec()),
            Just(b"PROXY TCP6 ".to_vec()),
            Just(b"PROXY UNKNOWN".to_vec()),
            Just(b"\r\n\r\n\0\r\nQUIT\n".to_vec()),
            Just(Vec::new()),
        ];
        (start, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(mut a, b)| {
            a.extend(b);
            a
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Never panics; a header is never longer than the input or the
        /// bounds; and the answer for a prefix is consistent with the
        /// whole: once Done or Invalid, more bytes change nothing, and
        /// before that, every prefix needs more.
        #[test]
        fn proxy_header_parse_is_incremental(bytes in header_like()) {
            let whole = parse(&bytes);
            if let Parsed::Done { len, .. } = whole {
                prop_assert!(len <= bytes.len() && len <= V1_MAX_BYTES.max(V2_MAX_BYTES));
            }
            let mut decided = None;
            for n in 0..=bytes.len() {
                let answer = parse(&bytes[..n]);
                match decided {
                    Some(first) => prop_assert_eq!(answer, first, "prefix {}", n),
                    None if answer != Parsed::NeedMore => decided = Some(answer),
                    None => {}
                }
            }
            prop_assert_eq!(decided.unwrap_or(Parsed::NeedMore), whole);
        }

        /// The walk never panics, and names either the peer or an address
        /// that appears in the header.
        #[test]
        fn forwarded_walk_names_the_peer_or_a_listed_address(
            fields in proptest::collection::vec("[0-9a-f.:, \\[\\]]{0,40}", 0..4),
            peer_trusted in any::<bool>(),
        ) {
            let trusted = TrustedProxies::parse(&["10.0.0.0/8", "fd00::/8"]).unwrap();
            let peer: IpAddr = if peer_trusted { "10.0.0.1" } else { "192.0.2.1" }.parse().unwrap();
            let bytes: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
            let client = client_address(peer, &trusted, bytes.into_iter());
            if !peer_trusted {
                prop_assert_eq!(client, peer);
            } else if client != peer {
                prop_assert!(listed(&fields).contains(&client), "{} from {:?}", client, fields);
            }
        }
    }

    /// Every address the fields spell out, loosely: bare, bracketed, or with a
    /// port.
    fn listed(fields: &[String]) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for element in fields.iter().flat_map(|f| f.split(',')) {
            let e = element.trim_matches([' ', '\t']);
            let bare = e
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .map(|(a, _)| a);
            let v4 = e.split_once(':').map(|(a, _)| a);
            for text in [Some(e), bare, v4].into_iter().flatten() {
                if let Ok(addr) = text.parse::<IpAddr>() {
                    out.push(match addr {
                        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
                        v4 => v4,
                    });
                }
            }
        }
        out
    }
}
