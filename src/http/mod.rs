//! HTTP/1.1 protocol code, all of it pure: request-head parsing, response-head
//! rendering, status codes, dates, and the RFC 9110 rules that decide a file
//! response (validators and preconditions, ranges, content-coding
//! negotiation, and [`serve::plan`], which combines them). Nothing here
//! does IO.

pub mod conditional;
pub mod date;
pub mod encoding;
pub mod range;
pub mod request;
pub mod response;
pub mod serve;
pub mod status;

pub use request::{Method, ParseError, ParseLimits, Request};
pub use response::ResponseHead;
pub use status::Status;
