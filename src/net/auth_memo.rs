//! The memo of recent password checks, one per event loop: a page load
//! over a keep-alive connection (and the next page loads) pays bcrypt once,
//! not once per asset.
//!
//! Entries are keyed by a SHA-256 digest of the rule (its index and its
//! password file) and of the whole `Authorization` value, so neither the
//! header nor the password is kept, and looking one up compares digests,
//! not secrets. Successes are remembered for [`SUCCESS_LIFETIME`] (up to
//! [`SUCCESS_ENTRIES`]), failures for [`FAILURE_LIFETIME`] (up to
//! [`FAILURE_ENTRIES`]: a client retrying the same wrong credentials costs
//! no bcrypt; a guesser sends new ones each time, which the memo cannot
//! and does not try to help with). Failures have their own table, so a
//! flood of them never evicts a success. When full, the oldest entry goes.
//!
//! Everything is forgotten when the loop's configuration changes (a
//! SIGHUP reload, which re-reads the password files): a removed user or a
//! changed password takes effect with the reload.
//!
//! Per loop, so no lock: a browser's connections spread over `workers`
//! loops may pay bcrypt once per loop.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::config::Config;
use crate::site::htpasswd::AuthRule;

/// How long a success is remembered.
pub const SUCCESS_LIFETIME: Duration = Duration::from_secs(300);
/// Most successes remembered per loop.
pub const SUCCESS_ENTRIES: usize = 1024;
/// How long a failure is remembered.
pub const FAILURE_LIFETIME: Duration = Duration::from_secs(10);
/// Most failures remembered per loop.
pub const FAILURE_ENTRIES: usize = 256;

/// The memo key of a request's credentials under one rule.
pub type Key = [u8; 32];

/// The key of `authorization` (the raw header value) under rule number
/// `index` of the configuration.
pub fn key(index: usize, rule: &AuthRule, authorization: &[u8]) -> Key {
    let mut hasher = Sha256::new();
    hasher.update((index as u64).to_le_bytes());
    let file = rule.file.as_os_str().as_encoded_bytes();
    hasher.update((file.len() as u64).to_le_bytes());
    hasher.update(file);
    hasher.update(authorization);
    hasher.finalize().into()
}

/// One loop's memo.
pub struct AuthMemo {
    /// The configuration the entries were made under.
    config: Option<Arc<Config>>,
    successes: Recent,
    failures: Recent,
}

impl Default for AuthMemo {
    fn default() -> AuthMemo {
        AuthMemo {
            config: None,
            successes: Recent::new(SUCCESS_ENTRIES, SUCCESS_LIFETIME),
            failures: Recent::new(FAILURE_ENTRIES, FAILURE_LIFETIME),
        }
    }
}

impl AuthMemo {
    /// What was found out about `key` recently under `config`: `Some(true)`
    /// for a success, `Some(false)` for a failure, `None` if nothing (or
    /// only under an older configuration, which is then forgotten).
    pub fn recall(&mut self, config: &Arc<Config>, key: &Key, now: Instant) -> Option<bool> {
        if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            self.successes.clear();
            self.failures.clear();
            self.config = Some(config.clone());
            return None;
        }
        if self.successes.contains(key, now) {
            Some(true)
        } else if self.failures.contains(key, now) {
            Some(false)
        } else {
            None
        }
    }

    /// Remembers a check's result, if it was made under the configuration
    /// the memo holds now (a check sent before a reload is not).
    pub fn remember(&mut self, config: &Arc<Config>, key: Key, success: bool, now: Instant) {
        if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            return;
        }
        if success {
            self.successes.insert(key, now);
        } else {
            self.failures.insert(key, now);
        }
    }
}

/// A bounded table of keys with expiry times; the oldest goes first.
struct Recent {
    expires: HashMap<Key, Instant>,
    /// Every key of `expires` once, oldest first.
    order: VecDeque<Key>,
    capacity: usize,
    lifetime: Duration,
}

impl Recent {
    fn new(capacity: usize, lifetime: Duration) -> Recent {
        Recent {
            expires: HashMap::new(),
            order: VecDeque::new(),
            capacity,
            lifetime,
        }
    }

    fn contains(&self, key: &Key, now: Instant) -> bool {
        self.expires.get(key).is_some_and(|&at| now < at)
    }

    fn insert(&mut self, key: Key, now: Instant) {
        let at = now + self.lifetime;
        if let Some(expiry) = self.expires.get_mut(&key) {
            *expiry = at;
            return;
        }
        while self.expires.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.expires.remove(&oldest);
                }
                None => break,
            }
        }
        self.expires.insert(key, at);
        self.order.push_back(key);
    }

    fn clear(&mut self) {
        self.expires.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<Config> {
        let files = NoFiles;
        Arc::new(
            Config::load(None, &crate::config::Overrides::default(), &files)
                .expect("the defaults load"),
        )
    }

    struct NoFiles;
    impl crate::config::Files for NoFiles {
        fn is_file(&self, _: &std::path::Path) -> bool {
            false
        }
        fn read_to_string(&self, _: &std::path::Path) -> std::io::Result<String> {
            Err(std::io::ErrorKind::NotFound.into())
        }
        fn canonical_dir(&self, path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
            Ok(path.to_path_buf())
        }
    }

    fn k(n: u8) -> Key {
        [n; 32]
    }

    #[test]
    fn remembers_until_expiry_and_forgets_on_reload() {
        let (a, b) = (config(), config());
        let mut memo = AuthMemo::default();
        let now = Instant::now();
        assert_eq!(memo.recall(&a, &k(1), now), None);
        memo.remember(&a, k(1), true, now);
        memo.remember(&a, k(2), false, now);
        assert_eq!(memo.recall(&a, &k(1), now), Some(true));
        assert_eq!(memo.recall(&a, &k(2), now), Some(false));
        assert_eq!(memo.recall(&a, &k(3), now), None);
        assert_eq!(memo.recall(&a, &k(2), now + FAILURE_LIFETIME), None);
        assert_eq!(memo.recall(&a, &k(1), now + FAILURE_LIFETIME), Some(true));
        assert_eq!(memo.recall(&a, &k(1), now + SUCCESS_LIFETIME), None);
        // Another configuration: everything is forgotten, and a result
        // checked under the old one is not remembered.
        memo.remember(&a, k(4), true, now);
        assert_eq!(memo.recall(&b, &k(4), now), None);
        memo.remember(&a, k(5), true, now);
        assert_eq!(memo.recall(&b, &k(5), now), None);
        assert_eq!(memo.recall(&a, &k(4), now), None);
    }

    #[test]
    fn bounded_oldest_first_and_failures_never_evict_successes() {
        let a = config();
        let mut memo = AuthMemo::default();
        let now = Instant::now();
        memo.recall(&a, &[0; 32], now);
        let key = |i: usize| {
            let mut key = [0; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            key
        };
        for i in 0..SUCCESS_ENTRIES + 10 {
            memo.remember(&a, key(i), true, now);
        }
        assert_eq!(memo.successes.expires.len(), SUCCESS_ENTRIES);
        assert_eq!(memo.successes.order.len(), SUCCESS_ENTRIES);
        assert_eq!(memo.recall(&a, &key(0), now), None);
        assert_eq!(memo.recall(&a, &key(9), now), None);
        assert_eq!(memo.recall(&a, &key(10), now), Some(true));
        for i in 0..FAILURE_ENTRIES * 4 {
            memo.remember(&a, key(100_000 + i), false, now);
        }
        assert_eq!(memo.failures.expires.len(), FAILURE_ENTRIES);
        assert_eq!(memo.recall(&a, &key(10), now), Some(true));
    }

    #[test]
    fn keys_differ_by_rule_and_by_header() {
        use crate::site::htpasswd::Htpasswd;
        use crate::site::rules::Glob;
        let rule = |file: &str| AuthRule {
            pattern: Glob::new("/**").unwrap(),
            challenge: String::new(),
            file: file.into(),
            users: Arc::new(Htpasswd::parse("").unwrap()),
        };
        let (one, two) = (rule("/a"), rule("/b"));
        let header = b"Basic YTpi";
        assert_eq!(key(0, &one, header), key(0, &one, header));
        assert_ne!(key(0, &one, header), key(1, &one, header));
        assert_ne!(key(0, &one, header), key(0, &two, header));
        assert_ne!(key(0, &one, header), key(0, &one, b"Basic YTpj"));
    }
}
