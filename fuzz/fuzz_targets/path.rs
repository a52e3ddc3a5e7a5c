//! Fuzzes the path sanitiser: never panics, and an accepted path is made of
//! plain names only (no control character, no backslash), so joined to the
//! root it stays under the root.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use wharf::site::path::sanitize;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(safe) = sanitize(target) {
        // The rules that stay: no control character, no backslash.
        assert!(!safe
            .relative
            .contains(|c: char| c.is_control() || c == '\\'));
        let relative = Path::new(&safe.relative);
        assert!(relative
            .components()
            .all(|c| matches!(c, Component::Normal(_))));
        assert!(Path::new("/srv/www").join(relative).starts_with("/srv/www"));
    }
});
