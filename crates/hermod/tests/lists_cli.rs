//! `hermod list` as an administrator drives it: create, members, moderators, held posts
//! approved and rejected, and the errors that keep lists and accounts apart.

mod common;
use common::*;

fn fails(config: &std::path::Path, args: &[&str]) -> String {
    let out = hermod(config, args, None);
    assert!(!out.status.success(), "hermod {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    err
}

#[test]
fn lists_members_moderators_and_held_posts() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    ok(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    let create = [
        "list",
        "create",
        "Team@example.test",
        "--owner",
        "alice@example.test",
    ];
    assert_eq!(ok(&config, &create, None), "created team@example.test\n");
    assert!(fails(&config, &create).contains("already exists"));
    let shadow = [
        "list",
        "create",
        "alice@example.test",
        "--owner",
        "alice@example.test",
    ];
    assert!(fails(&config, &shadow).contains("already taken"));
    let user = [
        "user",
        "add",
        "team-request@example.test",
        "--password-stdin",
    ];
    let out = hermod(&config, &user, Some("pw\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already taken"));
    let announce = [
        "list",
        "create",
        "news@example.test",
        "--owner",
        "alice@example.test",
        "--mode",
        "announce",
        "--refuse-non-members",
    ];
    ok(&config, &announce, None);
    assert_eq!(
        ok(&config, &["list", "lists"], None),
        "news@example.test\tannounce\t0 active\nteam@example.test\tdiscussion\t0 active\n"
    );

    let add = [
        "list",
        "add",
        "team@example.test",
        "bob@remote.test",
        "Carol@Remote.test",
    ];
    ok(&config, &add, None);
    assert_eq!(
        ok(&config, &["list", "members", "team@example.test"], None),
        "bob@remote.test\tactive\t0 bounces\ncarol@remote.test\tactive\t0 bounces\n"
    );
    let remove = [
        "list",
        "remove",
        "team@example.test",
        "bob@remote.test",
        "zed@remote.test",
    ];
    assert!(fails(&config, &remove).contains("not members of team@example.test: zed@remote.test"));
    let mods = [
        "list",
        "moderators",
        "team@example.test",
        "mod@example.test",
    ];
    assert_eq!(ok(&config, &mods, None), "mod@example.test\n");
    let show = ok(&config, &["list", "show", "team@example.test"], None);
    for line in [
        "owner: alice@example.test",
        "mode: discussion",
        "non-members' posts: held",
        "members: 1 active, 0 pending, 0 suspended",
        "moderators: mod@example.test",
        "held posts: 0",
    ] {
        assert!(show.contains(line), "{line} in {show}");
    }
    let unmod = [
        "list",
        "moderators",
        "team@example.test",
        "mod@example.test",
        "--remove",
    ];
    assert_eq!(ok(&config, &unmod, None), "");

    // Held posts: one approved (carol is remote: her copy is queued), one rejected.
    let list_id = {
        use hermod_store::SqliteStore;
        let store = SqliteStore::open(dir.path()).unwrap();
        let list = store.list("team@example.test").unwrap().unwrap();
        let post = b"From: eve@remote.test\r\nSubject: held one\r\n\r\nhi\r\n";
        store
            .list_hold(list.id, Some("eve@remote.test"), "held one", post)
            .unwrap();
        store.list_hold(list.id, None, "held two", post).unwrap();
        list.id
    };
    let held = ok(&config, &["list", "held", "team@example.test"], None);
    assert_eq!(held.lines().count(), 2, "{held}");
    assert!(
        held.lines()
            .next()
            .unwrap()
            .ends_with("\teve@remote.test\theld one"),
        "{held}"
    );
    let first = held.split('\t').next().unwrap().to_owned();
    let second = held
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let approved = ok(
        &config,
        &["list", "approve", "team@example.test", &first],
        None,
    );
    assert!(approved.contains("1 copies"), "{approved}");
    assert!(
        fails(&config, &["list", "approve", "team@example.test", &first]).contains("no held post")
    );
    ok(
        &config,
        &[
            "list",
            "reject",
            "team@example.test",
            &second,
            "--reason",
            "off topic",
        ],
        None,
    );
    assert_eq!(
        ok(&config, &["list", "held", "team@example.test"], None),
        ""
    );
    let queue = ok(&config, &["queue", "list"], None);
    assert!(queue.contains("carol@remote.test"), "{queue}");
    let entry = queue
        .lines()
        .find(|l| l.contains("<team+bounce-carol=remote.test@example.test>"))
        .unwrap_or_else(|| panic!("carol's VERP entry in {queue}"));
    let entry_id = entry.split('\t').next().unwrap();
    let deleted = ok(&config, &["queue", "delete", entry_id, "--bounce"], None);
    assert!(deleted.contains("nobody to tell"), "{deleted}");

    ok(&config, &["list", "delete", "team@example.test"], None);
    assert!(fails(&config, &["list", "show", "team@example.test"]).contains("no such list"));
    let store = hermod_store::SqliteStore::open(dir.path()).unwrap();
    assert!(store.list_members(list_id).unwrap().is_empty());
}

#[test]
fn archived_posts_are_written_as_an_mbox() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    ok(&config, &["domain", "add", "example.test"], None);
    let create = [
        "list",
        "create",
        "team@example.test",
        "--owner",
        "owner@example.test",
        "--archive",
    ];
    ok(&config, &create, None);
    let show = ok(&config, &["list", "show", "team@example.test"], None);
    assert!(show.contains("archive: yes"), "{show}");
    let out = dir.path().join("team.mbox");
    let out_arg = out.to_str().unwrap();
    {
        let store = hermod_store::SqliteStore::open(dir.path()).unwrap();
        let list = store.list("team@example.test").unwrap().unwrap();
        let post = b"From: Eve <eve@remote.test>\r\nSubject: quoting\r\n\r\nFrom here on\r\n>From there\r\n";
        store
            .list_hold(list.id, Some("eve@remote.test"), "quoting", post)
            .unwrap();
    }
    let held = ok(&config, &["list", "held", "team@example.test"], None);
    let id = held.split('\t').next().unwrap().to_owned();
    ok(
        &config,
        &["list", "approve", "team@example.test", &id],
        None,
    );
    let wrote = ok(
        &config,
        &["list", "archive", "team@example.test", out_arg],
        None,
    );
    assert!(wrote.starts_with("wrote 1 posts"), "{wrote}");
    let mbox = std::fs::read_to_string(&out).unwrap();
    assert!(mbox.starts_with("From eve@remote.test "), "{mbox}");
    for line in [
        "List-Id: <team.example.test>\n",
        "\n>From here on\n",
        "\n>>From there\n",
    ] {
        assert!(mbox.contains(line), "{line:?} in {mbox}");
    }
    assert!(
        !mbox.contains("Return-Path") && !mbox.contains('\r'),
        "{mbox}"
    );

    ok(
        &config,
        &[
            "list",
            "create",
            "plain@example.test",
            "--owner",
            "owner@example.test",
        ],
        None,
    );
    let out = hermod(
        &config,
        &["list", "archive", "plain@example.test", out_arg],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps no archive"));
}
