//! `hermod sieve`: put, list, get, activate, delete and check, with clear one-line errors.

mod common;
use common::*;

#[test]
fn sieve_scripts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    ok(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    let good = dir.path().join("good.sieve");
    std::fs::write(&good, "require \"fileinto\";\nfileinto \"Archive\";\n").unwrap();
    let broken = dir.path().join("broken.sieve");
    std::fs::write(&broken, "require \"fileinto\";\n\nfileinto \"x\"\nstop;\n").unwrap();
    let unsupported = dir.path().join("enotify.sieve");
    std::fs::write(&unsupported, "require \"enotify\";\ndiscard;\n").unwrap();

    let path = good.to_str().unwrap();
    assert_eq!(
        ok(&config, &["sieve", "check", path], None),
        format!("{path}: ok\n")
    );
    for (file, needle) in [(&broken, "line 4"), (&unsupported, "enotify")] {
        let out = hermod(&config, &["sieve", "check", file.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(needle), "{err}");
        let put = [
            "sieve",
            "put",
            "alice@example.test",
            "bad",
            file.to_str().unwrap(),
        ];
        assert!(!hermod(&config, &put, None).status.success(), "not stored");
    }

    ok(
        &config,
        &["sieve", "put", "alice@example.test", "main", path],
        None,
    );
    ok(
        &config,
        &["sieve", "put", "alice@example.test", "spare", path],
        None,
    );
    ok(
        &config,
        &["sieve", "activate", "alice@example.test", "main"],
        None,
    );
    let size = std::fs::metadata(&good).unwrap().len();
    assert_eq!(
        ok(&config, &["sieve", "list", "alice@example.test"], None),
        format!("main {size} active\nspare {size}\n")
    );
    assert_eq!(
        ok(
            &config,
            &["sieve", "get", "alice@example.test", "main"],
            None
        ),
        std::fs::read_to_string(&good).unwrap()
    );
    let out = hermod(
        &config,
        &["sieve", "delete", "alice@example.test", "main"],
        None,
    );
    assert!(!out.status.success(), "the active script stays");
    assert!(String::from_utf8(out.stderr).unwrap().contains("is active"));
    ok(
        &config,
        &["sieve", "activate", "alice@example.test", "--none"],
        None,
    );
    ok(
        &config,
        &["sieve", "delete", "alice@example.test", "main"],
        None,
    );
    assert_eq!(
        ok(&config, &["sieve", "list", "alice@example.test"], None),
        format!("spare {size}\n")
    );
    let out = hermod(&config, &["sieve", "list", "nobody@example.test"], None);
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("no such user")
    );
}
