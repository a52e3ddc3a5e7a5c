//! The site's policy, all of it pure (no IO): which request targets name
//! something under the root ([`path`]), which headers a path gets
//! ([`rules`]), which paths need a password ([`htpasswd`]), and how a
//! directory listing is rendered ([`listing`]).

pub mod htpasswd;
pub mod listing;
pub mod path;
pub mod rules;
