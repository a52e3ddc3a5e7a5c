//! Directory downloads (`[http] archive`): a listing asked for with
//! `?download=tar` or `?download=tar.gz` arrives as an archive of what the
//! site serves there and nothing else (no dotfiles, nothing through a
//! symlink out of the root, no FIFO), byte for byte, read by the tar crate
//! and by the real `tar`; its head says what it is (type, attachment
//! name, chunked, no ranges); HEAD, kinds not enabled, directories with an
//! index; curl's `-OJ` name; a client that goes away; and memory that
//! stays far below the size of the archive.

use crate::harness::*;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BOTH: &str = "[http]\narchive = [\"tar\", \"tar.gz\"]\n";
const BIG_LEN: usize = 5 << 20;

/// A site whose `photos/` has a bit of everything. Returns the site and
/// the directory beside it that symlinks point out to.
fn tree() -> (tempfile::TempDir, tempfile::TempDir) {
    let site = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = site.path();
    write(outside.path(), "canary.txt", b"outside the root\n");
    write(root, "photos/a.txt", b"alpha\n");
    write(root, "photos/b.txt", b"");
    write(root, "photos/sub/nested/deep.txt", b"deep down\n");
    write(root, "photos/sub/big.bin", &pattern(BIG_LEN, 7));
    std::fs::create_dir_all(root.join("photos/empty")).unwrap();
    write(root, "photos/.dotfile", b"hidden\n");
    write(root, "photos/.hidden/inside.txt", b"hidden dir\n");
    write(root, "shared/target.txt", b"shared within the root\n");
    let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
    link(Path::new("../shared/target.txt"), "photos/inside-link.txt");
    link(Path::new("../shared"), "photos/shared-dir");
    link(
        &outside.path().join("canary.txt"),
        "photos/outside-link.txt",
    );
    link(outside.path(), "photos/outside-dir");
    link(Path::new(".."), "photos/sub/loop");
    link(Path::new("nowhere"), "photos/dangling");
    mkfifo(&root.join("photos/fifo"));
    (site, outside)
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// What `photos/` must hold, as the archive names it: directories with a
/// trailing `/` and no content, files with their bytes.
fn expected(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let file = |p: &str| Some(std::fs::read(root.join(p)).unwrap());
    BTreeMap::from([
        ("photos/".into(), None),
        ("photos/a.txt".into(), file("photos/a.txt")),
        ("photos/b.txt".into(), file("photos/b.txt")),
        ("photos/empty/".into(), None),
        ("photos/inside-link.txt".into(), file("shared/target.txt")),
        ("photos/shared-dir/".into(), None),
        (
            "photos/shared-dir/target.txt".into(),
            file("shared/target.txt"),
        ),
        ("photos/sub/".into(), None),
        ("photos/sub/big.bin".into(), file("photos/sub/big.bin")),
        ("photos/sub/nested/".into(), None),
        (
            "photos/sub/nested/deep.txt".into(),
            file("photos/sub/nested/deep.txt"),
        ),
    ])
}

/// Sends `GET target` (HTTP/1.1, `Connection: close`) and returns the head
/// and a reader of the de-chunked body.
fn get(server: &TestServer, target: &str) -> (Response, Dechunk<BufReader<TcpStream>>) {
    let mut stream = with_timeouts(server.connect());
    stream
        .write_all(request_text("GET", target, &[] as &[(&str, &str)]).as_bytes())
        .unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader);
    (head, Dechunk::new(reader))
}

pub fn read_head(reader: &mut impl BufRead) -> Response {
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(
            reader.read_line(&mut head).unwrap() > 0,
            "no head: {head:?}"
        );
    }
    let (status, headers) = parse_head(&head);
    Response {
        status,
        head,
        headers,
        body: Vec::new(),
    }
}

/// A reader of a chunked body that checks the framing as it goes and
/// fails if the body ends before its last chunk.
pub struct Dechunk<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Dechunk<R> {
    pub fn new(inner: R) -> Self {
        Dechunk {
            inner,
            left: 0,
            done: false,
        }
    }

    fn read_all(mut self) -> Vec<u8> {
        let mut body = Vec::new();
        self.read_to_end(&mut body).unwrap();
        body
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        self.inner.read_line(&mut line)?;
        if !line.ends_with("\r\n") {
            return Err(std::io::Error::other(format!("cut off at {line:?}")));
        }
        Ok(line.trim_end().to_string())
    }
}

impl<R: BufRead> Read for Dechunk<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let size = self.line()?;
            self.left = usize::from_str_radix(&size, 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size:?}")))?;
            if self.left == 0 {
                let end = self.line()?;
                assert_eq!(end, "", "no trailers expected");
                self.done = true;
                return Ok(0);
            }
        }
        let n = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..n])?;
        if n == 0 {
            return Err(std::io::Error::other("body cut off inside a chunk"));
        }
        self.left -= n;
        if self.left == 0 {
            assert_eq!(self.line()?, "", "a chunk ends with CRLF");
        }
        Ok(n)
    }
}

/// The archive's entries as the tar crate reads them: name to content
/// (`None` for a directory). Any other entry type fails.
pub fn entries(tar_bytes: impl Read) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut found = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.uid().unwrap(), 0);
        assert_eq!(header.gid().unwrap(), 0);
        assert_eq!(header.username().unwrap(), Some(""));
        let name = entry.path().unwrap().to_str().unwrap().to_string();
        let content = match header.entry_type() {
            tar::EntryType::Directory => None,
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                Some(data)
            }
            other => panic!("{name}: unexpected entry type {other:?}"),
        };
        assert!(
            found.insert(name.clone(), content).is_none(),
            "{name} twice"
        );
    }
    found
}

fn assert_same(found: &BTreeMap<String, Option<Vec<u8>>>, root: &Path) {
    let want = expected(root);
    let names = |m: &BTreeMap<String, Option<Vec<u8>>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(found), names(&want));
    for (name, content) in &want {
        assert!(found[name] == *content, "{name} differs");
    }
}

/// Extracts `archive` with the real `tar` (`flags` "-xf" or "-xzf") into a
/// new directory and checks every file there against the site.
fn extract_and_compare(archive: &[u8], flags: &str, root: &Path) {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("download");
    std::fs::write(&file, archive).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let status = Command::new("tar")
        .arg(flags)
        .arg(&file)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "tar {flags} failed");
    let mut seen = Vec::new();
    walk(&out, &out, &mut seen);
    let want = expected(root);
    let want_names: Vec<String> = want.keys().cloned().collect();
    assert_eq!(seen, want_names);
    for (name, content) in want {
        if let Some(content) = content {
            assert!(
                std::fs::read(out.join(&name)).unwrap() == content,
                "{name} differs"
            );
        }
    }
}

/// Every path under `dir` (no symlink may be there), sorted as tar names.
fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let kind = entry.file_type().unwrap();
        assert!(!kind.is_symlink(), "{:?} is a symlink", entry.path());
        let name = entry
            .path()
            .strip_prefix(base)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if kind.is_dir() {
            out.push(format!("{name}/"));
            walk(base, &entry.path(), out);
        } else {
            out.push(name);
        }
    }
    out.sort();
}

#[test]
fn a_tree_downloads_as_tar_with_only_what_is_served() {
    let (site, _outside) = tree();
    let server = TestServer::start(site.path(), BOTH);
    let (head, body) = get(&server, "/photos/?download=tar");
    assert_eq!(head.status, 200, "{}", head.head);
    assert_eq!(head.header("content-type"), Some("application/x-tar"));
    assert_eq!(
        head.header("content-disposition"),
        Some("attachment; filename=\"photos.tar\"")
    );
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(head.header("accept-ranges"), Some("none"));
    for absent in ["content-length", "etag", "last-modified"] {
        assert_eq!(head.header(absent), None, "{absent}");
    }
    let bytes = body.read_all();
    assert!(bytes.len() > BIG_LEN, "the big file is in it");
    assert_eq!(bytes.len() % 512, 0);
    // Deterministic: sorted entries, the same bytes twice.
    let again = get(&server, "/photos/?download=tar").1.read_all();
    assert!(bytes == again, "two downloads differ");
    let found = entries(&bytes[..]);
    assert_same(&found, site.path());
    let names: Vec<&String> = found.keys().collect();
    for name in names {
        for absent in ["dotfile", "hidden", "outside", "fifo", "loop", "dangling"] {
            assert!(!name.contains(absent), "{name} should not be archived");
        }
    }
    if require_tool("tar") {
        extract_and_compare(&bytes, "-xf", site.path());
    }
}

#[test]
fn tar_gz_is_the_same_tree_compressed() {
    let (site, _outside) = tree();
    let server = TestServer::start(site.path(), BOTH);
    let (head, body) = get(&server, "/photos/?download=tar.gz");
    assert_eq!(head.status, 200, "{}", head.head);
    assert_eq!(head.header("content-type"), Some("application/gzip"));
    assert_eq!(
        head.header("content-disposition"),
        Some("attachment; filename=\"photos.tar.gz\"")
    );
    let bytes = body.read_all();
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip magic");
    assert_same(
        &entries(flate2::read::GzDecoder::new(&bytes[..])),
        site.path(),
    );
    if require_tool("tar") {
        extract_and_compare(&bytes, "-xzf", site.path());
    }
}

#[test]
fn head_kinds_not_enabled_and_directories_with_an_index() {
    let (site, _outside) = tree();
    write(site.path(), "docs/index.html", b"<p>docs</p>\n");
    let server = TestServer::start(site.path(), "[http]\narchive = [\"tar\"]\n");
    // HEAD: the GET's head, no body, and the connection goes on.
    let mut stream = with_timeouts(server.connect());
    stream
        .write_all(b"HEAD /photos/?download=tar HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_response(&mut stream, true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(head.header("content-type"), Some("application/x-tar"));
    stream
        .write_all(b"GET /photos/a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let next = read_response(&mut stream, false).unwrap();
    assert_eq!((next.status, next.body.as_slice()), (200, &b"alpha\n"[..]));
    // A kind that is not enabled, or none wharf knows: 404.
    for target in [
        "/photos/?download=tar.gz",
        "/photos/?download=zip",
        "/photos/?download=",
    ] {
        assert_eq!(server.get(target).status, 404, "{target}");
    }
    // A name that is not ASCII: a fallback and RFC 8187's `filename*`.
    write(site.path(), "été/x.txt", b"x\n");
    let accented = server.get("/%C3%A9t%C3%A9/?download=tar");
    assert_eq!(accented.status, 200);
    assert_eq!(
        accented.header("content-disposition"),
        Some("attachment; filename=\"_t_.tar\"; filename*=UTF-8''%C3%A9t%C3%A9.tar")
    );
    // A directory with an index file serves its index.
    let docs = server.get("/docs/?download=tar");
    assert_eq!((docs.status, docs.text().as_str()), (200, "<p>docs</p>\n"));
    // The listing links the enabled kind only.
    let listing = server.get("/photos/").text();
    assert!(listing.contains("href=\"?download=tar\""));
    assert!(!listing.contains("download=tar.gz"));
    let json = server.request(&request_text(
        "GET",
        "/photos/",
        &[("Accept", "application/json")],
    ));
    let json: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(
        json["archives"],
        serde_json::json!([{"type": "tar", "href": "?download=tar"}])
    );
    // Without `archive`, nothing: 404, and the listing has no link.
    let off = TestServer::start(site.path(), "");
    assert_eq!(off.get("/photos/?download=tar").status, 404);
    assert!(!off.get("/photos/").text().contains("download"));
    // Without listings, no archive either.
    let unlisted = TestServer::start(
        site.path(),
        "[http]\narchive = [\"tar\"]\ndirectory_listing = false\n",
    );
    assert_eq!(unlisted.get("/photos/?download=tar").status, 403);
}

#[test]
fn keep_alive_goes_on_after_an_archive_and_http10_gets_a_raw_one() {
    let site = site();
    // The root without its index: a listing, whose archive is `site.tar`.
    std::fs::remove_file(site.path().join("index.html")).unwrap();
    let server = TestServer::start(site.path(), BOTH);
    let mut stream = with_timeouts(server.connect());
    stream
        .write_all(b"GET /sub/?download=tar HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let head = read_head(&mut reader);
    assert_eq!(head.status, 200);
    let mut body = Dechunk::new(&mut reader);
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes).unwrap();
    assert_eq!(entries(&bytes[..]).len(), 2, "sub/ and sub/page.html");
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let next = read_head(&mut reader);
    assert_eq!(next.status, 200, "the connection went on");
    // HTTP/1.0: no chunked coding; the body ends with the connection.
    let raw = server.request("GET /?download=tar HTTP/1.0\r\n\r\n");
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("transfer-encoding"), None);
    assert_eq!(raw.header("connection"), Some("close"));
    assert_eq!(
        raw.header("content-disposition"),
        Some("attachment; filename=\"site.tar\"")
    );
    let mut stream = server.connect();
    stream
        .write_all(b"GET /?download=tar HTTP/1.0\r\n\r\n")
        .unwrap();
    let all = read_until_eof(&mut stream);
    let start = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let found = entries(&all[start..]);
    assert!(found.contains_key("site/hello.txt") && found.contains_key("site/sub/page.html"));
    assert!(!found
        .keys()
        .any(|k| k.contains("secret") || k.contains("hidden")));
}

#[test]
fn hidden_files_on_archives_them_too() {
    let (site, _outside) = tree();
    let server = TestServer::start(
        site.path(),
        "[http]\narchive = [\"tar\"]\nhidden_files = true\nsymlinks = \"deny\"\n",
    );
    let found = entries(&get(&server, "/photos/?download=tar").1.read_all()[..]);
    assert_eq!(found["photos/.dotfile"].as_deref(), Some(&b"hidden\n"[..]));
    assert!(found.contains_key("photos/.hidden/inside.txt"));
    // `deny`: no symlink at all, not even those within the root.
    assert!(!found
        .keys()
        .any(|k| k.contains("link") || k.contains("shared")));
}

#[test]
fn curl_saves_it_under_its_attachment_name() {
    if !require_tool("curl") {
        return;
    }
    let (site, _outside) = tree();
    let server = TestServer::start(site.path(), BOTH);
    let work = tempfile::tempdir().unwrap();
    let status = Command::new("curl")
        .args(["-s", "-f", "-O", "-J"])
        .arg(server.url("/photos/?download=tar.gz"))
        .current_dir(work.path())
        .status()
        .unwrap();
    assert!(status.success());
    let saved = std::fs::read(work.path().join("photos.tar.gz")).expect("photos.tar.gz saved");
    assert_same(
        &entries(flate2::read::GzDecoder::new(&saved[..])),
        site.path(),
    );
}

/// Descriptors the server holds.
fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn a_client_that_goes_away_leaves_no_descriptor_open() {
    let (site, _outside) = tree();
    let server = TestServer::start(site.path(), BOTH);
    // Warm up the pool threads and whatever else opens once.
    get(&server, "/photos/?download=tar").1.read_all();
    let baseline = fd_count(server.pid());
    for kind in ["tar", "tar.gz"] {
        let (head, mut body) = get(&server, &format!("/photos/?download={kind}"));
        assert_eq!(head.status, 200);
        let mut some = vec![0; 1 << 20];
        body.read_exact(&mut some[..64 * 1024]).unwrap();
        drop(body);
    }
    assert!(
        eventually(Duration::from_secs(10), || fd_count(server.pid())
            <= baseline),
        "descriptors: {} now, {baseline} before",
        fd_count(server.pid())
    );
}

/// Resident set size in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_200_mib_archive_streams_in_bounded_memory() {
    const HUGE: u64 = 200 << 20;
    let site = tempfile::tempdir().unwrap();
    write(site.path(), "big/small.txt", b"small\n");
    // Sparse: costs the disk nothing, reads as zeros.
    let file = std::fs::File::create(site.path().join("big/huge.bin")).unwrap();
    file.set_len(HUGE).unwrap();
    drop(file);
    let server = TestServer::start(site.path(), BOTH);
    let pid = server.pid();
    let before = rss_kib(pid);
    let (head, body) = get(&server, "/big/?download=tar");
    assert_eq!(head.status, 200);
    let mut archive = tar::Archive::new(body);
    let mut max_rss = before;
    let mut samples = 0;
    let mut sizes = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_str().unwrap().to_string();
        let mut buf = vec![0; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = entry.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            if name.ends_with("huge.bin") {
                assert!(buf[..n].iter().all(|&b| b == 0), "zeros at {total}");
            }
            total += n as u64;
            if total % (8 << 20) < n as u64 {
                max_rss = max_rss.max(rss_kib(pid));
                samples += 1;
            }
        }
        sizes.insert(name, total);
    }
    assert!(samples >= 20, "sampled {samples} times");
    assert_eq!(sizes.get("big/huge.bin"), Some(&HUGE));
    assert_eq!(sizes.get("big/small.txt"), Some(&6));
    assert!(
        max_rss < 100 * 1024,
        "the server grew to {max_rss} KiB (from {before} KiB) for a 200 MiB archive"
    );
}

#[test]
fn a_bad_kind_stops_start_up_and_sighup_turns_archives_on() {
    let site = site();
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("wharf.toml");
    std::fs::write(&config, "[http]\narchive = [\"tar\", \"zip\"]\n").unwrap();
    let run: Finished = Command::new(WHARF)
        .arg("-c")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .arg(site.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_one_line_error(&run, &["[http] archive", "\"zip\""]);
    std::fs::write(&config, "[log]\naccess = \"off\"\n").unwrap();
    let mut command = Command::new(WHARF);
    command
        .arg("-c")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .arg(site.path());
    let server = TestServer::spawn(command, None);
    assert_eq!(server.get("/sub/?download=tar").status, 404);
    std::fs::write(
        &config,
        "[log]\naccess = \"off\"\n[http]\narchive = [\"tar\"]\n",
    )
    .unwrap();
    signal(&server.child, libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || server
            .get("/sub/?download=tar")
            .status
            == 200),
        "the reload did not enable archives"
    );
    assert!(server.get("/sub/").text().contains("?download=tar"));
}
