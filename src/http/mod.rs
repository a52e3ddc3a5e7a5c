//! HTTP/1.1 protocol code, all of it pure: request-head parsing, response-head
//! rendering, status codes, dates, and the RFC 9110 rules that decide a file
//! response (validators and preconditions, ranges, content-coding
//! negotiation, and [`serve::plan`], which combines them), and Basic
//! credentials ([`basic_auth`]). Nothing here does IO.

pub mod basic_auth;
pub mod body_strategy;
pub mod compressible;
pub mod conditional;
pub mod date;
pub mod disposition;
pub mod encoding;
pub mod mime;
pub mod multipart;
pub mod negotiate;
pub mod range;
pub mod recycle;
pub mod request;
pub mod response;
pub mod serve;
pub mod status;

pub use request::{Method, ParseError, ParseLimits, Request};

/// Strips leading and trailing optional whitespace (SP / HTAB, RFC 9110
/// section 5.6.3) from a field value.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
pub use response::ResponseHead;
pub use status::Status;
