//! The host against a real store: scripts in, verdicts out (folders, flags, rejects,
//! replies), for the extensions hermod offers.

use super::*;
use crate::pipeline::Folder;
use hermod_store::{BlockingStore, Directory, EmbeddedStore, Flags, MailStore};
use hermod_types::{Address, Domain, MailboxName};

struct Setup {
    _dir: tempfile::TempDir,
    store: EmbeddedStore,
    alice: UserId,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store
        .add_domain(&Domain::parse("example.test").unwrap())
        .await
        .unwrap();
    let alice = Address::parse("alice@example.test").unwrap();
    let alice = store.add_user(&alice, "h", None).await.unwrap();
    Setup {
        _dir: dir,
        store,
        alice,
    }
}

fn engine(limits: SieveLimits, before: Option<&str>, after: Option<&str>) -> SieveEngine {
    let bytes = |s: Option<&str>| s.map(|s| s.as_bytes().to_vec());
    let (b, a) = (bytes(before), bytes(after));
    SieveEngine::new("mx.example.test", limits, b.as_deref(), a.as_deref()).unwrap()
}

const MESSAGE: &[u8] = b"Received: from mx.remote.test by mx.example.test; \
Mon, 30 Nov 2026 03:00:00 +0000\r\nFrom: Carol <carol@remote.test>\r\nTo: alice@example.test\r\n\
Subject: Quarterly report\r\nMessage-ID: <q1@remote.test>\r\n\r\nNumbers are up this quarter.\r\n";

/// Puts `script` as alice's active one and runs it on MESSAGE.
async fn verdict_of(
    s: &Setup,
    engine: &SieveEngine,
    script: &str,
    spam: Option<(f64, f64)>,
) -> Verdict {
    s.store
        .blocking()
        .sieve_put(s.alice, "main", script.as_bytes())
        .unwrap();
    s.store
        .blocking()
        .sieve_activate(s.alice, Some("main"))
        .unwrap();
    let id = s
        .store
        .blocking()
        .user(&Address::parse("alice@example.test").unwrap())
        .unwrap()
        .unwrap()
        .sieve_script;
    let arrival = Arrival {
        message: &Parsed::new(MESSAGE),
        sender: Some("carol@remote.test"),
        recipient: "alice@example.test",
        user: s.alice,
        user_address: "alice@example.test",
        script: id,
        keep: Folder::Inbox,
        spam,
    };
    engine.run(&s.store, &arrival).await
}

fn named(name: &str) -> Folder {
    Folder::Named(MailboxName::parse(name).unwrap())
}

fn folders(v: &Verdict) -> Vec<Folder> {
    v.filed.iter().map(|(f, _, _)| f.clone()).collect()
}

/// A table of scripts in the style of RFC 5228's examples: the folders each one files into
/// (empty: discarded), or its reject reason.
#[tokio::test]
async fn rfc_5228_style_examples() {
    let s = setup().await;
    let e = engine(SieveLimits::default(), None, None);
    let table: &[(&str, &[&str], Option<&str>)] = &[
        ("keep;", &["INBOX"], None),
        ("discard;", &[], None),
        (
            r#"require "fileinto"; fileinto "Archive";"#,
            &["Archive"],
            None,
        ),
        (
            r#"require ["fileinto", "copy"]; fileinto :copy "Archive";"#,
            &["Archive", "INBOX"],
            None,
        ),
        (
            r#"if header :contains "subject" "report" { require "fileinto"; }"#,
            &["INBOX"],
            None,
        ),
        (
            r#"require "fileinto";
               if allof (address :domain "from" "remote.test", header :matches "subject" "*report") {
                   fileinto "Reports"; stop; }
               discard;"#,
            &["Reports"],
            None,
        ),
        (r#"if exists "x-nothing" { discard; }"#, &["INBOX"], None),
        (r#"if size :over 10K { discard; }"#, &["INBOX"], None),
        (r#"if size :under 1K { discard; }"#, &[], None),
        (
            r#"require "body"; if body :contains "quarter" { discard; }"#,
            &[],
            None,
        ),
        (
            r#"require "envelope"; if envelope :domain "from" "remote.test" { discard; }"#,
            &[],
            None,
        ),
        (
            r#"require ["variables", "fileinto", "mailbox"];
               if header :matches "subject" "Quarterly *" { fileinto :create "Q/${1}"; }"#,
            &["Q/report"],
            None,
        ),
        (
            r#"require ["regex", "fileinto", "mailbox"];
               if header :regex "subject" "^Q[a-z]+ly" { fileinto :create "Regex"; }"#,
            &["Regex"],
            None,
        ),
        (
            r#"require "reject"; reject "go away";"#,
            &[],
            Some("go away"),
        ),
        (
            r#"require "ereject"; ereject "refused";"#,
            &[],
            Some("refused"),
        ),
    ];
    let archive = MailboxName::parse("Archive").unwrap();
    s.store
        .blocking()
        .mailbox_create(s.alice, &archive, None)
        .unwrap();
    s.store
        .blocking()
        .mailbox_create(s.alice, &MailboxName::parse("Reports").unwrap(), None)
        .unwrap();
    for (script, expected, reject) in table {
        let v = verdict_of(&s, &e, script, None).await;
        assert_eq!(v.failure, None, "{script}");
        let want: Vec<Folder> = expected
            .iter()
            .map(|n| {
                if *n == "INBOX" {
                    Folder::Inbox
                } else {
                    named(n)
                }
            })
            .collect();
        let mut got = folders(&v);
        got.sort_by_key(|f| format!("{f:?}"));
        let mut want = want;
        want.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(got, want, "{script}");
        assert_eq!(v.reject.as_deref(), *reject, "{script}");
    }
}

#[tokio::test]
async fn flags_are_set_on_the_copies() {
    let s = setup().await;
    let e = engine(SieveLimits::default(), None, None);
    let v = verdict_of(
        &s,
        &e,
        r#"require "imap4flags"; setflag "\\Seen"; addflag ["$Work", "\\Flagged", "\\Bogus", "two words"];"#,
        None,
    )
    .await;
    let flags = &v.filed[0].1;
    assert_eq!(flags.bits, Flags::SEEN | Flags::FLAGGED);
    // RFC 5232: a string holds space-separated flags; unknown system flags are dropped.
    assert_eq!(flags.keywords, ["$Work", "two", "words"]);
}

#[tokio::test]
async fn spamtest_sees_the_score() {
    let s = setup().await;
    let e = engine(SieveLimits::default(), None, None);
    let script = r#"require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto", "mailbox"];
        if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { fileinto :create "Suspect"; }"#;
    let suspect = verdict_of(&s, &e, script, Some((4.0, 5.0))).await;
    assert_eq!(folders(&suspect), [named("Suspect")]);
    let clean = verdict_of(&s, &e, script, Some((0.5, 5.0))).await;
    assert_eq!(folders(&clean), [Folder::Inbox]);
    let unknown = verdict_of(&s, &e, script, None).await;
    assert_eq!(folders(&unknown), [Folder::Inbox], "no score: not spam");
}

#[tokio::test]
async fn duplicate_remembers_message_ids() {
    let s = setup().await;
    let e = engine(SieveLimits::default(), None, None);
    let script = r#"require "duplicate"; if duplicate { discard; }"#;
    assert_eq!(
        folders(&verdict_of(&s, &e, script, None).await),
        [Folder::Inbox]
    );
    assert!(
        folders(&verdict_of(&s, &e, script, None).await).is_empty(),
        "second copy"
    );
}

#[tokio::test]
async fn site_scripts_run_around_the_users() {
    let s = setup().await;
    let before = r#"require ["fileinto", "mailbox"]; fileinto :create "Site";"#;
    let after = r#"require ["imap4flags"]; addflag "$Checked";"#;
    let e = engine(SieveLimits::default(), Some(before), Some(after));
    let v = verdict_of(&s, &e, "keep;", None).await;
    let mut got = folders(&v);
    got.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(got, [Folder::Inbox, named("Site")]);
    // A reject anywhere in the chain wins and files nothing.
    let v = verdict_of(&s, &e, r#"require "reject"; reject "no";"#, None).await;
    assert!(v.filed.is_empty() && v.reject.is_some(), "{v:?}");
    // A broken site script stops the engine at start.
    let broken = SieveEngine::new("h", SieveLimits::default(), Some(b"if true {"), None);
    assert!(broken.is_err());
    let lacking = SieveEngine::new(
        "h",
        SieveLimits::default(),
        None,
        Some(b"require \"enotify\";"),
    );
    assert!(lacking.is_err());
}

#[tokio::test]
async fn include_reads_the_users_other_scripts() {
    let s = setup().await;
    let e = engine(SieveLimits::default(), None, None);
    s.store
        .blocking()
        .sieve_put(
            s.alice,
            "lists",
            br#"require ["fileinto", "mailbox"]; fileinto :create "Included";"#,
        )
        .unwrap();
    let v = verdict_of(
        &s,
        &e,
        r#"require "include"; include :personal "lists";"#,
        None,
    )
    .await;
    assert_eq!(folders(&v), [named("Included")]);
    let v = verdict_of(
        &s,
        &e,
        r#"require "include"; include :personal "missing";"#,
        None,
    )
    .await;
    assert!(v.failure.is_some(), "a missing include is an error: kept");
    assert_eq!(folders(&v), [Folder::Inbox]);
    let v = verdict_of(
        &s,
        &e,
        r#"require "include"; include :optional :personal "missing"; discard;"#,
        None,
    )
    .await;
    assert!(v.filed.is_empty(), "{v:?}");
}

/// The Received fields are tokenized only for chains that may read their structure; a
/// script that does reads it (directly or through an include), one that does not is told
/// the same as before by every other test.
#[tokio::test]
async fn the_trace_is_parsed_for_scripts_that_read_it() {
    let e = engine(SieveLimits::default(), None, None);
    let reads = |text: &str| e.compile(text.as_bytes()).unwrap().reads_trace;
    let by_host = r#"require ["variables", "fileinto", "mailbox"];
        fileinto :create "${header.received.rcvd.from}";"#;
    assert!(reads(by_host));
    assert!(reads(r#"require "include"; include :personal "other";"#));
    assert!(!reads(include_str!(
        "../../../../bench/sieve-20-rules.sieve"
    )));
    assert!(!reads(
        r#"require ["variables", "fileinto"]; if header :contains "received" "mx" { set "r" "${header.received}"; fileinto "INBOX"; }"#
    ));

    let s = setup().await;
    let v = verdict_of(&s, &e, by_host, None).await;
    assert_eq!(folders(&v), [named("mx.remote.test")]);
    s.store
        .blocking()
        .sieve_put(s.alice, "trace", by_host.as_bytes())
        .unwrap();
    let v = verdict_of(
        &s,
        &e,
        r#"require "include"; include :personal "trace";"#,
        None,
    )
    .await;
    assert_eq!(folders(&v), [named("mx.remote.test")]);
}

#[tokio::test]
async fn limits_stop_a_run_and_keep_the_message() {
    let s = setup().await;
    let tight = SieveLimits {
        max_cpu: 3,
        ..SieveLimits::default()
    };
    let e = engine(tight, None, None);
    let v = verdict_of(
        &s,
        &e,
        r#"if header :contains "subject" "a" { } if header :contains "subject" "b" { }
           if header :contains "subject" "c" { } if header :contains "subject" "d" { } discard;"#,
        None,
    )
    .await;
    assert!(
        v.failure.as_deref().is_some_and(|f| f.contains("max_cpu")),
        "{v:?}"
    );
    assert_eq!(folders(&v), [Folder::Inbox]);

    let one_redirect = SieveLimits {
        max_redirects: 1,
        ..SieveLimits::default()
    };
    let e = engine(one_redirect, None, None);
    let v = verdict_of(&s, &e, r#"redirect "a@x.test"; redirect "b@x.test";"#, None).await;
    assert_eq!(
        v.outgoing,
        [Outgoing::Redirect {
            to: "a@x.test".into(),
            edited: None,
        }],
        "{v:?}"
    );
}

#[test]
fn check_refuses_what_hermod_lacks() {
    let e = engine(SieveLimits::default(), None, None);
    assert!(e.check(b"require \"fileinto\"; fileinto \"x\";").is_ok());
    assert!(
        e.check(b"require \"editheader\"; addheader \"X\" \"y\";")
            .is_ok()
    );
    let err = e.check(b"require \"enotify\";").unwrap_err();
    assert!(err.message.contains("enotify"), "{err}");
    let err = e.check(b"require \"nonsense\";").unwrap_err();
    assert!(err.message.contains("nonsense"), "{err}");
    let err = e.check(b"if true {\n  keep\n}").unwrap_err();
    assert!(err.message.contains("line"), "{err}");
}

fn text_of(edited: &Option<Edited>) -> String {
    let edited = edited.as_ref().expect("an edited version");
    String::from_utf8(edited.to_vec()).unwrap()
}

/// RFC 5293: each action takes the message as edited up to then; the body stays as it was.
#[tokio::test]
async fn editheader_changes_what_later_actions_file_and_redirect() {
    let s = setup().await;
    let e = engine(SieveLimits::default(), None, None);
    let script = r#"require ["editheader", "fileinto", "copy", "mailbox", "vacation"];
        fileinto :copy :create "Untouched";
        addheader "X-Sorted" "by alice";
        addheader :last "X-Last" "one";
        deleteheader :contains "Subject" "Quarterly";
        redirect :copy "bob@elsewhere.test";
        vacation :days 1 "away";
        keep;"#;
    let v = verdict_of(&s, &e, script, None).await;
    assert_eq!(v.failure, None);
    assert_eq!(folders(&v), [named("Untouched"), Folder::Inbox]);
    assert_eq!(v.filed[0].2, None, "filed before any edit");
    let kept = text_of(&v.filed[1].2);
    assert!(
        kept.starts_with("X-Sorted: by alice\r\nReceived: from"),
        "{kept}"
    );
    assert!(
        kept.contains("Message-ID: <q1@remote.test>\r\nX-Last: one\r\n\r\n"),
        "{kept}"
    );
    assert!(!kept.contains("Subject"), "{kept}");
    assert!(
        kept.ends_with("\r\n\r\nNumbers are up this quarter.\r\n"),
        "{kept}"
    );
    let [
        Outgoing::Redirect { to, edited },
        Outgoing::Reply { message, .. },
    ] = &v.outgoing[..]
    else {
        panic!("a redirect and a vacation reply: {v:?}");
    };
    assert_eq!((to.as_str(), text_of(edited)), ("bob@elsewhere.test", kept));
    let reply = String::from_utf8_lossy(message);
    assert!(reply.contains("Auto-Submitted: auto-replied") && reply.contains("away"));
}

/// Received and Auto-Submitted (and hermod's other protected fields) stay as they are:
/// attempts are ignored silently; Subject may be changed.
#[tokio::test]
async fn editheader_leaves_protected_fields_alone() {
    let s = setup().await;
    let e = engine(SieveLimits::default(), None, None);
    let protected = r#"require "editheader";
        deleteheader "Received"; deleteheader "received";
        addheader "Received" "from forged"; addheader "auto-submitted" "no";
        addheader "Delivered-To" "x@y.test"; deleteheader "DKIM-Signature";
        keep;"#;
    let v = verdict_of(&s, &e, protected, None).await;
    assert_eq!(v.filed.len(), 1);
    assert_eq!(v.filed[0].2, None, "nothing was changed: {:?}", v.filed);
    let subject = r#"require "editheader";
        deleteheader "Subject"; addheader "Subject" "[work] Quarterly report";"#;
    let v = verdict_of(&s, &e, subject, None).await;
    let kept = text_of(&v.filed[0].2);
    assert!(
        kept.starts_with("Subject: [work] Quarterly report\r\n"),
        "{kept}"
    );
    assert_eq!(kept.matches("Subject:").count(), 1, "{kept}");
}
