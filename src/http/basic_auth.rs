//! HTTP Basic authentication (RFC 7617), the protocol half: decoding the
//! `Authorization: Basic ...` credentials a client sends and rendering the
//! `WWW-Authenticate` challenge of a `401`. Pure code; the password check
//! itself (bcrypt) runs on the IO pool, never here.
//!
//! Secrets never reach a log or a panic message: the raw header value and
//! the password are kept in [`Secret`], whose `Debug` says only how long
//! it is, and whose bytes are zeroed when it is dropped.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use zeroize::Zeroize as _;

/// Bytes that must not be shown: an `Authorization` value or a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Appends a repeated header's value, joined with `, ` as RFC 9110
    /// section 5.3 joins field lines (which makes a repeated
    /// `Authorization` invalid, as it should be).
    pub fn append(&mut self, more: &[u8]) {
        let mut joined = Vec::with_capacity(self.0.len() + 2 + more.len());
        joined.extend_from_slice(&self.0);
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(more);
        self.0.zeroize();
        self.0 = joined;
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// What a `Basic` `Authorization` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user-id: valid UTF-8 (the challenge says `charset="UTF-8"`),
    /// without control characters. Not secret: it is logged.
    pub user: String,
    pub password: Secret,
}

/// Longest decoded `user:password` accepted. bcrypt reads 72 bytes of a
/// password; anything much longer is not a person typing.
pub const MAX_CREDENTIALS_BYTES: usize = 4096;

/// Base64 as RFC 7617 uses it (RFC 4648 section 4), with the padding made
/// optional: some clients leave it out, and it carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes an `Authorization` field value, `Basic <base64(user:password)>`
/// (the scheme is case-insensitive, RFC 9110 section 11.1). `None` for
/// anything else: another scheme, bad base64, no `:`, an empty user, a user
/// that is not UTF-8 or has control characters, a control character in
/// the password (RFC 7617 section 2 forbids both), or a value too long.
pub fn parse_basic(value: &[u8]) -> Option<Credentials> {
    let value = super::trim_ows(value);
    let scheme_len = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(scheme_len);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let token = super::trim_ows(rest);
    if token.is_empty() || token.len() > MAX_CREDENTIALS_BYTES * 4 / 3 + 4 {
        return None;
    }
    let mut decoded = Secret::new(BASE64.decode(token).ok()?);
    let bytes = &mut decoded.0;
    let colon = bytes.iter().position(|&b| b == b':')?;
    let is_control = |b: &u8| *b < 0x20 || *b == 0x7f;
    if colon == 0 || bytes.iter().any(is_control) {
        return None;
    }
    let user = std::str::from_utf8(&bytes[..colon]).ok()?.to_string();
    let password = Secret::new(bytes[colon + 1..].to_vec());
    Some(Credentials { user, password })
}

/// Whether `realm` can be sent inside the challenge's quoted string as it
/// is: printable ASCII (non-ASCII bytes in a header value are obsolete,
/// RFC 9110 section 5.5), without `"` or `\` (so no escaping is needed).
pub fn valid_realm(realm: &str) -> Result<(), String> {
    if realm.is_empty() || realm.len() > 200 {
        return Err("must be 1 to 200 characters".to_string());
    }
    if realm
        .chars()
        .any(|c| !c.is_ascii() || c.is_ascii_control() || c == '"' || c == '\\')
    {
        return Err("must be printable ASCII without '\"' or '\\'".to_string());
    }
    Ok(())
}

/// The `WWW-Authenticate` value of a `401` for `realm` (checked by
/// [`valid_realm`]). `charset="UTF-8"` (RFC 7617 section 2.1) asks
/// browsers to send non-ASCII user names and passwords as UTF-8, which is
/// what `htpasswd` hashed.
pub fn challenge(realm: &str) -> String {
    format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn decodes_user_and_password() {
        let c = parse_basic(&basic("alice:s3cret")).unwrap();
        assert_eq!(c.user, "alice");
        assert_eq!(c.password.as_bytes(), b"s3cret");
        // The first colon splits: a password may contain more.
        let c = parse_basic(&basic("bob:a:b:c")).unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_bytes()),
            ("bob", &b"a:b:c"[..])
        );
        // An empty password is a password.
        let c = parse_basic(&basic("carol:")).unwrap();
        assert_eq!(c.password.as_bytes(), b"");
        // UTF-8 user names (charset="UTF-8").
        let c = parse_basic(&basic("zoë:pässword")).unwrap();
        assert_eq!(c.user, "zoë");
    }

    #[test]
    fn scheme_spacing_and_padding() {
        // RFC 7617's example.
        let c = parse_basic(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(c.user, "Aladdin");
        assert_eq!(c.password.as_bytes(), b"open sesame");
        assert!(parse_basic(b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").is_some());
        assert!(parse_basic(b"BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==  ").is_some());
        assert!(parse_basic(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ").is_some());
    }

    #[test]
    fn refuses_everything_else() {
        let long = format!("u:{}", "x".repeat(MAX_CREDENTIALS_BYTES + 10));
        let table: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"Basic".to_vec(),
            b"Basic ".to_vec(),
            b"Bearer abc.def".to_vec(),
            b"Digest username=\"a\"".to_vec(),
            b"Basic !!!!".to_vec(),
            b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==, Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_vec(),
            b"BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_vec(),
            basic("no-colon"),
            basic(":password-without-user"),
            basic("new\nline:x"),
            basic("user:tab\there"),
            basic(&long),
            {
                let mut v = b"Basic ".to_vec();
                let not_utf8 = [0xff, 0xfe, b':', b'x'];
                v.extend(
                    base64::engine::general_purpose::STANDARD
                        .encode(not_utf8)
                        .bytes(),
                );
                v
            },
        ];
        for value in table {
            assert!(
                parse_basic(&value).is_none(),
                "{:?} was accepted",
                String::from_utf8_lossy(&value)
            );
        }
    }

    #[test]
    fn secrets_do_not_show() {
        let c = parse_basic(&basic("alice:hunter2")).unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
        let mut header = Secret::new(basic("alice:hunter2"));
        header.append(b"more");
        assert!(!format!("{header:?}").contains("Basic"));
    }

    #[test]
    fn realms_and_the_challenge() {
        assert!(valid_realm("wharf").is_ok());
        assert!(valid_realm("Staff only (2026)").is_ok());
        for bad in ["", "a\"b", "a\\b", "a\nb", "Zoë", &"x".repeat(201)] {
            assert!(valid_realm(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            challenge("wharf"),
            "Basic realm=\"wharf\", charset=\"UTF-8\""
        );
    }
}
