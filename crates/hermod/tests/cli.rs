//! The command line as users drive it: management commands, config errors, export/import.

mod common;
use common::*;

#[test]
fn domains_users_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "Example.TEST"], None);
    assert_eq!(ok(&config, &["domain", "list"], None), "example.test\n");
    let records = ok(&config, &["domain", "dns", "example.test"], None);
    for needle in [
        "IN\tMX\t10 mx.example.test.",
        "\"v=spf1 mx -all\"",
        "hermod-ed25519._domainkey.example.test.",
        "k=rsa; p=MIIB",
        "_dmarc.example.test.",
    ] {
        assert!(records.contains(needle), "{needle} missing in {records}");
    }
    assert!(
        !hermod(&config, &["domain", "dns", "other.test"], None)
            .status
            .success()
    );
    let rotated = ok(&config, &["domain", "dkim-rotate", "example.test"], None);
    for needle in [
        "hermod-ed25519-2._domainkey.example.test.",
        "hermod-rsa-2._domainkey.example.test.",
    ] {
        assert!(rotated.contains(needle), "{needle} missing in {rotated}");
    }
    let records = ok(&config, &["domain", "dns", "example.test"], None);
    assert!(
        records.contains("; hermod-ed25519 no longer signs")
            && records.contains("hermod-ed25519._domainkey.example.test.")
            && records.contains("hermod-rsa-2._domainkey.example.test."),
        "{records}"
    );
    assert!(
        !hermod(&config, &["domain", "dkim-rotate", "other.test"], None)
            .status
            .success()
    );

    let out = hermod(
        &config,
        &["user", "add", "bob@unknown.test", "--password-stdin"],
        Some("pw\n"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("unknown domain unknown.test"), "{err}");

    ok(
        &config,
        &[
            "user",
            "add",
            "alice@example.test",
            "--password-stdin",
            "--quota",
            "1000000",
        ],
        Some("s3cret\n"),
    );
    let out = hermod(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("x\n"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    ok(
        &config,
        &["user", "passwd", "alice@example.test", "--password-stdin"],
        Some("n3w\n"),
    );
    let users = ok(&config, &["user", "list"], None);
    assert!(
        users.starts_with("alice@example.test\tused=0\tquota=1000000"),
        "{users}"
    );
    assert!(!users.contains("admin"), "{users}");
    ok(
        &config,
        &["user", "quota", "alice@example.test", "2000000"],
        None,
    );
    assert!(ok(&config, &["user", "list"], None).contains("quota=2000000"));
    ok(
        &config,
        &["user", "quota", "alice@example.test", "unlimited"],
        None,
    );
    assert!(ok(&config, &["user", "list"], None).contains("quota=unlimited"));
    ok(
        &config,
        &["user", "quota", "alice@example.test", "1000000"],
        None,
    );
    ok(
        &config,
        &["user", "admin", "Alice@example.test", "on"],
        None,
    );
    let users = ok(&config, &["user", "list"], None);
    assert!(users.trim_end().ends_with("\tadmin"), "{users}");
    ok(
        &config,
        &["user", "admin", "alice@example.test", "off"],
        None,
    );
    assert!(!ok(&config, &["user", "list"], None).contains("admin"));
    let out = hermod(
        &config,
        &["user", "admin", "nobody@example.test", "on"],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));

    ok(
        &config,
        &[
            "user",
            "send-as",
            "alice@example.test",
            "@example.test",
            "Boss@Corp.test",
        ],
        None,
    );
    let users = ok(&config, &["user", "list"], None);
    assert!(
        users.contains("send_as=@example.test,boss@corp.test"),
        "{users}"
    );
    let bad = hermod(
        &config,
        &["user", "send-as", "alice@example.test", "not a pattern"],
        None,
    );
    assert!(!bad.status.success());
    ok(&config, &["user", "send-as", "alice@example.test"], None);
    assert!(!ok(&config, &["user", "list"], None).contains("send_as"));

    let out = hermod(
        &config,
        &["user", "add", "not an address", "--password-stdin"],
        Some("x\n"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("hermod: invalid address"));

    ok(
        &config,
        &[
            "alias",
            "add",
            "postmaster@example.test",
            "alice@example.test",
        ],
        None,
    );
    ok(
        &config,
        &["alias", "add", "@example.test", "alice@example.test"],
        None,
    );
    let aliases = ok(&config, &["alias", "list"], None);
    assert_eq!(
        aliases,
        "@example.test\talice@example.test\npostmaster@example.test\talice@example.test\n"
    );
    let out = hermod(
        &config,
        &["alias", "add", "fwd@example.test", "someone@remote.test"],
        None,
    );
    assert!(
        !out.status.success(),
        "remote targets need outbound delivery"
    );
    ok(&config, &["alias", "remove", "@example.test"], None);

    let out = hermod(&config, &["domain", "remove", "example.test"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("still has 1 user(s)"));
    ok(
        &config,
        &["alias", "remove", "postmaster@example.test"],
        None,
    );
    ok(&config, &["user", "remove", "alice@example.test"], None);
    ok(&config, &["domain", "remove", "example.test"], None);
    assert_eq!(ok(&config, &["domain", "list"], None), "");
}

#[test]
fn first_command_writes_a_commented_default_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sub/hermod.toml");
    ok(&config, &["domain", "list"], None);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("2525") && text.contains('#'), "{text}");
    assert!(
        dir.path().join("sub/hermod.db").exists(),
        "data_dir is the config's folder"
    );
}

#[test]
fn bad_config_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hermod.toml");
    std::fs::write(
        &config,
        "hostnme = \"x\"\n[limits]\nmax_recipients = -1\n[listen]\nsmtp = [\"nowhere\"]\n",
    )
    .unwrap();
    let out = hermod(&config, &["serve"], None);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    for key in ["hostnme", "limits.max_recipients", "listen.smtp[0]"] {
        assert!(err.contains(key), "missing {key} in: {err}");
    }
}

/// `[store] backend = "postgres"`: refused while the backend is unfinished; once it is,
/// a database that cannot be reached stops `serve` with the key to look at.
#[test]
fn serve_on_postgres_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    // Port 1 on loopback: nothing listens there.
    text.push_str(
        "[store]\nbackend = \"postgres\"\n\
         url = \"postgres://hermod:secret@127.0.0.1:1/hermod?sslmode=disable\"\n\
         connect_timeout = \"2s\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let out = hermod(&config, &["serve"], None);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let expected = match hermod_store::POSTGRES_INCOMPLETE {
        true => "backend = \"postgres\" is not finished",
        false => "cannot open the PostgreSQL store ([store] url)",
    };
    assert!(err.contains(expected), "{err}");
    assert!(
        !err.contains("secret"),
        "the password stays out of the log: {err}"
    );
}

#[test]
fn export_and_import_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    ok(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    ok(
        &config,
        &["user", "add", "bob@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    let mbox = dir.path().join("in.mbox");
    std::fs::write(&mbox, "From a@b Sat Jan  1 00:00:00 2000\nSubject: one\n\n>From quoted\n\nFrom c@d Sat Jan  1 00:00:00 2000\nSubject: two\n\nbody\n").unwrap();
    ok(
        &config,
        &["import", "alice@example.test", mbox.to_str().unwrap()],
        None,
    );

    let maildir = dir.path().join("in-maildir");
    for sub in [
        "cur",
        "new",
        "tmp",
        ".Archive.2024/cur",
        ".Archive.2024/new",
        ".Archive.2024/tmp",
    ] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("cur/1.x.host:2,SF"), "Subject: seen\n\nx\n").unwrap();
    std::fs::write(
        maildir.join(".Archive.2024/new/2.y.host"),
        "Subject: archived\n\ny\n",
    )
    .unwrap();
    ok(
        &config,
        &["import", "alice@example.test", maildir.to_str().unwrap()],
        None,
    );

    let out = dir.path().join("out");
    ok(
        &config,
        &["export", "alice@example.test", out.to_str().unwrap()],
        None,
    );
    let mut inbox = maildir_messages(&out);
    inbox.sort();
    assert_eq!(
        inbox,
        [
            "Subject: one\n\nFrom quoted\n",
            "Subject: seen\n\nx\n",
            "Subject: two\n\nbody\n"
        ]
    );
    assert_eq!(
        maildir_messages(&out.join(".Archive.2024")),
        ["Subject: archived\n\ny\n"]
    );
    let seen: Vec<_> = std::fs::read_dir(out.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(":2,FS"))
        .collect();
    assert_eq!(seen.len(), 1, "flags survive: {seen:?}");
    for folder in ["Sent", "Drafts", "Trash", "Junk"] {
        assert!(
            out.join(format!(".{folder}/cur")).is_dir(),
            "default folder {folder}"
        );
    }
    let err = hermod(
        &config,
        &["export", "nobody@example.test", out.to_str().unwrap()],
        None,
    );
    assert!(String::from_utf8_lossy(&err.stderr).contains("no such user"));

    // A missing parent is an error in one line, and nothing is created.
    let deep = dir.path().join("missing/parent/x");
    let err = hermod(
        &config,
        &["export", "alice@example.test", deep.to_str().unwrap()],
        None,
    );
    assert!(!err.status.success());
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!dir.path().join("missing").exists());
}

/// Puts a message for remote recipients into the queue, as submission would.
fn enqueue(dir: &std::path::Path, to: &[&str]) -> i64 {
    enqueue_held(dir, to, None)
}

/// Like [`enqueue`], held by the bulk guard when `held` gives a reason.
fn enqueue_held(dir: &std::path::Path, to: &[&str], held: Option<&str>) -> i64 {
    use hermod_store::{BlockingStore, Outbound, OutboundRecipient, SqliteStore};
    use std::io::Write;
    let store = SqliteStore::open(dir).unwrap();
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"From: alice@example.test\r\nSubject: queued\r\n\r\nhi\r\n")
        .unwrap();
    let recipients = to
        .iter()
        .map(|a| OutboundRecipient {
            address: (*a).into(),
            notify: None,
            orcpt: None,
        })
        .collect();
    let outbound = Outbound {
        sender: Some("alice@example.test".into()),
        recipients,
        envid: None,
        ret: None,
        smtputf8: false,
        held: held.map(str::to_owned),
    };
    store
        .submit(w.seal().unwrap(), &[], Some(&outbound))
        .unwrap()
        .queue_id
        .unwrap()
}

#[test]
fn queue_list_show_retry_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    ok(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    assert_eq!(
        ok(&config, &["queue", "list"], None),
        "the queue is empty\n"
    );
    let first = enqueue(dir.path(), &["x@far.test", "y@far.test"]);
    let second = enqueue(dir.path(), &["z@far.test"]);
    let list = ok(&config, &["queue", "list"], None);
    assert!(
        list.starts_with(&format!("{first}\t"))
            && list.contains("<alice@example.test>\t2 recipient(s)"),
        "{list}"
    );
    assert!(list.contains("\tx@far.test\tpending\tattempts=0"), "{list}");
    let show = ok(&config, &["queue", "show", &first.to_string()], None);
    assert!(show.contains("Subject: queued"), "{show}");
    assert_eq!(
        ok(&config, &["queue", "retry"], None),
        "3 recipient(s) will be tried now\n"
    );
    assert!(
        !hermod(&config, &["queue", "retry", "999"], None)
            .status
            .success()
    );

    ok(
        &config,
        &["queue", "delete", &first.to_string(), "--bounce"],
        None,
    );
    ok(&config, &["queue", "delete", &second.to_string()], None);
    assert_eq!(
        ok(&config, &["queue", "list"], None),
        "the queue is empty\n"
    );
    let out = dir.path().join("out");
    ok(
        &config,
        &["export", "alice@example.test", out.to_str().unwrap()],
        None,
    );
    let inbox = maildir_messages(&out);
    assert_eq!(
        inbox.len(),
        1,
        "one bounce, for the message deleted with --bounce"
    );
    assert!(
        inbox[0].contains("Final-Recipient: rfc822; y@far.test")
            && inbox[0].contains("deleted from the queue"),
        "{}",
        inbox[0]
    );
}

/// A made-up message whose body draws on one of two vocabularies.
fn corpus_message(spam: bool, n: usize) -> String {
    let words: &[&str] = if spam {
        &[
            "viagra",
            "winner",
            "lottery",
            "casino",
            "unsubscribe",
            "cheap",
            "pills",
            "bonus",
        ]
    } else {
        &[
            "meeting", "agenda", "minutes", "project", "review", "deadline", "lunch", "budget",
        ]
    };
    let body: Vec<&str> = (0..12)
        .map(|i| words[(n * 3 + i * 5) % words.len()])
        .collect();
    format!(
        "From: sender{n}@{}.test\r\nTo: alice@example.test\r\nSubject: {} {n}\r\n\
         Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{n}@x.test>\r\n\r\n{}\r\n",
        if spam { "promo" } else { "work" },
        words[n % words.len()],
        body.join(" ")
    )
}

#[test]
fn spam_train_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let probe_spam = dir.path().join("probe-spam.eml");
    let probe_ham = dir.path().join("probe-ham.eml");
    std::fs::write(&probe_spam, corpus_message(true, 999)).unwrap();
    std::fs::write(&probe_ham, corpus_message(false, 999)).unwrap();
    let files = [probe_spam.to_str().unwrap(), probe_ham.to_str().unwrap()];

    // Untrained: rules only, and it says so.
    let out = hermod(&config, &["spam", "check", files[0], files[1]], None);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("untrained"), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.starts_with("ham ")), "{text}");

    // A folder of files for spam, an mbox for ham.
    let spam_dir = dir.path().join("spam");
    std::fs::create_dir(&spam_dir).unwrap();
    let mut mbox = String::new();
    for n in 0..60 {
        std::fs::write(spam_dir.join(format!("{n}.eml")), corpus_message(true, n)).unwrap();
        mbox.push_str("From someone@x.test Sat Nov 28 10:00:00 2026\n");
        mbox.push_str(&corpus_message(false, n).replace("\r\n", "\n"));
        mbox.push('\n');
    }
    let ham_mbox = dir.path().join("ham.mbox");
    std::fs::write(&ham_mbox, mbox).unwrap();
    let args = [
        "spam",
        "train",
        "--spam",
        spam_dir.to_str().unwrap(),
        "--ham",
        ham_mbox.to_str().unwrap(),
    ];
    let trained = ok(&config, &args, None);
    assert!(trained.contains("learned 60 spam and 60 ham"), "{trained}");
    assert!(trained.contains("now knows 60 spam, 60 ham"), "{trained}");
    // Too small a batch to fit the junk cut: the default stays.
    assert!(trained.contains("junk cut unchanged (0.6000)"), "{trained}");
    // The same messages again are not counted twice; one spam taught as ham moves over.
    let again = ok(&config, &args, None);
    assert!(again.contains("learned 0 spam and 0 ham"), "{again}");
    assert!(again.contains("120 already known"), "{again}");
    assert!(again.contains("now knows 60 spam, 60 ham"), "{again}");
    let one = spam_dir.join("0.eml");
    let moved = ok(
        &config,
        &["spam", "train", "--ham", one.to_str().unwrap()],
        None,
    );
    assert!(
        moved.contains("learned 0 spam and 1 ham messages (1 moved"),
        "{moved}"
    );
    assert!(moved.contains("now knows 59 spam, 61 ham"), "{moved}");
    let back = ok(
        &config,
        &["spam", "train", "--spam", one.to_str().unwrap()],
        None,
    );
    assert!(back.contains("now knows 60 spam, 60 ham"), "{back}");

    let text = ok(&config, &["spam", "check", files[0], files[1]], None);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("spam ") && lines[0].contains("BAYES_99"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("ham ") && lines[1].contains("BAYES_00"),
        "{text}"
    );
    assert!(lines[0].ends_with("probe-spam.eml"), "{text}");

    let out = hermod(&config, &["spam", "train"], None);
    assert!(!out.status.success());
    let out = hermod(&config, &["spam", "check", "/nonexistent/file"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/file"));
}

/// A batch of 1000 ham and 100 spam fits the junk cut on its held-out verdicts and stores
/// it; a later small batch keeps it. (These made-up messages are never in between: the
/// cut stays at the top, where the classifier is sure whatever the cut.)
#[test]
fn spam_train_fits_and_keeps_the_junk_cut() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (spam_dir, ham_dir) = (dir.path().join("spam"), dir.path().join("ham"));
    std::fs::create_dir(&spam_dir).unwrap();
    std::fs::create_dir(&ham_dir).unwrap();
    for n in 0..1000 {
        if n < 100 {
            std::fs::write(spam_dir.join(format!("{n}.eml")), corpus_message(true, n)).unwrap();
        }
        std::fs::write(ham_dir.join(format!("{n}.eml")), corpus_message(false, n)).unwrap();
    }
    let [spam, ham] = [&spam_dir, &ham_dir].map(|d| d.to_str().unwrap().to_owned());
    let fitted = ok(
        &config,
        &["spam", "train", "--spam", &spam, "--ham", &ham],
        None,
    );
    assert!(
        fitted.contains("junk cut 0.9900: of 100 spam and 1000 ham judged held out")
            && fitted.contains("100 spam and 0 ham would be filed into Junk"),
        "{fitted}"
    );
    let one = spam_dir.join("0.eml");
    let small = ok(
        &config,
        &["spam", "train", "--ham", one.to_str().unwrap()],
        None,
    );
    assert!(small.contains("junk cut unchanged (0.9900)"), "{small}");
}

#[test]
fn held_mail_frozen_accounts_and_bulk_senders() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    ok(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    assert_eq!(ok(&config, &["queue", "held"], None), "nothing is held\n");
    let free = enqueue(dir.path(), &["x@far.test"]);
    let held = enqueue_held(
        dir.path(),
        &["y@far.test"],
        Some("51 recipients (threshold 50)"),
    );
    let gone = enqueue_held(
        dir.path(),
        &["z@far.test"],
        Some("52 recipients (threshold 50)"),
    );
    let list = ok(&config, &["queue", "held"], None);
    assert!(list.starts_with(&format!("{held}\t")), "{list}");
    assert!(
        list.contains("\theld: 51 recipients (threshold 50)"),
        "{list}"
    );
    assert!(!list.contains(&format!("\n{free}\t")), "{list}");
    let refused = hermod(&config, &["queue", "release", &free.to_string()], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not held"));
    let released = ok(&config, &["queue", "release", &held.to_string()], None);
    assert!(
        released.starts_with(&format!("released {held}")),
        "{released}"
    );
    ok(&config, &["queue", "delete", &gone.to_string()], None);
    assert_eq!(ok(&config, &["queue", "held"], None), "nothing is held\n");

    ok(&config, &["user", "freeze", "alice@example.test"], None);
    ok(
        &config,
        &["user", "bulk", "alice@example.test", "allow"],
        None,
    );
    let users = ok(&config, &["user", "list"], None);
    assert!(users.contains("\tbulk=allow\tfrozen"), "{users}");
    ok(&config, &["user", "unfreeze", "alice@example.test"], None);
    ok(
        &config,
        &["user", "bulk", "alice@example.test", "guard"],
        None,
    );
    let users = ok(&config, &["user", "list"], None);
    assert!(
        !users.contains("bulk=") && !users.contains("frozen"),
        "{users}"
    );
    assert!(
        !hermod(
            &config,
            &["user", "bulk", "alice@example.test", "maybe"],
            None
        )
        .status
        .success()
    );
    assert!(
        !hermod(&config, &["user", "freeze", "nobody@example.test"], None)
            .status
            .success()
    );
}

#[test]
fn spam_block_edits_the_block_list_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["spam", "block", "add", "192.0.2.7/24"], None);
    ok(&config, &["spam", "block", "add", "2001:db8::1"], None);
    let listed = ok(&config, &["spam", "block", "list"], None);
    assert_eq!(listed, "192.0.2.0/24\n2001:db8::1/128\n");
    let again = hermod(&config, &["spam", "block", "add", "192.0.2.0/24"], None);
    assert!(!again.status.success());
    ok(&config, &["spam", "block", "remove", "192.0.2.0/24"], None);
    let file = std::fs::read_to_string(dir.path().join("blocklist.txt")).unwrap();
    assert_eq!(file, "# networks refused at connect\n2001:db8::1/128\n");
    let absent = hermod(&config, &["spam", "block", "remove", "198.51.100.1"], None);
    assert!(!absent.status.success());
}

#[test]
fn spam_allow_edits_the_allow_list_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let without = hermod(&config, &["spam", "allow", "list"], None);
    assert!(!without.status.success());
    let said = String::from_utf8_lossy(&without.stderr);
    assert!(said.contains("allowlist_file"), "{said}");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("allowlist_file = \"allowlist.txt\"\n");
    std::fs::write(&config, text).unwrap();
    ok(&config, &["spam", "allow", "add", "198.51.100.0/24"], None);
    let listed = ok(&config, &["spam", "allow", "list"], None);
    assert_eq!(listed, "198.51.100.0/24\n");
    let block = ok(&config, &["spam", "block", "list"], None);
    assert_eq!(block, "", "the block list is another file");
    ok(
        &config,
        &["spam", "allow", "remove", "198.51.100.0/24"],
        None,
    );
    let file = std::fs::read_to_string(dir.path().join("allowlist.txt")).unwrap();
    assert_eq!(file, "\n");
}

#[test]
fn user_spam_threshold_is_kept_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    let add = ["user", "add", "alice@example.test", "--password-stdin"];
    ok(&config, &add, Some("pw-alice-1\n"));
    let set = |value: &str| {
        hermod(
            &config,
            &["user", "spam-threshold", "alice@example.test", value],
            None,
        )
    };
    assert!(set("3.5").status.success());
    let listed = ok(&config, &["user", "list"], None);
    assert!(listed.contains("junk_threshold=3.5"), "{listed}");
    // Above the reject threshold (15 by default), or not a number: refused.
    assert!(!set("20").status.success());
    assert!(!set("lots").status.success());
    assert!(set("default").status.success());
    let listed = ok(&config, &["user", "list"], None);
    assert!(!listed.contains("junk_threshold"), "{listed}");
}

#[test]
fn spam_learn_junk_teaches_the_account_its_junk_folder_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    let add = ["user", "add", "alice@example.test", "--password-stdin"];
    ok(&config, &add, Some("pw-alice-1\n"));
    let maildir = dir.path().join("in-maildir");
    for sub in ["cur", "new", "tmp", ".Junk/cur", ".Junk/new", ".Junk/tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("cur/1.x.host:2,S"), corpus_message(false, 1)).unwrap();
    for n in 0..2 {
        let name = format!(".Junk/cur/{}.j.host:2,S", n + 2);
        std::fs::write(maildir.join(name), corpus_message(true, n)).unwrap();
    }
    let path = maildir.to_str().unwrap();
    ok(&config, &["import", "alice@example.test", path], None);
    let learn = ["spam", "learn-junk", "alice@example.test"];
    let first = ok(&config, &learn, None);
    assert!(first.contains("2 message(s) in Junk, 2 learned"), "{first}");
    let again = ok(&config, &learn, None);
    assert!(
        again.contains("0 learned as spam now (2 known already)"),
        "{again}"
    );
    let nobody = hermod(&config, &["spam", "learn-junk", "bob@example.test"], None);
    assert!(!nobody.status.success());
}
