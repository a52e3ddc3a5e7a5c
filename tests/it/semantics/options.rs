//! OPTIONS and `Allow`.

use super::*;

#[test]
fn options_is_204_with_allow_and_keeps_the_connection() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    for target in ["*", "/hello.txt", "/", "/missing"] {
        stream
            .write_all(format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let response = read_response(&mut stream, true).expect("a response to OPTIONS");
        assert_eq!(response.status, 204, "OPTIONS {target}: {}", response.head);
        assert_eq!(response.header("Allow"), Some("GET, HEAD, OPTIONS"));
        assert!(
            response.header("Content-Length").is_none(),
            "{}",
            response.head
        );
        assert!(response.header("Transfer-Encoding").is_none());
        assert!(response.header("Connection").is_none(), "{}", response.head);
        // The connection is still usable, and no body bytes were sent: the
        // next response starts right after the head.
        stream
            .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let next = read_response(&mut stream, false).expect("GET after OPTIONS");
        assert_eq!(next.status, 200, "after OPTIONS {target}");
        assert_eq!(next.body, HELLO);
    }
}

#[test]
fn method_not_allowed_carries_allow() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let response = fetch(&server, method, "/hello.txt", &[("Content-Length", "0")]);
        check(&response, 405);
        assert_eq!(
            response.header("Allow"),
            Some("GET, HEAD, OPTIONS"),
            "{method}"
        );
    }
}
