//! Hidden files: 404 by default, `.well-known` served, served when
//! enabled; and absolute-form targets.

use super::*;

#[test]
fn hidden_files_are_404_by_default() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for path in [
        "/.secret",
        "/.hidden/file.txt",
        "/.hidden/",
        "/%2esecret",
        "/sub/../.secret",
    ] {
        let response = server.get(path);
        assert_ne!(response.status, 200, "{path}");
        assert!(!response.text().contains("secret dotfile"), "{path}");
        assert!(!response.text().contains("hidden dir file"), "{path}");
    }
    assert_error_page(&server.get("/.secret"), 404);
    assert_error_page(&server.get("/.hidden/file.txt"), 404);
    assert_error_page(&server.get("/%2esecret"), 404);
}

#[test]
fn well_known_is_served_by_default_but_not_dotfiles_inside_it() {
    let site = site();
    write(
        site.path(),
        ".well-known/acme-challenge/t0k3n",
        b"t0k3n.key\n",
    );
    write(site.path(), ".well-known/.env", b"SECRET=1\n");
    let server = TestServer::start(site.path(), "");
    let challenge = server.get("/.well-known/acme-challenge/t0k3n");
    assert_eq!(challenge.status, 200);
    assert_eq!(challenge.body, b"t0k3n.key\n");
    assert_error_page(&server.get("/.well-known/.env"), 404);
}

#[test]
fn absolute_form_targets_are_served_from_their_path() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let hello = server.request("GET http://t/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(hello.status, 200);
    assert_eq!(hello.body, HELLO);
    let index = server.request("GET http://t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(index.status, 200);
    assert_eq!(index.body, INDEX);
    assert_eq!(
        server
            .request("GET ftp://t/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .status,
        400
    );
}

#[test]
fn hidden_files_served_when_enabled() {
    let site = site();
    let server = TestServer::start(site.path(), "[http]\nhidden_files = true\n");
    let secret = server.get("/.secret");
    assert_eq!(secret.status, 200);
    assert_eq!(secret.body, b"secret dotfile\n");
    let file = server.get("/.hidden/file.txt");
    assert_eq!(file.status, 200);
    assert_eq!(file.body, b"hidden dir file\n");
}
