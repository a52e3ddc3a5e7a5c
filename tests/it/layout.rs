//! The layout's one-way dependencies, checked from the source: every
//! top-level module of `src/` may use only the modules below it in
//! [`LAYERS`], so no two modules can import each other. A `use` (or any
//! `crate::` path in code, comments aside) that points up fails here with
//! the file and line.

use std::path::{Path, PathBuf};

/// Bottom to top. A module may use those before it in this list; modules
/// on the same line are independent of each other.
const LAYERS: &[&[&str]] = &[
    &["http"],
    &["site"],
    &["config"],
    &["offloop", "fault"],
    &["cache"],
    &["ops"],
    &["disk"],
    &["net"],
    &["server"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(line number, module named)` for each `crate::MODULE` in code.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((n + 1, name));
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        // The crate root and the binary may use everything.
        if top == "lib" || top == "main" {
            continue;
        }
        let own =
            layer_of(&top).unwrap_or_else(|| panic!("src/{top} is in no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may reach anywhere.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for (line, used) in crate_paths(code) {
            checked += 1;
            if used == top {
                continue;
            }
            let Some(theirs) = layer_of(&used) else {
                continue; // a crate-root item such as `crate::Config`
            };
            if theirs >= own {
                upward.push(format!(
                    "src/{}:{line}: {top} uses {used}",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate:: paths found: is src/ there?"
    );
    assert!(
        upward.is_empty(),
        "uses that point up or sideways:\n{}",
        upward.join("\n")
    );
}
