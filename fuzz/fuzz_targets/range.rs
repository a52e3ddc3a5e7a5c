//! Fuzzes the Range parser: never panics, and satisfiable ranges are sorted,
//! disjoint, within the file and at most `max_ranges` of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::http::range::{parse_range, RangeRequest};

fuzz_target!(|input: (u32, &[u8])| {
    let (len, header) = input;
    let file_len = u64::from(len);
    if let RangeRequest::Satisfiable(ranges) = parse_range(header, file_len, 16) {
        assert!(!ranges.is_empty() && ranges.len() <= 16);
        for pair in ranges.windows(2) {
            assert!(pair[0].end + 1 < pair[1].start);
        }
        for range in &ranges {
            assert!(range.start <= range.end && range.end < file_len);
        }
    }
});
