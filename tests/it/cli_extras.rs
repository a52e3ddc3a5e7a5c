//! The command line beyond serving: `wharf completions SHELL`, `wharf man`,
//! serving a directory named like a subcommand, and start-up errors that
//! say what to do (one line each).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::harness::{assert_one_line_error, write, Finished, TestServer, WHARF};

/// Runs wharf in `cwd` to completion (these commands exit by themselves;
/// the harness timeout is the test's).
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(WHARF)
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wharf")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

#[test]
fn completions_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef wharf"),
        ("fish", "complete -c wharf"),
        ("elvish", "edit:completion:arg-completer[wharf]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = run_in(dir.path(), &["completions", shell]);
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        // fish spells a long option `-l NAME`.
        for option in ["listen", "io-threads", "quiet"] {
            let spelled = if shell == "fish" {
                format!("-l {option}")
            } else {
                format!("--{option}")
            };
            assert!(script.contains(&spelled), "{shell} script lacks {spelled}");
        }
        assert!(
            output.stderr.is_empty(),
            "{shell}: {}",
            text(&output.stderr)
        );
    }
    let output = run_in(dir.path(), &["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("tcsh"), "{stderr}");
}

#[test]
fn man_page_documents_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &["man"]);
    assert!(output.status.success(), "{output:?}");
    let page = text(&output.stdout);
    assert!(page.contains(".TH wharf 1"), "{page}");
    // roff writes a literal hyphen as \-.
    for option in ["listen", "config", "workers", "io\\-threads", "quiet"] {
        assert!(
            page.contains(&format!("\\-\\-{option}")),
            "man page lacks --{option}"
        );
    }
    assert!(page.contains("SIGUSR1"), "man page lacks the signals");
    assert!(
        page.contains("completions"),
        "man page lacks the subcommands"
    );
}

#[test]
fn help_mentions_the_subcommands_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &["--help"]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    for needle in ["completions", "man", "--quiet", "RUST_LOG", "wharf ./man"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

/// `wharf ./man` serves a directory named `man`; so does `man` after an
/// option.
#[test]
fn directory_named_like_a_subcommand_is_servable() {
    for args in [
        &["./man", "--listen", "127.0.0.1:0"][..],
        &["--listen", "127.0.0.1:0", "man"][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "man/page.txt", b"a page about man\n");
        let mut command = Command::new(WHARF);
        command.current_dir(dir.path()).args(args);
        let server = TestServer::spawn(command, None);
        let response = server.get("/page.txt");
        assert_eq!(response.status, 200, "{args:?}");
        assert_eq!(response.body, b"a page about man\n");
        assert!(server.stop().success());
    }
}

#[test]
fn start_up_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::create_dir(base.join("site")).unwrap();

    // Missing root, from the command line and from the config file.
    assert_one_line_error(
        &Finished::from(run_in(base, &["--listen", "127.0.0.1:0", "nope"])),
        &["root", "nope", "check the ROOT argument"],
    );
    std::fs::write(base.join("root.toml"), "[server]\nroot = \"gone\"\n").unwrap();
    assert_one_line_error(
        &Finished::from(run_in(
            base,
            &["-c", "root.toml", "--listen", "127.0.0.1:0"],
        )),
        &["root", "gone", "[server] root"],
    );

    // Config file missing.
    assert_one_line_error(
        &Finished::from(run_in(base, &["-c", "missing.toml", "site"])),
        &["missing.toml", "-c/--config"],
    );

    // Bad listen value.
    assert_one_line_error(
        &Finished::from(run_in(base, &["--listen", "8080", "site"])),
        &["listen", "'8080'", "--listen 127.0.0.1:8080"],
    );

    // Log file in a directory that does not exist.
    std::fs::write(
        base.join("log.toml"),
        "[log]\naccess = \"no/such/dir/access.log\"\n",
    )
    .unwrap();
    assert_one_line_error(
        &Finished::from(run_in(
            base,
            &["-c", "log.toml", "--listen", "127.0.0.1:0", "site"],
        )),
        &["[log] access", "access.log", "create it"],
    );

    // Log path that is a directory.
    std::fs::write(base.join("dir.toml"), "[log]\naccess = \"site\"\n").unwrap();
    assert_one_line_error(
        &Finished::from(run_in(
            base,
            &["-c", "dir.toml", "--listen", "127.0.0.1:0", "site"],
        )),
        &["[log] access", "change [log] access"],
    );

    // Address this machine does not have.
    assert_one_line_error(
        &Finished::from(run_in(base, &["--listen", "203.0.113.77:0", "site"])),
        &["203.0.113.77", "--listen"],
    );
}
