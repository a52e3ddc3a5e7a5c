//! Methods other than GET, HEAD and OPTIONS: 405, and the connection
//! kept.

use super::*;

#[test]
fn other_methods_are_405_and_keep_the_connection() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    for request in [
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "PUT /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n",
        "get /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        send(&mut stream, request);
        let response = next_response(&mut stream, false);
        assert_error_page(&response, 405);
        assert_eq!(
            response.header("Allow"),
            Some("GET, HEAD, OPTIONS"),
            "{request:?}"
        );
        assert_keeps_alive(&response);
        send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let after = next_response(&mut stream, false);
        assert_eq!(after.status, 200, "GET after {request:?}");
        assert_eq!(after.body, HELLO, "GET after {request:?}");
    }
    // A 405 with Connection: close closes.
    send(
        &mut stream,
        "DELETE / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let all = read_until_eof(&mut stream);
    let responses = parse_responses(&all, false);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 405);
}
