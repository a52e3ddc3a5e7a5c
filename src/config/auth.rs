//! The `auth` and `realm` keys of `[[http.rules]]`: which paths need a
//! password, and the password files, read (through [`Files`]) and parsed
//! when the configuration is loaded, at start-up and on every reload. A
//! password file that cannot be read or has a bad line refuses the
//! configuration like any bad key, with one line naming the rule, the file
//! and the line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Files;
use crate::http::basic_auth;
use crate::site::htpasswd::{AuthRule, Htpasswd};
use crate::site::rules::Glob;

/// The realm a challenge names when the rule gives none.
pub const DEFAULT_REALM: &str = "wharf";

/// An `auth` rule as the file states it, before its password file is read.
#[derive(Debug, Clone)]
pub(super) struct AuthSpec {
    /// How messages name the rule (`[[http.rules]] #2`).
    name: String,
    pattern: Glob,
    file: PathBuf,
    realm: String,
}

/// The `auth` / `realm` keys of each `[[http.rules]]` table (already
/// checked to be an array of tables with a valid `match` by
/// [`super::file`]'s `parse_rules`). `auth` is resolved against `base`, the
/// config file's directory, like every path in the file.
pub(super) fn parse_specs(value: &toml::Value, base: &Path) -> Result<Vec<AuthSpec>, String> {
    let mut specs = Vec::new();
    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
        let name = format!("[[http.rules]] #{}", i + 1);
        let Some(table) = item.as_table() else {
            continue;
        };
        let auth = match table.get("auth") {
            None => None,
            Some(toml::Value::String(path)) if !path.is_empty() => Some(base.join(path)),
            Some(v) => {
                return Err(format!(
                    "{name}: auth: expected the path of an htpasswd file, got {v}"
                ))
            }
        };
        let realm = match table.get("realm") {
            None => None,
            Some(toml::Value::String(realm)) => {
                basic_auth::valid_realm(realm).map_err(|e| format!("{name}: realm: {e}"))?;
                Some(realm.clone())
            }
            Some(v) => return Err(format!("{name}: realm: expected a string, got {v}")),
        };
        let Some(file) = auth else {
            if realm.is_some() {
                return Err(format!("{name}: realm: needs auth (the htpasswd file)"));
            }
            continue;
        };
        let Some(toml::Value::String(pattern)) = table.get("match") else {
            continue; // `parse_rules` refused this already.
        };
        let pattern = Glob::new(pattern).map_err(|e| format!("{name}: match: {e}"))?;
        specs.push(AuthSpec {
            name,
            pattern,
            file,
            realm: realm.unwrap_or_else(|| DEFAULT_REALM.to_string()),
        });
    }
    Ok(specs)
}

/// Reads and parses each rule's password file. A file named by several
/// rules is read once per rule: the files are small, and each rule then
/// owns what it checks against.
pub(super) fn load(specs: &[AuthSpec], files: &dyn Files) -> Result<Arc<[AuthRule]>, String> {
    let mut rules = Vec::with_capacity(specs.len());
    for spec in specs {
        let file = spec.file.display();
        let text = files
            .read_to_string(&spec.file)
            .map_err(|e| format!("{}: auth: cannot read {file}: {e}", spec.name))?;
        let users =
            Htpasswd::parse(&text).map_err(|e| format!("{}: auth: {file} {e}", spec.name))?;
        rules.push(AuthRule {
            pattern: spec.pattern.clone(),
            challenge: basic_auth::challenge(&spec.realm),
            file: spec.file.clone(),
            users: Arc::new(users),
        });
    }
    Ok(Arc::from(rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};
    use std::collections::HashMap;
    use std::io;

    /// Files in memory.
    struct Fake(HashMap<PathBuf, String>);

    impl Files for Fake {
        fn is_file(&self, path: &Path) -> bool {
            self.0.contains_key(path)
        }
        fn read_to_string(&self, path: &Path) -> io::Result<String> {
            self.0
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn canonical_dir(&self, path: &Path) -> io::Result<PathBuf> {
            Ok(path.to_path_buf())
        }
    }

    const HASH: &str = "$2y$05$/NqIY39I2KoZ0W3GeNkwu.XvL3oS4ST6gPKWetJQ78dLMb2M4Ms9y";

    fn load(config: &str, htpasswd: &str) -> Result<Config, String> {
        let files = Fake(HashMap::from([
            (PathBuf::from("/etc/wharf/wharf.toml"), config.to_string()),
            (PathBuf::from("/etc/wharf/users"), htpasswd.to_string()),
        ]));
        Config::load(
            Some(Path::new("/etc/wharf/wharf.toml")),
            &Overrides::default(),
            &files,
        )
        .map_err(|e| e.0)
    }

    #[test]
    fn rules_with_auth_load_their_file() {
        let config = load(
            "[[http.rules]]\nmatch = \"*.css\"\ncache_control = \"no-store\"\n\
             [[http.rules]]\nmatch = \"/private/**\"\nauth = \"users\"\nrealm = \"Staff\"\n\
             [[http.rules]]\nmatch = \"/x/**\"\nauth = \"/etc/wharf/users\"\n",
            &format!("# users\nalice:{HASH}\n"),
        )
        .unwrap();
        let rules = &config.http.auth_rules;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].file, Path::new("/etc/wharf/users"));
        assert_eq!(
            rules[0].challenge,
            "Basic realm=\"Staff\", charset=\"UTF-8\""
        );
        assert_eq!(
            rules[1].challenge,
            "Basic realm=\"wharf\", charset=\"UTF-8\""
        );
        assert_eq!(rules[0].users.hash_of("alice"), Some(HASH));
        assert!(rules[0].pattern.matches("/private/a"));
        // The header rules are all there too, the auth ones included.
        assert_eq!(config.http.rules.len(), 3);
    }

    #[test]
    fn problems_are_one_line_naming_rule_file_and_line() {
        let rule = "[[http.rules]]\nmatch = \"/private/**\"\nauth = \"users\"\n";
        let table = [
            (
                rule.to_string(),
                format!("# users\n\nalice:{HASH}\nbob:$apr1$xyz$abc\n"),
                "/etc/wharf/wharf.toml: [[http.rules]] #1: auth: /etc/wharf/users line 4: \
                 not a bcrypt hash (only $2y$/$2b$/$2a$ are supported)",
            ),
            (
                rule.replace("users", "nope"),
                String::new(),
                "/etc/wharf/wharf.toml: [[http.rules]] #1: auth: cannot read /etc/wharf/nope: ",
            ),
            (
                "[[http.rules]]\nmatch = \"/a\"\nrealm = \"x\"\n".to_string(),
                String::new(),
                "[[http.rules]] #1: realm: needs auth",
            ),
            (
                format!("{rule}realm = \"a\\\"b\"\n"),
                String::new(),
                "[[http.rules]] #1: realm: must be printable ASCII",
            ),
            (
                "[[http.rules]]\nmatch = \"/a\"\nauth = 1\n".to_string(),
                String::new(),
                "[[http.rules]] #1: auth: expected the path of an htpasswd file, got 1",
            ),
            (
                "[[http.rules]]\nmatch = \"/a\"\nauth = \"\"\n".to_string(),
                String::new(),
                "[[http.rules]] #1: auth: expected the path",
            ),
            (
                "[[http.rules]]\nmatch = \"/a\"\npassword = \"x\"\n".to_string(),
                String::new(),
                "password: unknown key (expected one of: match, cache_control, headers, auth, realm)",
            ),
        ];
        for (config, htpasswd, expected) in table {
            let error = load(&config, &htpasswd).unwrap_err();
            assert!(error.contains(expected), "{config:?} gave {error:?}");
            assert!(!error.contains('\n'), "{error:?} is not one line");
        }
    }
}
