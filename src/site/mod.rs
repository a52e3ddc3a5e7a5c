//! The site's policy, all of it pure (no IO): which request targets name
//! something under the root ([`path`]), which headers a path gets
//! ([`rules`]), which paths need a password ([`htpasswd`]), how a directory
//! listing is rendered ([`listing`]), what a directory download is
//! ([`archive`], in the [`tar`] format), which paths redirect
//! ([`redirects`]) and which origins may read the site ([`cors`]).

pub mod archive;
pub mod htpasswd;
pub mod listing;
pub mod path;
pub mod rules;
pub mod tar;

// Redirects, clean URLs and CORS (issue 17).
pub mod cors;
pub mod redirects;
