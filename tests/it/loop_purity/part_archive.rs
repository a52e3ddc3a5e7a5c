//! Directory downloads under strace: a small tree as tar and tar.gz (the
//! walk, the reads, the compression and the closes all on the pool), a
//! HEAD, a kind wharf does not know, and a download abandoned half-way.

use std::io::{BufReader, Read, Write};

use super::parts::Part;
use crate::archive::{entries, read_head, Dechunk};
use crate::harness::{pattern, write};

pub const PART: Part = Part {
    name: "archive",
    files: |root| {
        write(root, "archive/a.txt", b"archived\n");
        write(root, "archive/sub/b.bin", &pattern(600 * 1024, 3));
        write(root, "archive/.dot", b"left out\n");
    },
    toml: "http.archive = [\"tar\", \"tar.gz\"]",
    traffic: |server| {
        let download = |target: &str| {
            let mut stream = server.connect();
            let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            stream.write_all(raw.as_bytes()).unwrap();
            let mut reader = BufReader::new(stream);
            let head = read_head(&mut reader);
            assert_eq!(head.status, 200, "{target}: {}", head.head);
            let mut body = Vec::new();
            Dechunk::new(reader).read_to_end(&mut body).unwrap();
            body
        };
        let tar = download("/archive/?download=tar");
        let found = entries(&tar[..]);
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "archive/",
                "archive/a.txt",
                "archive/sub/",
                "archive/sub/b.bin"
            ]
        );
        let gz = download("/archive/?download=tar.gz");
        assert!(entries(flate2::read::GzDecoder::new(&gz[..])) == found);
        let head = server.request(
            "HEAD /archive/?download=tar HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(head.header("content-type"), Some("application/x-tar"));
        assert_eq!(server.get("/archive/?download=zip").status, 404);
        // Abandoned after its first bytes: the file being archived is
        // closed on the pool, not by the loop that sees the reset.
        let mut stream = server.connect();
        stream
            .write_all(b"GET /archive/?download=tar HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut some = [0u8; 4096];
        stream.read_exact(&mut some).unwrap();
        drop(stream);
        5
    },
};
