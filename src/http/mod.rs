//! HTTP/1.1 protocol code, all of it pure: request-head parsing, response-head
//! rendering, status codes and the cached `Date` header. Nothing here does IO.

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
