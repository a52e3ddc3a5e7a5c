//! Password checks (`auth` rules): bcrypt, which costs tens of
//! milliseconds of CPU by design, so it runs on the pool's password lanes
//! (`wharf-io-auth-N`, see [`super::pool`]), never on an event loop, and
//! never on the lanes that serve files.

use crate::http::basic_auth::Secret;

/// One check, as the loop sends it: the hash it looked up (or the file's
/// dummy hash for a user who is not listed) and the password.
#[derive(Debug)]
pub struct PasswordCheck {
    pub hash: String,
    pub password: Secret,
    /// Whether the user is listed. When not, the dummy hash is verified
    /// all the same, so the answer takes as long as a wrong password for a
    /// listed user would (which users exist does not show in the timing),
    /// and its result is ignored.
    pub known_user: bool,
}

/// Whether the password matches. bcrypt compares the hashes in constant
/// time. A hash the crate cannot read (the config checked its format, so
/// this should not happen) is a failed check.
pub fn verify(check: &PasswordCheck) -> bool {
    let matched = bcrypt::verify(check.password.as_bytes(), &check.hash).unwrap_or(false);
    matched && check.known_user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_and_ignores_the_dummy() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let check = |password: &str, known_user| {
            verify(&PasswordCheck {
                hash: hash.clone(),
                password: Secret::new(password.as_bytes().to_vec()),
                known_user,
            })
        };
        assert!(check("right", true));
        assert!(!check("wrong", true));
        assert!(!check("right", false));
        let broken = PasswordCheck {
            hash: "$2y$05$not-a-hash".to_string(),
            password: Secret::new(b"x".to_vec()),
            known_user: true,
        };
        assert!(!verify(&broken));
    }
}
