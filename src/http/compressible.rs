//! What wharf may compress itself (`[http] compress`): the codings, the
//! `Content-Type` patterns and the size bounds, the validator of a computed
//! variant, and when a result is worth keeping. Pure code; the compressing
//! is done on the pool (`disk::compress`), the variants are kept in the
//! hot-file cache (`cache::entry`).

use super::encoding::Coding;

/// A set of [`Coding`]s, iterated in [`Coding::ALL`] order (the server's
/// preference, as [`super::encoding::Preference::choose`] wants it).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct CodingSet(u8);

impl CodingSet {
    pub const EMPTY: CodingSet = CodingSet(0);

    /// `coding`'s position in [`Coding::ALL`] (also the slot of its
    /// computed variant in a cache entry).
    pub fn slot(coding: Coding) -> usize {
        match coding {
            Coding::Brotli => 0,
            Coding::Zstd => 1,
            Coding::Gzip => 2,
        }
    }

    pub fn with(self, coding: Coding) -> CodingSet {
        CodingSet(self.0 | 1 << Self::slot(coding))
    }

    pub fn without(self, coding: Coding) -> CodingSet {
        CodingSet(self.0 & !(1 << Self::slot(coding)))
    }

    pub fn contains(self, coding: Coding) -> bool {
        self.0 & 1 << Self::slot(coding) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Coding> {
        Coding::ALL.into_iter().filter(move |&c| self.contains(c))
    }
}

impl FromIterator<Coding> for CodingSet {
    fn from_iter<I: IntoIterator<Item = Coding>>(codings: I) -> CodingSet {
        codings.into_iter().fold(CodingSet::EMPTY, CodingSet::with)
    }
}

/// A `[http] compress_types` entry: `type/subtype`, or `type/*` for every
/// subtype. Matched, case-insensitively, against the media type of the
/// `Content-Type` wharf sends (its parameters, such as `charset`, aside).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypePattern {
    /// Lower case, without the `/*` of a wildcard.
    prefix: String,
    wildcard: bool,
}

impl TypePattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<TypePattern, String> {
        let is_token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        let lower = text.to_ascii_lowercase();
        let Some((main, sub)) = lower.split_once('/') else {
            return Err(format!(
                "'{text}' is not a media type (expected type/subtype or type/*)"
            ));
        };
        if !is_token(main) || !(sub == "*" || is_token(sub)) {
            return Err(format!(
                "'{text}' is not a media type (expected type/subtype or type/*)"
            ));
        }
        Ok(if sub == "*" {
            TypePattern {
                prefix: format!("{main}/"),
                wildcard: true,
            }
        } else {
            TypePattern {
                prefix: lower,
                wildcard: false,
            }
        })
    }

    /// Whether `content_type` (a full `Content-Type` value) matches.
    pub fn matches(&self, content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if self.wildcard {
            essence.len() > self.prefix.len()
                && essence.is_char_boundary(self.prefix.len())
                && essence[..self.prefix.len()].eq_ignore_ascii_case(&self.prefix)
        } else {
            essence.eq_ignore_ascii_case(&self.prefix)
        }
    }
}

/// The default `[http] compress_types`: text, and the textual or
/// uncompressed binary formats of the web (what Caddy's `encode` matches,
/// plus XML, fonts without compression of their own, and wasm). Images
/// other than SVG, audio, video, archives and WOFF fonts are compressed
/// already.
pub const DEFAULT_TYPES: &[&str] = &[
    "text/*",
    "application/javascript",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/xml",
    "application/xhtml+xml",
    "application/atom+xml",
    "application/rss+xml",
    "application/wasm",
    "image/svg+xml",
    "font/ttf",
    "font/otf",
    "application/vnd.ms-fontobject",
];

/// `[http] compress*`: what wharf compresses itself.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CompressOptions {
    /// The codings computed; empty turns compression off.
    pub codings: CodingSet,
    pub types: Vec<TypePattern>,
    /// Smaller files are never compressed (the coding's framing and a
    /// header cost more than they save).
    pub min_bytes: u64,
    /// Larger files are never compressed.
    pub max_bytes: u64,
    pub level_gzip: u32,
    pub level_br: u32,
    pub level_zstd: u32,
}

/// The accepted levels of each coding, as the libraries define them.
pub const LEVELS_GZIP: (u32, u32) = (1, 9);
pub const LEVELS_BR: (u32, u32) = (0, 11);
pub const LEVELS_ZSTD: (u32, u32) = (1, 19);

impl Default for CompressOptions {
    fn default() -> CompressOptions {
        CompressOptions {
            codings: CodingSet::EMPTY.with(Coding::Brotli).with(Coding::Gzip),
            types: DEFAULT_TYPES
                .iter()
                .filter_map(|t| TypePattern::parse(t).ok())
                .collect(),
            min_bytes: 1024,
            max_bytes: 8 * 1024 * 1024,
            level_gzip: 6,
            level_br: 5,
            level_zstd: 3,
        }
    }
}

impl CompressOptions {
    /// The level `coding` is compressed at.
    pub fn level(&self, coding: Coding) -> u32 {
        match coding {
            Coding::Brotli => self.level_br,
            Coding::Zstd => self.level_zstd,
            Coding::Gzip => self.level_gzip,
        }
    }

    /// The codings wharf may compute for a file of `len` bytes answered
    /// with `content_type`, given the codings its sidecars provide (a
    /// sidecar always wins over a computed variant).
    pub fn offer(
        &self,
        content_type: &str,
        len: u64,
        sidecars: impl IntoIterator<Item = Coding>,
    ) -> CodingSet {
        let qualifies = !self.codings.is_empty()
            && len >= self.min_bytes
            && len <= self.max_bytes
            && self.types.iter().any(|t| t.matches(content_type));
        if !qualifies {
            return CodingSet::EMPTY;
        }
        sidecars.into_iter().fold(self.codings, CodingSet::without)
    }
}

/// The strong validator of a variant computed from the representation
/// tagged `original` with `coding` at `level`: the original's opaque tag
/// plus `-br5`, `-gz6`, ... (a sidecar's tag ends in `-br`, `-gz`; the
/// level makes a variant computed after a change of level a different
/// one, as its bytes are).
pub fn computed_etag(original: &str, coding: Coding, level: u32) -> String {
    let opaque = original
        .strip_suffix('"')
        .unwrap_or(original)
        .trim_start_matches("W/");
    format!("{opaque}-{}{level}\"", coding.extension())
}

/// Whether a result of `compressed` bytes for an original of `original`
/// bytes is worth keeping: it must save at least 5 % (less is not worth
/// the memory, nor the client's decoding).
pub fn worth_keeping(original: u64, compressed: u64) -> bool {
    compressed.saturating_mul(100) <= original.saturating_mul(95)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_match_the_media_type_only() {
        let text = TypePattern::parse("text/*").unwrap();
        let js = TypePattern::parse("Application/JavaScript").unwrap();
        assert!(text.matches("text/html; charset=utf-8"));
        assert!(text.matches("TEXT/css"));
        assert!(!text.matches("text/"));
        assert!(!text.matches("textual/x"));
        assert!(js.matches("application/javascript; charset=utf-8"));
        assert!(!js.matches("application/javascript2"));
        assert!(!js.matches("image/png"));
        for bad in ["text", "*/*", "text/", "/x", "te xt/html", "a/b/c", ""] {
            assert!(TypePattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_offer_leaves_out_sidecars_small_large_and_other_types() {
        let options = CompressOptions::default();
        let js = "application/javascript; charset=utf-8";
        let both = CodingSet::EMPTY.with(Coding::Brotli).with(Coding::Gzip);
        assert_eq!(options.offer(js, 100 * 1024, []), both);
        assert_eq!(
            options.offer(js, 100 * 1024, [Coding::Brotli]),
            CodingSet::EMPTY.with(Coding::Gzip)
        );
        assert_eq!(options.offer(js, 1023, []), CodingSet::EMPTY);
        assert_eq!(options.offer(js, 1024, []), both);
        assert_eq!(options.offer(js, 8 * 1024 * 1024 + 1, []), CodingSet::EMPTY);
        assert_eq!(options.offer("image/png", 100 * 1024, []), CodingSet::EMPTY);
        assert_eq!(options.offer("image/svg+xml", 5000, []), both);
        let off = CompressOptions {
            codings: CodingSet::EMPTY,
            ..CompressOptions::default()
        };
        assert_eq!(off.offer(js, 100 * 1024, []), CodingSet::EMPTY);
    }

    #[test]
    fn the_default_types_all_parse() {
        assert_eq!(CompressOptions::default().types.len(), DEFAULT_TYPES.len());
    }

    #[test]
    fn sets_iterate_in_server_preference_order() {
        let set: CodingSet = [Coding::Gzip, Coding::Brotli].into_iter().collect();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Coding::Brotli, Coding::Gzip]
        );
        assert!(!set.contains(Coding::Zstd) && !set.is_empty());
    }

    #[test]
    fn computed_tags_extend_the_original() {
        assert_eq!(
            computed_etag("\"5f-0-19000\"", Coding::Brotli, 5),
            "\"5f-0-19000-br5\""
        );
        assert_eq!(
            computed_etag("\"5f-0-19000\"", Coding::Gzip, 6),
            "\"5f-0-19000-gz6\""
        );
    }

    #[test]
    fn a_result_must_save_five_percent() {
        assert!(worth_keeping(1000, 950));
        assert!(!worth_keeping(1000, 951));
        assert!(!worth_keeping(1000, 1200));
    }
}
