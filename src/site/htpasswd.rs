//! Password files and the rules that use them (`auth` in `[[http.rules]]`):
//! parsing Apache's `htpasswd` format, `user:hash` per line, and the
//! compiled rule a request path is checked against. Pure code: the file is
//! read at start-up and on reload (`config`), and hashes are verified on the
//! IO pool, never on a loop.
//!
//! Only bcrypt hashes (`$2y$`, what `htpasswd -B` writes, and `$2b$`,
//! `$2a$`) are accepted: Apache's other formats (`$apr1$` MD5, `{SHA}`,
//! `crypt`, plain text) are fast to brute-force, and a file that holds one
//! refuses start-up, naming the line, rather than leaving that user unable
//! to log in without a word.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::rules::Glob;

/// The users of one password file and their bcrypt hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// Verified instead when the user is unknown, so that the answer takes
    /// as long as for a known user with a wrong password: the first user's
    /// hash (the same cost as the others, in a file written by one tool),
    /// or [`NO_USERS_HASH`].
    dummy: String,
}

/// The hash verified for unknown users of an empty file: a bcrypt hash
/// (cost 10) of a random password nobody knows; its result is ignored.
const NO_USERS_HASH: &str = "$2b$10$n8ALJAwPULyBu0FBGodbCOqlFAXB0KHiM944Va/HsmeW36OO7JuMO";

/// Why a password file was refused: the line (from 1) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtpasswdError {
    pub line: usize,
    pub problem: String,
}

impl fmt::Display for HtpasswdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl Htpasswd {
    /// Parses a password file: `user:hash` lines; blank lines and lines
    /// starting with `#` are skipped; each line is trimmed of surrounding
    /// whitespace (and the `\r` of CRLF files).
    ///
    /// # Errors
    /// The first bad line: no `:`, an empty user name or one with control
    /// characters, a user listed twice (which entry wins would be a
    /// guess), a hash that is not bcrypt, or a malformed bcrypt hash.
    pub fn parse(text: &str) -> Result<Htpasswd, HtpasswdError> {
        let mut users = HashMap::new();
        let mut first_line = HashMap::new();
        let mut dummy = None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let problem = |problem: String| HtpasswdError {
                line: number,
                problem,
            };
            let Some((user, hash)) = line.split_once(':') else {
                return Err(problem("expected user:hash".to_string()));
            };
            if user.is_empty() {
                return Err(problem("empty user name".to_string()));
            }
            if user.chars().any(char::is_control) {
                return Err(problem("control character in the user name".to_string()));
            }
            check_bcrypt(hash).map_err(problem)?;
            if let Some(first) = first_line.insert(user.to_string(), number) {
                return Err(problem(format!(
                    "user '{user}' is listed twice (first on line {first})"
                )));
            }
            dummy.get_or_insert_with(|| hash.to_string());
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            dummy: dummy.unwrap_or_else(|| NO_USERS_HASH.to_string()),
        })
    }

    /// The hash of `user`'s password, if `user` is listed.
    pub fn hash_of(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// The hash to verify for a user who is not listed (the result is
    /// ignored): see [`Htpasswd::dummy`].
    pub fn dummy_hash(&self) -> &str {
        &self.dummy
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Neither the names nor the hashes: a hash is an offline guessing target.
impl fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Htpasswd({} users)", self.users.len())
    }
}

/// Checks that `hash` is a bcrypt hash wharf can verify:
/// `$2y$` / `$2b$` / `$2a$`, a two-digit cost from 04 to 31, `$`, then 22
/// characters of salt and 31 of hash in bcrypt's base64 alphabet.
fn check_bcrypt(hash: &str) -> Result<(), String> {
    let Some(rest) = ["$2y$", "$2b$", "$2a$"]
        .iter()
        .find_map(|prefix| hash.strip_prefix(prefix))
    else {
        return Err("not a bcrypt hash (only $2y$/$2b$/$2a$ are supported)".to_string());
    };
    let malformed = || "malformed bcrypt hash (expected $2y$NN$ and 53 characters)".to_string();
    let (cost, salt_and_hash) = rest.split_once('$').ok_or_else(malformed)?;
    if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let cost: u32 = cost.parse().map_err(|_| malformed())?;
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is out of range (4 to 31)"));
    }
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    if salt_and_hash.len() != 53 || !salt_and_hash.bytes().all(alphabet) {
        return Err(malformed());
    }
    Ok(())
}

/// A compiled `auth` rule: the paths it protects, the realm its challenge
/// names, and the users of its password file (read when the configuration
/// was loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRule {
    pub pattern: Glob,
    /// The `WWW-Authenticate` value of this rule's `401`.
    pub challenge: String,
    /// The password file, as configured (resolved against the config
    /// file's directory), for messages.
    pub file: PathBuf,
    pub users: Arc<Htpasswd>,
}

/// The rule protecting `path` (the decoded request path with its leading
/// `/`), if any: the last matching one, as later `[[http.rules]]` override
/// earlier ones. Returns its index, which names it in the memo of recent
/// checks.
pub fn protecting<'a>(rules: &'a [AuthRule], path: &str) -> Option<(usize, &'a AuthRule)> {
    rules
        .iter()
        .enumerate()
        .rev()
        .find(|(_, rule)| rule.pattern.matches(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bcrypt of "pw", cost 5.
    const HASH: &str = "$2y$05$/NqIY39I2KoZ0W3GeNkwu.XvL3oS4ST6gPKWetJQ78dLMb2M4Ms9y";

    #[test]
    fn parses_users_comments_and_blank_lines() {
        let text = format!(
            "# staff\n\nalice:{HASH}\r\n  bob:{}  \n\t\n#carol:{HASH}\n",
            HASH.replace("$2y$", "$2b$")
        );
        let file = Htpasswd::parse(&text).unwrap();
        assert_eq!(file.len(), 2);
        assert_eq!(file.hash_of("alice"), Some(HASH));
        assert!(file.hash_of("bob").unwrap().starts_with("$2b$05$"));
        assert_eq!(file.hash_of("carol"), None);
        assert_eq!(file.hash_of("Alice"), None);
        assert_eq!(file.dummy_hash(), HASH);
        let empty = Htpasswd::parse("# nobody yet\n").unwrap();
        assert!(empty.is_empty());
        assert!(check_bcrypt(empty.dummy_hash()).is_ok());
    }

    #[test]
    fn bad_lines_are_named() {
        let not_bcrypt = "not a bcrypt hash (only $2y$/$2b$/$2a$ are supported)";
        let malformed = "malformed bcrypt hash";
        let table = [
            ("alice\n", 1, "expected user:hash"),
            (":$2y$05$x\n", 1, "empty user name"),
            (
                "# ok\n\nalice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n",
                3,
                not_bcrypt,
            ),
            ("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 1, not_bcrypt),
            ("alice:plaintext\n", 1, not_bcrypt),
            (
                "alice:$2x$05$abcdefghijklmnopqrstuuK4u9gF1Rxn7aNO3D1PjbBa1fZ8rOsSq\n",
                1,
                not_bcrypt,
            ),
            (
                "alice:$2y$5$abcdefghijklmnopqrstuuK4u9gF1Rxn7aNO3D1PjbBa1fZ8rOsSq\n",
                1,
                malformed,
            ),
            ("alice:$2y$05$short\n", 1, malformed),
            (
                "alice:$2y$05$abcdefghijklmnopqrstuuK4u9gF1Rxn7aNO3D1PjbBa1fZ8rOsS!\n",
                1,
                malformed,
            ),
            (
                "alice:$2y$03$abcdefghijklmnopqrstuuK4u9gF1Rxn7aNO3D1PjbBa1fZ8rOsSq\n",
                1,
                "cost 3",
            ),
            (
                "alice:$2y$32$abcdefghijklmnopqrstuuK4u9gF1Rxn7aNO3D1PjbBa1fZ8rOsSq\n",
                1,
                "cost 32",
            ),
        ];
        for (text, line, problem) in table {
            let error = Htpasswd::parse(text).unwrap_err();
            assert_eq!(error.line, line, "{text:?}");
            assert!(error.problem.contains(problem), "{text:?}: {error}");
        }
        let twice = format!("alice:{HASH}\nbob:{HASH}\nalice:{HASH}\n");
        let error = Htpasswd::parse(&twice).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3: user 'alice' is listed twice (first on line 1)"
        );
    }

    #[test]
    fn debug_shows_no_hash() {
        let file = Htpasswd::parse(&format!("alice:{HASH}\n")).unwrap();
        let shown = format!("{file:?}");
        assert_eq!(shown, "Htpasswd(1 users)");
    }

    #[test]
    fn the_last_matching_rule_protects() {
        let users = Arc::new(Htpasswd::parse("").unwrap());
        let rule = |pattern: &str, realm: &str| AuthRule {
            pattern: Glob::new(pattern).unwrap(),
            challenge: realm.to_string(),
            file: PathBuf::from("/x"),
            users: users.clone(),
        };
        let rules = [
            rule("/private/**", "staff"),
            rule("/private/admin/**", "admins"),
        ];
        let found = |path| protecting(&rules, path).map(|(i, r)| (i, r.challenge.as_str()));
        assert_eq!(found("/private/a.txt"), Some((0, "staff")));
        assert_eq!(found("/private/"), Some((0, "staff")));
        assert_eq!(found("/private/admin/x"), Some((1, "admins")));
        assert_eq!(found("/public/a.txt"), None);
        // Not the directory itself without its slash: that is a redirect
        // to `/private/`, which is protected.
        assert_eq!(found("/private"), None);
    }
}
