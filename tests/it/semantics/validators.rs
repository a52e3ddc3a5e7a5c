//! Validators: every file's strong `ETag` and `Last-Modified`, stable
//! across restarts and copies, new with each edit.

use super::*;

#[test]
fn files_have_a_strong_etag_and_last_modified() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let response = get(&server, "/hello.txt", &[]);
    check_full(&response, HELLO);
    let etag = etag_of(&response);
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "a strong, quoted entity-tag: {etag}"
    );
    assert!(
        !etag[1..etag.len() - 1].contains('"'),
        "one entity-tag: {etag}"
    );
    assert_eq!(
        response.header("Last-Modified"),
        Some(http_date_secs(OLD_SECS).as_str())
    );
    // HEAD carries the same validators.
    let head_response = head(&server, "/hello.txt", &[]);
    check(&head_response, 200);
    assert!(head_response.body.is_empty());
    assert_eq!(head_response.header("ETag"), Some(etag.as_str()));
    assert_eq!(
        head_response.header("Last-Modified"),
        response.header("Last-Modified")
    );
    // Every file has one, directory index files included.
    let index = get(&server, "/", &[]);
    check(&index, 200);
    assert!(index.header("ETag").is_some_and(|t| t.starts_with('"')));
    assert!(index.header("Last-Modified").is_some());
}

#[test]
fn etag_is_stable_across_restarts_and_copies() {
    let (site, _) = semantics_site();
    let first = TestServer::start(site.path(), "");
    let before = get(&first, "/hello.txt", &[]);
    check_full(&before, HELLO);
    first.stop();

    let second = TestServer::start(site.path(), "");
    let after = get(&second, "/hello.txt", &[]);
    check_full(&after, HELLO);
    assert_eq!(etag_of(&before), etag_of(&after));
    assert_eq!(
        before.header("Last-Modified"),
        after.header("Last-Modified")
    );

    // A copy with the same content and mtime on another "machine" (another
    // root, so another inode) gets the same tag: no inode numbers in it.
    let mirror = tempfile::tempdir().unwrap();
    write_at(mirror.path(), "hello.txt", HELLO, old_time());
    let third = TestServer::start(mirror.path(), "");
    let copy = get(&third, "/hello.txt", &[]);
    check_full(&copy, HELLO);
    assert_eq!(etag_of(&before), etag_of(&copy));
}

#[test]
fn editing_a_file_changes_its_etag() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let path = site.path().join("hello.txt");
    let first = get(&server, "/hello.txt", &[]);
    check_full(&first, HELLO);
    let first_tag = etag_of(&first);

    // New content and a new mtime: the very next request sees them, even
    // though the file is hot in the cache.
    std::fs::write(&path, b"goodbye, world!\n").unwrap();
    set_mtime(&path, old_time() + Duration::from_secs(100));
    let second = get(&server, "/hello.txt", &[]);
    check_full(&second, b"goodbye, world!\n");
    let second_tag = etag_of(&second);
    assert_ne!(first_tag, second_tag);
    assert_eq!(
        second.header("Last-Modified"),
        Some(http_date_secs(OLD_SECS + 100).as_str())
    );
    // The old tag no longer validates: the new content comes back.
    let revalidated = get(&server, "/hello.txt", &[("If-None-Match", &first_tag)]);
    check_full(&revalidated, b"goodbye, world!\n");

    // Same length, same second, only the nanoseconds differ: still a new tag.
    std::fs::write(&path, b"GOODBYE, WORLD!\n").unwrap();
    set_mtime(
        &path,
        old_time() + Duration::from_secs(100) + Duration::from_nanos(1),
    );
    let third = get(&server, "/hello.txt", &[]);
    check_full(&third, b"GOODBYE, WORLD!\n");
    let third_tag = etag_of(&third);
    assert_ne!(
        second_tag, third_tag,
        "mtime nanoseconds are part of the tag"
    );
    assert_eq!(
        second.header("Last-Modified"),
        third.header("Last-Modified")
    );
    let revalidated = get(&server, "/hello.txt", &[("If-None-Match", &second_tag)]);
    check_full(&revalidated, b"GOODBYE, WORLD!\n");
}
