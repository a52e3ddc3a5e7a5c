//! `Accept-Encoding` negotiation (RFC 9110 section 12.5.3) for serving
//! precompressed sidecar files (`file.br`, `file.zst`, `file.gz`).
//!
//! Pure code: no IO, no allocation. The result is a fixed-size
//! [`Preference`] listing the acceptable codings best first.
//!
//! # Interpretation choices
//!
//! - No header: no coding is offered, only identity. (RFC 9110 would allow
//!   any coding, but a client that does not ask for compression gets none.)
//! - An empty header value: identity only.
//! - Elements are `coding [ OWS ";" OWS "q=" qvalue ]` with OWS around
//!   them; tokens and the `q` name are case-insensitive; `x-gzip` means
//!   gzip. Empty elements are skipped.
//! - A malformed element is ignored as if absent: an invalid token, a
//!   qvalue outside RFC 9110's grammar (`0` / `1` with at most three
//!   decimals, so `1.0001`, `0.5000`, `.5`, `2`, `-1` and `q = 1` are
//!   invalid), any parameter other than one `q`, or a trailing `;`.
//! - `q=0` refuses a coding. A coding not listed takes the weight of `*`
//!   if present, else it is refused.
//! - If a coding (or `*`, or `identity`) is listed more than once, the first
//!   valid element wins.
//! - Acceptable codings are ordered by weight, ties broken by the server's
//!   preference br > zstd > gzip.
//! - identity's weight is its own element's, else that of `*`, else 1; it
//!   is acceptable unless that weight is 0 (`identity;q=0`, or `*;q=0`
//!   without an `identity` element). Codings are listed even when identity
//!   has a higher weight; [`Preference::identity_q`] lets a caller that
//!   cares compare.
//! - Choosing what to send ([`Preference::choose`]): the best-rated
//!   available coding, whatever its weight (`deflate, gzip;q=0.5` gets
//!   gzip, as from nginx, Caddy and static-web-server), unless the client
//!   rates identity higher with an `identity` element of its own
//!   (`gzip;q=0.5, identity` gets the plain file). An unlisted identity's
//!   implicit 1, and a weight it takes from `*`, do not outrank a coding
//!   the client named: `*` speaks for the codings not listed, and a client
//!   that lists a coding at all means it can decode it. A tie with an
//!   explicit identity goes to the coding (smaller bytes, same rating).

use super::negotiate;

/// A content coding wharf can serve from a precompressed sidecar file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Coding {
    Brotli,
    Zstd,
    Gzip,
}

impl Coding {
    /// All codings, in server preference order (best first).
    pub const ALL: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    /// The sidecar file extension, without the dot: `br`, `zst`, `gz`.
    pub fn extension(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zst",
            Coding::Gzip => "gz",
        }
    }

    /// The file a sidecar at `path` belongs to (`a.css` for `a.css.br`),
    /// if `path` names a sidecar of any coding.
    pub fn original_of(path: &str) -> Option<&str> {
        Coding::ALL.iter().find_map(|coding| {
            path.strip_suffix(coding.extension())
                .and_then(|rest| rest.strip_suffix('.'))
        })
    }

    /// The content-coding token for `Content-Encoding`: `br`, `zstd`, `gzip`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    fn index(self) -> usize {
        match self {
            Coding::Brotli => 0,
            Coding::Zstd => 1,
            Coding::Gzip => 2,
        }
    }
}

/// The outcome of negotiation: acceptable codings best first, plus whether
/// the unencoded representation is acceptable. Weights are in thousandths
/// (`q=0.5` is 500, `q=1` is 1000).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Preference {
    /// Acceptable codings, best first; only the first `len` are meaningful.
    order: [Coding; 3],
    len: usize,
    /// Weight of each coding, indexed by `Coding::index`.
    q: [u16; 3],
    identity_q: u16,
    /// Whether identity's weight comes from an `identity` element.
    identity_explicit: bool,
}

impl Preference {
    /// The acceptable codings, best first (never a refused one).
    pub fn iter(&self) -> impl Iterator<Item = Coding> + '_ {
        self.order.iter().take(self.len).copied()
    }

    /// The best acceptable coding, if any.
    pub fn best(&self) -> Option<Coding> {
        self.iter().next()
    }

    /// Whether no coding is acceptable.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `coding` is acceptable (weight above 0).
    pub fn accepts(&self, coding: Coding) -> bool {
        self.q(coding) > 0
    }

    /// The weight of `coding`, 0 to 1000.
    pub fn q(&self, coding: Coding) -> u16 {
        self.q[coding.index()]
    }

    /// The weight of identity (no coding), 0 to 1000.
    pub fn identity_q(&self) -> u16 {
        self.identity_q
    }

    /// Whether the unencoded representation is acceptable. When it is not
    /// and no sidecar exists, a server may answer 406 or (as most do) send
    /// identity anyway.
    pub fn identity_acceptable(&self) -> bool {
        self.identity_q > 0
    }

    /// Which of the `available` sidecar codings to serve, or `None` for the
    /// plain file: the one the client rates highest (ties go to the first
    /// in `available`, so pass them in [`Coding::ALL`] order), unless the
    /// client's own `identity` element rates the plain file higher (see
    /// the module documentation). The pool (for a file read from disk) and
    /// the loop (for a cached one) both decide with this, so they cannot
    /// disagree.
    pub fn choose(&self, available: impl IntoIterator<Item = Coding>) -> Option<Coding> {
        let mut best: Option<(u16, Coding)> = None;
        for coding in available {
            let q = self.q(coding);
            if q > 0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, coding));
            }
        }
        best.filter(|&(q, _)| !self.identity_explicit || q >= self.identity_q)
            .map(|(_, coding)| coding)
    }
}

/// What an element names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    Coding(Coding),
    Identity,
    Star,
    Other,
}

/// Negotiates from the `Accept-Encoding` value (`None` if the header is
/// absent). See the module documentation for the rules.
pub fn preference(accept_encoding: Option<&[u8]>) -> Preference {
    let Some(value) = accept_encoding else {
        return Preference {
            order: Coding::ALL,
            len: 0,
            q: [0; 3],
            identity_q: 1000,
            identity_explicit: false,
        };
    };

    // First valid weight seen for each name.
    let mut explicit: [Option<u16>; 3] = [None; 3];
    let mut identity: Option<u16> = None;
    let mut star: Option<u16> = None;
    for element in negotiate::elements(value) {
        // A malformed element is ignored as if absent.
        let (Some(name), Some(q)) = (parse_name(element.name), element.sole_weight()) else {
            continue;
        };
        let slot = match name {
            Name::Coding(coding) => &mut explicit[coding.index()],
            Name::Identity => &mut identity,
            Name::Star => &mut star,
            Name::Other => continue,
        };
        slot.get_or_insert(q);
    }

    let mut q = [0u16; 3];
    for coding in Coding::ALL {
        q[coding.index()] = explicit[coding.index()].or(star).unwrap_or(0);
    }
    let mut order = Coding::ALL;
    // Stable sort keeps server preference among equal weights.
    order.sort_by_key(|c| std::cmp::Reverse(q[c.index()]));
    let len = order.iter().filter(|c| q[c.index()] > 0).count();
    Preference {
        order,
        len,
        q,
        identity_q: identity.or(star).unwrap_or(1000),
        identity_explicit: identity.is_some(),
    }
}

fn parse_name(name: &[u8]) -> Option<Name> {
    if name == b"*" {
        return Some(Name::Star);
    }
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let is = |token: &str| name.eq_ignore_ascii_case(token.as_bytes());
    Some(if is("br") {
        Name::Coding(Coding::Brotli)
    } else if is("zstd") {
        Name::Coding(Coding::Zstd)
    } else if is("gzip") || is("x-gzip") {
        Name::Coding(Coding::Gzip)
    } else if is("identity") {
        Name::Identity
    } else {
        Name::Other
    })
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::{Brotli as BR, Gzip as GZ, Zstd as ZS};

    fn codings(p: &Preference) -> Vec<Coding> {
        p.iter().collect()
    }

    #[test]
    fn choose_picks_the_best_available_sidecar_unless_identity_is_rated_higher() {
        // (Accept-Encoding, sidecars available, expected choice)
        let all = [BR, ZS, GZ];
        let cases: &[(Option<&str>, &[Coding], Option<Coding>)] = &[
            (None, &all, None),
            (Some("gzip"), &all, Some(GZ)),
            (Some("gzip, br"), &all, Some(BR)),
            (Some("gzip, br"), &[ZS, GZ], Some(GZ)),
            (Some("zstd"), &[BR, GZ], None),
            // A coding rated below 1 is still served over an unnamed
            // identity (its implicit weight 1 does not outrank it).
            (Some("br;q=0.5, gzip;q=0.8"), &all, Some(GZ)),
            (Some("deflate, gzip;q=0.5"), &all, Some(GZ)),
            (Some("deflate, gzip;q=0.5"), &[GZ], Some(GZ)),
            (Some("gzip;q=0.001"), &[GZ], Some(GZ)),
            // Nor does a weight identity takes from `*`.
            (Some("*;q=0.9, gzip;q=0.5"), &[GZ], Some(GZ)),
            (Some("*, gzip;q=0.5"), &[GZ], Some(GZ)),
            // An explicit identity rated higher wins; a tie goes to the coding.
            (Some("gzip;q=0.5, identity;q=0.6"), &all, None),
            (Some("identity, gzip;q=0.999"), &all, None),
            (Some("gzip;q=0.5, identity;q=0.5"), &[GZ], Some(GZ)),
            (Some("gzip;q=0.5, identity;q=0"), &[GZ], Some(GZ)),
            // Refused codings are never chosen.
            (Some("gzip;q=0, identity;q=0"), &[GZ], None),
            (Some("*;q=0.5, gzip;q=0"), &[GZ], None),
            (Some("br;q=0.5, gzip;q=0.8, identity;q=0.1"), &all, Some(GZ)),
            (
                Some("br;q=0.5, gzip;q=0.8, identity;q=0.1"),
                &[BR],
                Some(BR),
            ),
            (Some("gzip;q=0.5, identity"), &all, None),
            (Some("gzip;q=0.5, identity;q=0.5"), &all, Some(GZ)),
            (Some("*"), &[ZS, GZ], Some(ZS)),
            (Some("*;q=0, gzip"), &[BR], None),
            (Some("gzip, br"), &[], None),
        ];
        for &(header, available, expected) in cases {
            let choice = preference(header.map(str::as_bytes)).choose(available.iter().copied());
            assert_eq!(choice, expected, "{header:?} with {available:?}");
        }
    }

    #[test]
    fn coding_names() {
        assert_eq!(BR.extension(), "br");
        assert_eq!(ZS.extension(), "zst");
        assert_eq!(GZ.extension(), "gz");
        assert_eq!(BR.token(), "br");
        assert_eq!(ZS.token(), "zstd");
        assert_eq!(GZ.token(), "gzip");
        assert_eq!(Coding::original_of("a/b.css.br"), Some("a/b.css"));
        assert_eq!(Coding::original_of("b.gz"), Some("b"));
        assert_eq!(Coding::original_of("b.zst"), Some("b"));
        assert_eq!(Coding::original_of("b.xgz"), None);
        assert_eq!(Coding::original_of("b.css"), None);
    }

    #[test]
    fn preference_table() {
        // (header, codings best first, identity acceptable)
        let cases: Vec<(Option<&str>, Vec<Coding>, bool)> = vec![
            (None, vec![], true),
            (Some(""), vec![], true),
            (Some("  "), vec![], true),
            (Some(","), vec![], true),
            (Some("gzip"), vec![GZ], true),
            (Some("gzip, deflate, br"), vec![BR, GZ], true),
            (Some("gzip, deflate, br, zstd"), vec![BR, ZS, GZ], true),
            (Some("zstd, gzip"), vec![ZS, GZ], true),
            (Some("br;q=0.5, gzip;q=0.8"), vec![GZ, BR], true),
            (
                Some("br;q=0.5, gzip;q=0.8, zstd;q=0.9"),
                vec![ZS, GZ, BR],
                true,
            ),
            (
                Some("gzip;q=1, br;q=1.0, zstd;q=1.000"),
                vec![BR, ZS, GZ],
                true,
            ),
            (Some("gzip;q=0.001"), vec![GZ], true),
            (Some("*"), vec![BR, ZS, GZ], true),
            (Some("*;q=0.5, gzip"), vec![GZ, BR, ZS], true),
            (Some("*;q=0, gzip"), vec![GZ], false),
            (Some("*;q=0, identity"), vec![], true),
            (Some("*;q=0, identity;q=0.5, br"), vec![BR], true),
            (Some("*, br;q=0"), vec![ZS, GZ], true),
            (Some("gzip;q=0"), vec![], true),
            (Some("gzip;q=0.000"), vec![], true),
            (Some("gzip;q=0, br"), vec![BR], true),
            (Some("identity;q=0"), vec![], false),
            (Some("identity;q=0, gzip"), vec![GZ], false),
            (Some("identity"), vec![], true),
            (Some("deflate, compress"), vec![], true),
            (Some("GZIP"), vec![GZ], true),
            (Some("Br, ZSTD"), vec![BR, ZS], true),
            (Some("x-gzip"), vec![GZ], true),
            (Some("X-GZIP;Q=0.5, br;q=0.4"), vec![GZ, BR], true),
            (Some(" zstd ; q=0.9 "), vec![ZS], true),
            (Some("zstd\t;\tq=0.9,\tbr"), vec![BR, ZS], true),
            (Some("gzip,,br"), vec![BR, GZ], true),
            // Malformed elements are ignored.
            (Some("br;q=1.0001"), vec![], true),
            (Some("br;q=1.0001, gzip"), vec![GZ], true),
            (Some("br;q=1.1"), vec![], true),
            (Some("br;q=2"), vec![], true),
            (Some("br;q=-1"), vec![], true),
            (Some("br;q=.5"), vec![], true),
            (Some("br;q=0.5000"), vec![], true),
            (Some("br;q=0.5x"), vec![], true),
            (Some("br;q="), vec![], true),
            (Some("br;q = 0.5"), vec![], true),
            (Some("br;"), vec![], true),
            (Some("br;level=1"), vec![], true),
            (Some("br;q=0.5;q=0.6"), vec![], true),
            (Some("b r"), vec![], true),
            (Some("gzip\u{e9}"), vec![], true),
            (Some(";q=0.5"), vec![], true),
            (Some("identity;q=zero"), vec![], true),
            (Some("*;q=0.5x, gzip"), vec![GZ], true),
            // A malformed refusal does not refuse.
            (Some("*;q=0, gzip;q=bad"), vec![], false),
            // Valid edge qvalues.
            (Some("br;q=0., gzip;q=1."), vec![GZ], true),
            // Duplicates: the first valid element wins.
            (Some("gzip;q=0, gzip"), vec![], true),
            (Some("gzip, gzip;q=0"), vec![GZ], true),
            (Some("gzip;q=bad, gzip;q=0.3, br;q=0.2"), vec![GZ, BR], true),
            (Some("x-gzip;q=0, gzip"), vec![], true),
            (Some("identity;q=0, identity"), vec![], false),
        ];
        assert!(cases.len() >= 20);
        for (header, expected, identity) in &cases {
            let p = preference(header.map(str::as_bytes));
            assert_eq!(codings(&p), *expected, "{header:?}");
            assert_eq!(p.identity_acceptable(), *identity, "{header:?}");
            assert_eq!(p.is_empty(), expected.is_empty(), "{header:?}");
            assert_eq!(p.best(), expected.first().copied(), "{header:?}");
            for coding in Coding::ALL {
                assert_eq!(p.accepts(coding), expected.contains(&coding), "{header:?}");
            }
        }
    }

    #[test]
    fn weights() {
        let p = preference(Some(b"br;q=0.5, gzip;q=0.25, *;q=0.1, identity;q=0.7"));
        assert_eq!(p.q(BR), 500);
        assert_eq!(p.q(GZ), 250);
        assert_eq!(p.q(ZS), 100);
        assert_eq!(p.identity_q(), 700);
        assert_eq!(codings(&p), vec![BR, GZ, ZS]);
        let p = preference(Some(b"*;q=0.3"));
        assert_eq!(p.identity_q(), 300);
        assert_eq!(preference(None).identity_q(), 1000);
        assert_eq!(preference(Some(b"gzip")).identity_q(), 1000);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let pieces: &[&[u8]] = &[
            b"gzip",
            b"br",
            b"zstd",
            b"*",
            b"identity",
            b";",
            b"q=",
            b"Q=",
            b"0",
            b"1",
            b".",
            b"5",
            b",",
            b" ",
            b"\t",
            b"\xff",
            b"=",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bits = state;
            let mut value = Vec::new();
            for _ in 0..(bits % 12) {
                bits /= 17;
                value.extend_from_slice(pieces[(bits % pieces.len() as u64) as usize]);
            }
            let p = preference(Some(&value));
            let list = codings(&p);
            for pair in list.windows(2) {
                assert!(p.q(pair[0]) >= p.q(pair[1]));
            }
            for coding in Coding::ALL {
                assert_eq!(list.contains(&coding), p.q(coding) > 0);
                assert!(p.q(coding) <= 1000);
            }
            assert!(p.identity_q() <= 1000);
        }
    }
}
