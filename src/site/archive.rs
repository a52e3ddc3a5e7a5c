//! Directory downloads (`[http] archive`): which archive kinds exist, which
//! are enabled, and what a listing's query asks for (`?download=tar`).
//! Pure: the walk and the streaming are the pool's (`disk::archive`), the
//! tar format is [`super::tar`]'s.

/// An archive a listing can be downloaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// An uncompressed tar (ustar, with PAX records where ustar falls short).
    Tar,
    /// The same tar, gzip-compressed as it streams.
    TarGz,
}

impl ArchiveKind {
    /// Every kind, in the order links are shown.
    pub const ALL: [ArchiveKind; 2] = [ArchiveKind::Tar, ArchiveKind::TarGz];

    /// The name in the config and in `?download=`: also the file extension.
    pub fn name(self) -> &'static str {
        match self {
            ArchiveKind::Tar => "tar",
            ArchiveKind::TarGz => "tar.gz",
        }
    }

    pub fn parse(name: &str) -> Option<ArchiveKind> {
        ArchiveKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ArchiveKind::Tar => "application/x-tar",
            ArchiveKind::TarGz => "application/gzip",
        }
    }
}

/// The enabled kinds (`[http] archive`); none by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveKinds {
    tar: bool,
    tar_gz: bool,
}

impl ArchiveKinds {
    /// The kinds named in `names`, or the first name that is not one.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<ArchiveKinds, String> {
        let mut kinds = ArchiveKinds::default();
        for name in names {
            match ArchiveKind::parse(name.as_ref()) {
                Some(kind) => kinds.enable(kind),
                None => return Err(name.as_ref().to_string()),
            }
        }
        Ok(kinds)
    }

    pub fn enable(&mut self, kind: ArchiveKind) {
        match kind {
            ArchiveKind::Tar => self.tar = true,
            ArchiveKind::TarGz => self.tar_gz = true,
        }
    }

    pub fn contains(self, kind: ArchiveKind) -> bool {
        match kind {
            ArchiveKind::Tar => self.tar,
            ArchiveKind::TarGz => self.tar_gz,
        }
    }

    /// The enabled kinds, in [`ArchiveKind::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = ArchiveKind> {
        ArchiveKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    pub fn is_empty(self) -> bool {
        !self.tar && !self.tar_gz
    }
}

/// What a listing's query asks for with `download=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// No `download` parameter: the listing itself.
    None,
    /// `download=` names this kind (enabled or not: the caller decides).
    Kind(ArchiveKind),
    /// `download=` names no kind wharf knows.
    Unknown,
}

impl Download {
    /// Reads `download` from a raw query string (the first one counts).
    pub fn parse(query: Option<&str>) -> Download {
        let value = query
            .unwrap_or("")
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some(("download", value)) => Some(value),
                _ if pair == "download" => Some(""),
                _ => None,
            });
        match value {
            None => Download::None,
            Some(value) => ArchiveKind::parse(value).map_or(Download::Unknown, Download::Kind),
        }
    }
}

/// The name of the archive of the directory at `relative` (a sanitised
/// path beneath the root, empty for the root itself), without extension:
/// its last component, or `site` for the root, which has no name of its
/// own in a URL (and the server's directory name is not the client's
/// business).
pub fn archive_name(relative: &str) -> &str {
    relative
        .rsplit('/')
        .find(|c| !c.is_empty())
        .unwrap_or("site")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_list_in_a_fixed_order() {
        let kinds = ArchiveKinds::parse(&["tar.gz", "tar", "tar"]).unwrap();
        assert_eq!(kinds.iter().collect::<Vec<_>>(), ArchiveKind::ALL);
        assert_eq!(ArchiveKinds::parse(&["tar", "zip"]), Err("zip".to_string()));
        assert_eq!(ArchiveKinds::parse(&["TAR"]), Err("TAR".to_string()));
        let none = ArchiveKinds::parse::<&str>(&[]).unwrap();
        assert!(none.is_empty() && none.iter().next().is_none());
        let gz = ArchiveKinds::parse(&["tar.gz"]).unwrap();
        assert!(gz.contains(ArchiveKind::TarGz) && !gz.contains(ArchiveKind::Tar));
    }

    #[test]
    fn download_is_read_from_the_query() {
        let cases = [
            (None, Download::None),
            (Some(""), Download::None),
            (Some("sort=size"), Download::None),
            (Some("download=tar"), Download::Kind(ArchiveKind::Tar)),
            (
                Some("sort=name&download=tar.gz"),
                Download::Kind(ArchiveKind::TarGz),
            ),
            (Some("download=zip"), Download::Unknown),
            (Some("download="), Download::Unknown),
            (Some("download"), Download::Unknown),
            (
                Some("download=tar&download=zip"),
                Download::Kind(ArchiveKind::Tar),
            ),
            (Some("xdownload=tar"), Download::None),
        ];
        for (query, want) in cases {
            assert_eq!(Download::parse(query), want, "{query:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(archive_name(""), "site");
        assert_eq!(archive_name("photos"), "photos");
        assert_eq!(archive_name("a/b/photos"), "photos");
        assert_eq!(ArchiveKind::TarGz.content_type(), "application/gzip");
    }
}
