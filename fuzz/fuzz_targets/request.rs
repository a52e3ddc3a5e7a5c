//! Fuzzes the request-head parser: any bytes, any limits; never panics, and
//! a parsed request never claims more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::http::request::{parse, ParseLimits};

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits {
        max_head_bytes: 16 * 1024,
        max_target_bytes: 8 * 1024,
    };
    if let Ok(Some((_, used))) = parse(data, &limits) {
        assert!(used <= data.len());
    }
});
