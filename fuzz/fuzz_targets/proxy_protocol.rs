//! Fuzzes the PROXY header parser: never panics, a header is never longer
//! than its input, and the answer for the whole input agrees with the
//! first decided answer of its prefixes (incremental parsing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::http::proxy_protocol::{parse, Parsed};

fuzz_target!(|bytes: &[u8]| {
    let whole = parse(bytes);
    if let Parsed::Done { len, .. } = whole {
        assert!(len <= bytes.len());
    }
    let decided = (0..=bytes.len())
        .map(|n| parse(&bytes[..n]))
        .find(|answer| *answer != Parsed::NeedMore)
        .unwrap_or(Parsed::NeedMore);
    assert_eq!(decided, whole);
});
