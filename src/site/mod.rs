//! The site's policy, all of it pure (no IO): which request targets name
//! something under the root ([`path`]), which headers a path gets
//! ([`rules`]), how a directory listing is rendered ([`listing`]), which paths
//! redirect ([`redirects`]) and which origins may read the site ([`cors`]).

pub mod listing;
pub mod path;
pub mod rules;

// Redirects, clean URLs and CORS (issue 17).
pub mod cors;
pub mod redirects;
