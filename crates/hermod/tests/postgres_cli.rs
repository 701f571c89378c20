//! The management commands on a PostgreSQL store: the same commands, the same answers, and
//! nothing written to an embedded store beside it.

mod common;
use common::*;

#[path = "../../store/tests/support/postgres.rs"]
mod postgres;

use std::path::{Path, PathBuf};

/// A data folder whose configuration names a fresh PostgreSQL database.
fn postgres_config(dir: &Path) -> PathBuf {
    let url = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(postgres::fresh_database());
    let path = write_config(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn fails(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = hermod(config, args, stdin);
    assert!(!out.status.success(), "hermod {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn domains_users_and_aliases_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let config = postgres_config(dir.path());
    ok(&config, &["domain", "add", "Example.TEST"], None);
    assert_eq!(ok(&config, &["domain", "list"], None), "example.test\n");
    let records = ok(&config, &["domain", "dns", "example.test"], None);
    assert!(records.contains("hermod-ed25519._domainkey.example.test."));
    let add = ["user", "add", "alice@example.test", "--password-stdin"];
    ok(&config, &add, Some("s3cret\n"));
    assert!(fails(&config, &add, Some("again\n")).contains("already exists"));
    ok(
        &config,
        &["user", "quota", "alice@example.test", "5000"],
        None,
    );
    ok(
        &config,
        &["user", "send-as", "alice@example.test", "@example.test"],
        None,
    );
    ok(&config, &["user", "freeze", "alice@example.test"], None);
    ok(
        &config,
        &["user", "bulk", "alice@example.test", "allow"],
        None,
    );
    ok(
        &config,
        &["user", "admin", "alice@example.test", "on"],
        None,
    );
    let users = ok(&config, &["user", "list"], None);
    assert_eq!(
        users,
        "alice@example.test\tused=0\tquota=5000\tsend_as=@example.test\tbulk=allow\tfrozen\tadmin\n"
    );
    ok(
        &config,
        &["alias", "add", "info@example.test", "alice@example.test"],
        None,
    );
    assert_eq!(
        ok(&config, &["alias", "list"], None),
        "info@example.test\talice@example.test\n"
    );
    ok(&config, &["alias", "remove", "info@example.test"], None);
    assert_eq!(ok(&config, &["alias", "list"], None), "");
    assert!(fails(&config, &["domain", "remove", "example.test"], None).contains("example.test"));
    ok(&config, &["user", "remove", "alice@example.test"], None);
    ok(&config, &["domain", "remove", "example.test"], None);
    assert_eq!(ok(&config, &["domain", "list"], None), "");
    assert!(
        !dir.path().join("hermod.db").exists(),
        "a command opened an embedded store beside PostgreSQL"
    );
}

#[test]
fn lists_sieve_queue_and_mail_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let config = postgres_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    let add = ["user", "add", "bob@example.test", "--password-stdin"];
    ok(&config, &add, Some("pw\n"));

    let create = [
        "list",
        "create",
        "team@example.test",
        "--owner",
        "bob@example.test",
    ];
    assert_eq!(ok(&config, &create, None), "created team@example.test\n");
    ok(
        &config,
        &["list", "add", "team@example.test", "x@other.test"],
        None,
    );
    assert_eq!(
        ok(&config, &["list", "members", "team@example.test"], None),
        "x@other.test\tactive\t0 bounces\n"
    );
    assert!(ok(&config, &["list", "lists"], None).starts_with("team@example.test\t"));

    let script = dir.path().join("filter.sieve");
    std::fs::write(&script, "require \"fileinto\";\nfileinto \"Junk\";\n").unwrap();
    let script = script.to_str().unwrap();
    ok(
        &config,
        &["sieve", "put", "bob@example.test", "main", script],
        None,
    );
    ok(
        &config,
        &["sieve", "activate", "bob@example.test", "main"],
        None,
    );
    assert!(ok(&config, &["sieve", "list", "bob@example.test"], None).contains("main "));
    assert!(ok(&config, &["sieve", "get", "bob@example.test", "main"], None).contains("Junk"));
    let delete = ["sieve", "delete", "bob@example.test", "main"];
    assert!(
        !hermod(&config, &delete, None).status.success(),
        "the active script"
    );

    assert_eq!(
        ok(&config, &["queue", "list"], None),
        "the queue is empty\n"
    );
    assert!(fails(&config, &["queue", "show", "7"], None).contains("no queued message"));

    let mbox = dir.path().join("in.mbox");
    std::fs::write(
        &mbox,
        "From a@b Sat Jan  1 00:00:00 2000\nSubject: hello\n\nfirst\n\nFrom a@b Sat Jan  1 00:00:00 2000\nSubject: again\n\nsecond\n",
    )
    .unwrap();
    ok(
        &config,
        &["import", "bob@example.test", mbox.to_str().unwrap()],
        None,
    );
    let out = dir.path().join("out");
    ok(
        &config,
        &["export", "bob@example.test", out.to_str().unwrap()],
        None,
    );
    let exported = maildir_messages(&out);
    assert_eq!(exported.len(), 2, "{exported:?}");
    assert!(exported.iter().any(|m| m.contains("Subject: again")));
    assert!(!dir.path().join("hermod.db").exists());
}

#[test]
fn backup_refuses_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let config = postgres_config(dir.path());
    let target = dir.path().join("backup");
    let err = fails(&config, &["backup", target.to_str().unwrap()], None);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!target.exists());
}

#[test]
fn store_migrate_moves_an_embedded_store_and_refuses_while_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    let add = ["user", "add", "bob@example.test", "--password-stdin"];
    ok(&config, &add, Some("pw\n"));
    ok(
        &config,
        &["alias", "add", "info@example.test", "bob@example.test"],
        None,
    );
    let users = ok(&config, &["user", "list"], None);
    let url = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(postgres::fresh_database());

    let mut server = serve(&config);
    let err = fails(&config, &["store", "migrate", "--to", &url], None);
    assert!(err.contains("in use by a running hermod"), "{err}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let out = ok(&config, &["store", "migrate", "--to", &url], None);
    assert!(out.contains("users: 1 rows"), "{out}");
    assert!(out.contains("aliases: 1 rows"), "{out}");
    assert!(out.contains("secrets: srs.key"), "{out}");
    let err = fails(&config, &["store", "migrate", "--to", &url], None);
    assert!(err.contains("not empty"), "{err}");

    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    assert_eq!(ok(&config, &["user", "list"], None), users);
    assert_eq!(
        ok(&config, &["alias", "list"], None),
        "info@example.test\tbob@example.test\n"
    );
}
