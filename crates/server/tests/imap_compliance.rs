//! What Dovecot's imaptest found (docs/IMAPTEST.md), each against a real listener:
//! `\Recent` and `OK [UNSEEN]` for IMAP4rev1, FLAGS announcing new keywords, LSUB's
//! `\Noselect` parents, ESEARCH MIN/MAX with their own MODSEQ, and names in broken
//! modified UTF-7; ENVELOPE and SEARCH over addresses written with comments.

use hermod_testkit::imap_lines::{has, tagged};
use hermod_testkit::{ImapClient, TestServer};

const ALICE: &str = "alice@example.test";

async fn server_with(messages: &[&str]) -> TestServer {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    for m in messages {
        server.deliver(ALICE, m).await;
    }
    server
}

async fn logged_in(server: &TestServer) -> ImapClient {
    let mut c = server.imap_client().await;
    c.login(ALICE, "s3cret").await;
    c
}

#[tokio::test]
async fn a_message_is_recent_in_the_first_read_write_session_only() {
    let server = server_with(&["Subject: a\r\n\r\nx\r\n", "Subject: b\r\n\r\ny\r\n"]).await;
    let mut look = logged_in(&server).await;
    // EXAMINE shows what is recent without taking it (RFC 3501 2.3.2), and UNSEEN.
    let r = look.ok("EXAMINE INBOX").await;
    assert!(has(&r, "* 2 RECENT") && has(&r, "* OK [UNSEEN 1]"), "{r:?}");
    look.ok("CLOSE").await;
    let r = look.ok("STATUS INBOX (RECENT)").await;
    assert!(has(&r, "(RECENT 2)"), "{r:?}");

    let mut first = logged_in(&server).await;
    let r = first.ok("SELECT INBOX").await;
    assert!(has(&r, "* 2 RECENT"), "{r:?}");
    let r = first.ok("FETCH 1 FLAGS").await;
    assert!(has(&r, "* 1 FETCH (FLAGS (\\Recent))"), "{r:?}");
    let r = first.ok("SEARCH RECENT").await;
    assert!(has(&r, "* SEARCH 1 2"), "{r:?}");
    first.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    let r = first.ok("SEARCH NEW").await;
    assert!(has(&r, "* SEARCH 2"), "{r:?}");

    let mut second = logged_in(&server).await;
    let r = second.ok("SELECT INBOX").await;
    assert!(has(&r, "* 0 RECENT") && has(&r, "* OK [UNSEEN 2]"), "{r:?}");
    let r = second.ok("SEARCH OLD").await;
    assert!(has(&r, "* SEARCH 1 2"), "{r:?}");
    let r = second.ok("STATUS INBOX (RECENT)").await;
    assert!(has(&r, "(RECENT 0)"), "{r:?}");

    // A new message goes to whichever session is told first, with RECENT after EXISTS.
    server.deliver(ALICE, "Subject: c\r\n\r\nz\r\n").await;
    assert_eq!(second.ok("NOOP").await, ["* 3 EXISTS", "* 1 RECENT"]);
    assert_eq!(first.ok("NOOP").await, ["* 3 EXISTS", "* 2 RECENT"]);
    let r = second.ok("FETCH 3 FLAGS").await;
    assert!(has(&r, "* 3 FETCH (FLAGS (\\Recent))"), "{r:?}");

    // IMAP4rev2 has no \Recent at all.
    let mut rev2 = logged_in(&server).await;
    rev2.ok("ENABLE IMAP4rev2").await;
    let r = rev2.ok("SELECT INBOX").await;
    assert!(!has(&r, "RECENT") && !has(&r, "UNSEEN"), "{r:?}");
}

#[tokio::test]
async fn a_new_keyword_is_announced_with_flags_first() {
    let server = server_with(&["Subject: a\r\n\r\nx\r\n"]).await;
    let mut c = logged_in(&server).await;
    c.ok("ENABLE IMAP4rev2").await;
    let r = c.ok("SELECT INBOX").await;
    assert!(has(
        &r,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    ));
    let mut other = logged_in(&server).await;
    other.ok("ENABLE IMAP4rev2").await;
    other.ok("SELECT INBOX").await;

    let r = c.ok("STORE 1 +FLAGS ($Work)").await;
    let flags = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)";
    assert_eq!(r[..2], [flags, "* 1 FETCH (FLAGS ($Work))"], "{r:?}");
    let r = c.ok("STORE 1 +FLAGS ($work)").await;
    assert!(!has(&r, "* FLAGS"), "known already, in any case: {r:?}");
    // Another session learns it the same way, before the flag change.
    let r = other.ok("NOOP").await;
    assert_eq!(r[..2], [flags, "* 1 FETCH (UID 1 FLAGS ($Work))"], "{r:?}");
}

#[tokio::test]
async fn lsub_shows_an_unsubscribed_parent_as_noselect() {
    let server = server_with(&[]).await;
    let mut c = logged_in(&server).await;
    c.ok("CREATE box/sub/deep").await;
    c.ok("SUBSCRIBE box/sub/deep").await;
    let r = c.ok("LSUB \"\" box/%").await;
    assert_eq!(r[..1], ["* LSUB (\\Noselect) \"/\" box/sub"], "{r:?}");
    let r = c.ok("LSUB \"\" box/*").await;
    assert_eq!(r[..1], ["* LSUB () \"/\" box/sub/deep"], "{r:?}");
}

#[tokio::test]
async fn esearch_min_or_max_tells_that_message_s_modseq() {
    let server = server_with(&["Subject: a\r\n\r\nx\r\n", "Subject: b\r\n\r\ny\r\n"]).await;
    let mut c = logged_in(&server).await;
    c.ok("SELECT INBOX").await;
    c.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Seen)").await;
    let modseq = |r: &[String], n: u32| {
        let line = r
            .iter()
            .find(|l| l.starts_with(&format!("* {n} FETCH")))
            .unwrap();
        line.split("MODSEQ (")
            .nth(1)
            .unwrap()
            .trim_end_matches("))")
            .to_owned()
    };
    let r = c.ok("FETCH 1:2 (MODSEQ)").await;
    let (first, second) = (modseq(&r, 1), modseq(&r, 2));
    assert_ne!(first, second);
    let r = c.ok("SEARCH RETURN (MIN) MODSEQ 1").await;
    assert!(has(&r, &format!("MIN 1 MODSEQ {first}")), "{r:?}");
    let r = c.ok("SEARCH RETURN (MAX) MODSEQ 1").await;
    assert!(has(&r, &format!("MAX 2 MODSEQ {second}")), "{r:?}");
}

#[tokio::test]
async fn a_name_in_broken_modified_utf7_is_no_mailbox_not_a_syntax_error() {
    let server = server_with(&[]).await;
    let mut c = logged_in(&server).await;
    let r = c.cmd("SELECT a&'b").await;
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{r:?}");
    let r = c.cmd("CREATE a&'b").await;
    assert!(tagged(&r).contains("NO [CANNOT]"), "{r:?}");
    let r = c.ok("LIST \"\" a&'%").await;
    assert!(r.is_empty(), "lists nothing: {r:?}");
}

/// ENVELOPE tells the addresses a field holds, nothing a comment made up; SEARCH FROM
/// matches the envelope's address, with the comments inside it gone (RFC 9051 6.4.4).
#[tokio::test]
async fn envelope_addresses_without_comments_in_fetch_and_search() {
    let server = server_with(&[
        "From: <user-from (comment)@ (comment) domain.org>\r\n\
         To: group: g1@d1.org;\r\nCc: group:;, group2: (foo) ;\r\n\r\nx\r\n",
        "From: other@domain.org\r\n\r\ny\r\n",
    ])
    .await;
    let mut c = logged_in(&server).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("FETCH 1 ENVELOPE").await;
    assert!(
        r[0].contains(
            " ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) "
        ),
        "{r:?}"
    );
    assert_eq!(
        c.ok("SEARCH FROM user-from@domain.org").await,
        ["* SEARCH 1"]
    );
    assert_eq!(c.ok("SEARCH FROM \"(comment)\"").await, ["* SEARCH 1"]);
    assert_eq!(c.ok("SEARCH FROM domain.org").await, ["* SEARCH 1 2"]);
    assert_eq!(c.ok("SEARCH TO g1@d1.org").await, ["* SEARCH 1"]);
}
