//! The tar format, as far as a directory download needs it: headers for
//! regular files and directories, the padding after a file's data, and the
//! end of the archive. Pure: the pool's walk (`disk::archive`) decides
//! what goes in and streams the data between the headers.
//!
//! Written here rather than with the `tar` crate so the stream is in
//! wharf's hands: a header is a value computed from a stat, the data is
//! read in bounded pieces by the pool, and nothing else is buffered.
//!
//! Headers are POSIX ustar. What ustar cannot hold gets a PAX extended
//! header (`x`) in front, as POSIX.1-2001 says: a path longer than
//! 100 bytes (`path`), a size of 8 GiB or more (`size`), a time outside
//! ustar's octal field (`mtime`). Owner and group are 0 and unnamed, so
//! the archive tells nothing of the server's users; the mode keeps only
//! the permission bits (no set-id or sticky bits).

/// The size of a tar block: headers and data padding come in these.
pub const BLOCK: usize = 512;

/// What an archive ends with: two zero blocks.
pub const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// The kind of an archived entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarKind {
    File,
    Directory,
}

/// One entry's header fields.
#[derive(Debug, Clone, Copy)]
pub struct TarEntry<'a> {
    /// The path inside the archive, `/`-separated, without a leading `/`;
    /// a directory's ends with `/`.
    pub path: &'a str,
    pub kind: TarKind,
    /// The data that follows (0 for a directory).
    pub size: u64,
    /// `st_mode`; only the permission bits are kept.
    pub mode: u32,
    /// Modification time, in seconds since the epoch.
    pub mtime: i64,
}

/// The largest value an octal field of `width` bytes (with its NUL) holds.
fn octal_max(width: usize) -> u64 {
    (1u64 << (3 * (width as u32 - 1))) - 1
}

/// Writes `value` as zero-padded octal, NUL-terminated, into `field`.
fn put_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    let text = text.as_bytes();
    // A value too large keeps its low digits; callers send a PAX record.
    let text = &text[text.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(text);
    field[digits] = 0;
}

/// Appends `entry`'s header (a PAX header first when needed) to `out`.
/// The caller then writes exactly `entry.size` bytes of data and
/// [`padding`] zeros.
pub fn push_header(out: &mut Vec<u8>, entry: &TarEntry) {
    let path = entry.path.as_bytes();
    let mut pax = String::new();
    if path.len() > 100 {
        push_pax_record(&mut pax, "path", entry.path);
    }
    if entry.size > octal_max(12) {
        push_pax_record(&mut pax, "size", &entry.size.to_string());
    }
    let mtime = u64::try_from(entry.mtime).unwrap_or(0);
    if mtime > octal_max(12) || entry.mtime < 0 {
        push_pax_record(&mut pax, "mtime", &entry.mtime.to_string());
    }
    if !pax.is_empty() {
        let pax_header = TarEntry {
            path: "././@PaxHeader",
            kind: TarKind::File,
            size: pax.len() as u64,
            mode: 0o644,
            mtime: 0,
        };
        push_ustar(out, &pax_header, b'x');
        out.extend_from_slice(pax.as_bytes());
        out.resize(out.len() + padding(pax.len() as u64), 0);
    }
    let typeflag = match entry.kind {
        TarKind::File => b'0',
        TarKind::Directory => b'5',
    };
    push_ustar(out, entry, typeflag);
}

/// One ustar header block. A path over 100 bytes is cut (at a character
/// boundary): the PAX `path` record before it carries the whole one.
fn push_ustar(out: &mut Vec<u8>, entry: &TarEntry, typeflag: u8) {
    let mut block = [0u8; BLOCK];
    let mut cut = entry.path.len().min(100);
    while !entry.path.is_char_boundary(cut) {
        cut -= 1;
    }
    block[..cut].copy_from_slice(&entry.path.as_bytes()[..cut]);
    put_octal(&mut block[100..108], u64::from(entry.mode & 0o777));
    put_octal(&mut block[108..116], 0);
    put_octal(&mut block[116..124], 0);
    put_octal(&mut block[124..136], entry.size.min(octal_max(12)));
    let mtime = u64::try_from(entry.mtime).unwrap_or(0).min(octal_max(12));
    put_octal(&mut block[136..148], mtime);
    block[156] = typeflag;
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    put_octal(&mut block[329..337], 0);
    put_octal(&mut block[337..345], 0);
    // The checksum is computed with its own field as spaces, then written
    // as six octal digits, a NUL and a space.
    block[148..156].copy_from_slice(b"        ");
    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    put_octal(&mut block[148..155], sum);
    block[155] = b' ';
    out.extend_from_slice(&block);
}

/// Appends one PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts
/// the whole record, its own digits included.
fn push_pax_record(out: &mut String, key: &str, value: &str) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.push_str(&format!("{len} {key}={value}\n"));
}

/// The zeros that follow `size` bytes of data, up to the next block.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entry: &TarEntry) -> Vec<u8> {
        let mut out = Vec::new();
        push_header(&mut out, entry);
        out
    }

    fn field(block: &[u8], range: std::ops::Range<usize>) -> &str {
        let bytes = &block[range];
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[..end]).unwrap()
    }

    fn checksum_ok(block: &[u8]) -> bool {
        let stored = u64::from_str_radix(field(block, 148..155), 8).unwrap();
        let sum: u64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        stored == sum
    }

    #[test]
    fn a_short_file_has_one_ustar_block() {
        let out = header(&TarEntry {
            path: "site/a.txt",
            kind: TarKind::File,
            size: 1234,
            mode: 0o100_4755,
            mtime: 1_700_000_000,
        });
        assert_eq!(out.len(), BLOCK);
        assert_eq!(field(&out, 0..100), "site/a.txt");
        assert_eq!(field(&out, 100..108), "0000755", "set-id bits dropped");
        assert_eq!(field(&out, 108..116), "0000000");
        assert_eq!(field(&out, 124..136), "00000002322");
        assert_eq!(field(&out, 136..148), "14524770400");
        assert_eq!(out[156], b'0');
        assert_eq!(&out[257..265], b"ustar\x0000");
        assert_eq!(field(&out, 265..297), "", "no user name");
        assert_eq!(out[155], b' ');
        assert!(checksum_ok(&out));
    }

    #[test]
    fn a_directory_is_type_5() {
        let out = header(&TarEntry {
            path: "site/sub/",
            kind: TarKind::Directory,
            size: 0,
            mode: 0o40755,
            mtime: 0,
        });
        assert_eq!(out.len(), BLOCK);
        assert_eq!(out[156], b'5');
        assert!(checksum_ok(&out));
    }

    #[test]
    fn long_paths_large_sizes_and_odd_times_get_pax_records() {
        let long = format!("site/{}/é.txt", "d".repeat(120));
        let out = header(&TarEntry {
            path: &long,
            kind: TarKind::File,
            size: 9 << 30,
            mode: 0o644,
            mtime: -5,
        });
        assert_eq!(out[156], b'x');
        assert!(checksum_ok(&out[..BLOCK]));
        let pax_len = usize::from_str_radix(field(&out, 124..136), 8).unwrap();
        let pax = std::str::from_utf8(&out[BLOCK..BLOCK + pax_len]).unwrap();
        let records: Vec<&str> = pax.lines().collect();
        assert_eq!(records.len(), 3);
        for record in &records {
            let (len, _) = record.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), record.len() + 1, "{record}");
        }
        assert_eq!(
            records[0].split_once(' ').unwrap().1,
            format!("path={long}")
        );
        assert!(records[1].ends_with(" size=9663676416"));
        assert!(records[2].ends_with(" mtime=-5"));
        let main = &out[BLOCK + pax_len + padding(pax_len as u64)..];
        assert_eq!(main.len(), BLOCK);
        assert_eq!(main[156], b'0');
        assert!(long.starts_with(field(main, 0..100)));
        assert!(checksum_ok(main));
    }

    #[test]
    fn pax_record_lengths_count_their_own_digits() {
        // 9 + 1 digit would be 10: the length must become two digits.
        for value_len in 0..200 {
            let mut record = String::new();
            push_pax_record(&mut record, "path", &"x".repeat(value_len));
            let (len, _) = record.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), record.len());
        }
    }

    #[test]
    fn padding_fills_the_block() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }
}
