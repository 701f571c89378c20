//! CONDSTORE and QRESYNC (RFC 7162) against a real listener.

use hermod_testkit::imap_lines::{has, tagged};
use hermod_testkit::{ImapClient, TestServer};

const ALICE: &str = "alice@example.test";

async fn server_with(messages: usize) -> TestServer {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    for n in 1..=messages {
        let body = format!("From: bob@remote.test\r\nSubject: message {n}\r\n\r\nbody {n}\r\n");
        server.deliver(ALICE, &body).await;
    }
    server
}

async fn logged_in(server: &TestServer) -> ImapClient {
    let mut c = server.imap_client().await;
    c.login(ALICE, "s3cret").await;
    c
}

/// The number after `name ` (or `name (`) in the first line that has it.
fn number_after(lines: &[String], name: &str) -> u64 {
    for line in lines {
        if let Some(at) = line.find(name) {
            let rest = line[at + name.len()..].trim_start_matches([' ', '(']);
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return digits
                .parse()
                .unwrap_or_else(|_| panic!("{name} in {line}"));
        }
    }
    panic!("no {name} in {lines:?}")
}

fn modseq_of(line: &str) -> u64 {
    number_after(&[line.to_owned()], "MODSEQ")
}

#[tokio::test]
async fn capabilities_and_enable() {
    let server = server_with(0).await;
    let mut c = logged_in(&server).await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps[0].contains(" CONDSTORE") && caps[0].contains(" QRESYNC"),
        "{caps:?}"
    );
    assert_eq!(
        c.ok("ENABLE CONDSTORE X-UNKNOWN").await,
        ["* ENABLED CONDSTORE"]
    );
    assert_eq!(c.ok("ENABLE CONDSTORE").await, ["* ENABLED"], "already on");
    assert_eq!(c.ok("ENABLE qresync").await, ["* ENABLED QRESYNC"]);
    let mut c = logged_in(&server).await;
    assert_eq!(
        c.ok("ENABLE QRESYNC CONDSTORE").await,
        ["* ENABLED CONDSTORE QRESYNC"]
    );
}

#[tokio::test]
async fn select_fetch_store_and_search_by_modseq() {
    let server = server_with(2).await;
    let mut c = logged_in(&server).await;
    let r = c.ok("SELECT INBOX (CONDSTORE)").await;
    let highest = number_after(&r, "[HIGHESTMODSEQ");
    let r = c.ok("FETCH 1:* (UID MODSEQ)").await;
    assert!(r[0].starts_with("* 1 FETCH (UID 1 MODSEQ ("), "{r:?}");
    let (first, second) = (modseq_of(&r[0]), modseq_of(&r[1]));
    assert!(first < second && second <= highest, "{r:?} {highest}");

    // A STORE tells the new MODSEQ; it is above everything before.
    let r = c.ok("STORE 1 +FLAGS (\\Flagged)").await;
    assert!(
        r[0].starts_with("* 1 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r:?}"
    );
    let flagged = modseq_of(&r[0]);
    assert!(flagged > highest);

    // UNCHANGEDSINCE: message 1 changed after `second`, message 2 did not. The passing one
    // is told even though the STORE is silent.
    let r = c
        .cmd(&format!(
            "STORE 1:2 (UNCHANGEDSINCE {second}) +FLAGS.SILENT (\\Seen)"
        ))
        .await;
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[0].starts_with("* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ("),
        "{r:?}"
    );
    let seen = modseq_of(&r[0]);
    assert!(tagged(&r).contains("OK [MODIFIED 1]"), "{r:?}");
    let r = c
        .cmd("UID STORE 2 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)")
        .await;
    assert!(tagged(&r).contains("OK [MODIFIED 2]"), "{r:?}");
    assert_eq!(
        c.ok("FETCH 2 FLAGS").await,
        ["* 2 FETCH (FLAGS (\\Seen \\Recent))"]
    );

    // CHANGEDSINCE returns only what changed after, with MODSEQ.
    let r = c
        .ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {flagged})"))
        .await;
    assert_eq!(
        r,
        [format!(
            "* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ({seen}))"
        )]
    );
    let r = c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {seen})"))
        .await;
    assert!(r.is_empty(), "{r:?}");

    // SEARCH MODSEQ, with or without an entry name, rev1 and ESEARCH.
    assert_eq!(
        c.ok(&format!("SEARCH MODSEQ {seen}")).await,
        [format!("* SEARCH 2 (MODSEQ {seen})")]
    );
    assert_eq!(
        c.ok("SEARCH MODSEQ \"/flags/\\\\seen\" all 1").await,
        [format!("* SEARCH 1 2 (MODSEQ {seen})")]
    );
    assert_eq!(
        c.ok(&format!("SEARCH MODSEQ {}", seen + 1)).await,
        ["* SEARCH"]
    );
    assert_eq!(
        c.ok("SORT (REVERSE SUBJECT) UTF-8 MODSEQ 1").await[0],
        format!("* SORT 2 1 (MODSEQ {seen})")
    );
    let r = c.ok("UID SEARCH RETURN (COUNT) MODSEQ 1").await;
    assert!(
        r[0].ends_with(&format!(" UID COUNT 2 MODSEQ {seen}")),
        "{r:?}"
    );

    let r = c.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)").await;
    assert_eq!(
        r,
        [format!("* STATUS INBOX (HIGHESTMODSEQ {seen} MESSAGES 2)")]
    );
}

#[tokio::test]
async fn flag_updates_carry_modseq_only_once_enabled() {
    let server = server_with(2).await;
    let mut plain = logged_in(&server).await;
    let r = plain.ok("SELECT INBOX").await;
    assert!(has(&r, "[HIGHESTMODSEQ "), "every SELECT tells it: {r:?}");
    assert_eq!(
        plain.ok("STORE 1 +FLAGS (\\Answered)").await,
        ["* 1 FETCH (FLAGS (\\Answered \\Recent))"]
    );
    let mut cond = logged_in(&server).await;
    cond.ok("ENABLE CONDSTORE").await;
    cond.ok("SELECT INBOX").await;
    plain.ok("STORE 2 +FLAGS (\\Flagged)").await;
    let r = cond.ok("NOOP").await;
    assert!(
        r.len() == 1 && r[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r:?}"
    );
    // An implicit \Seen by FETCH BODY[] is a flag change told with its MODSEQ.
    let r = cond.ok("FETCH 1 BODY[TEXT]").await;
    assert!(
        r[0].contains(" FLAGS (\\Answered \\Seen) MODSEQ ("),
        "{r:?}"
    );
    // Expunges move HIGHESTMODSEQ: a CONDSTORE session is told the new one.
    plain.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let r = plain.cmd("EXPUNGE").await;
    assert!(
        tagged(&r).ends_with(" OK EXPUNGE completed"),
        "CONDSTORE is off: {r:?}"
    );
    let r = cond.ok("NOOP").await;
    assert_eq!(r[0], "* 2 EXPUNGE", "{r:?}");
    assert!(r[1].starts_with("* OK [HIGHESTMODSEQ "), "{r:?}");
    let r = plain.ok("NOOP").await;
    assert!(!has(&r, "HIGHESTMODSEQ"), "{r:?}");
    // The first CONDSTORE-enabling command with a mailbox selected tells its HIGHESTMODSEQ.
    let r = plain.ok("FETCH 1 (MODSEQ)").await;
    assert!(r[0].starts_with("* OK [HIGHESTMODSEQ "), "{r:?}");
    assert!(r[1].starts_with("* 1 FETCH (MODSEQ ("), "{r:?}");
    let r = plain.ok("FETCH 1 (MODSEQ)").await;
    assert_eq!(r.len(), 1, "once: {r:?}");
}

#[tokio::test]
async fn qresync_select_reports_what_vanished_and_changed() {
    let server = server_with(4).await;
    let mut before = logged_in(&server).await;
    let r = before.ok("SELECT INBOX").await;
    let uidvalidity = number_after(&r, "[UIDVALIDITY");
    let known = number_after(&r, "[HIGHESTMODSEQ");
    before.ok("LOGOUT").await;

    let mut other = logged_in(&server).await;
    other.ok("SELECT INBOX").await;
    other.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)").await;
    other.ok("EXPUNGE").await;
    other.ok("UID STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    server.deliver(ALICE, "Subject: five\r\n\r\nfive\r\n").await;

    let mut c = logged_in(&server).await;
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({uidvalidity} {known}))"))
        .await;
    assert!(tagged(&r).contains("BAD"), "QRESYNC not enabled: {r:?}");
    c.ok("ENABLE QRESYNC").await;
    let r = c
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({uidvalidity} {known} 1:5))"
        ))
        .await;
    assert!(has(&r, "* 3 EXISTS"), "{r:?}");
    let at = r
        .iter()
        .position(|l| l == "* VANISHED (EARLIER) 1,3")
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        r[at + 1].starts_with("* 1 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r:?}"
    );
    assert!(
        // Delivered after the last session that selected INBOX: \Recent here.
        r[at + 2].starts_with("* 3 FETCH (UID 5 FLAGS (\\Recent) MODSEQ ("),
        "{r:?}"
    );
    assert_eq!(r.len(), at + 3, "nothing on UID 4: {r:?}");

    // Known UIDs narrow both; a seq-match (seq 1 is still UID 2) says nothing below UID 2
    // can have vanished.
    let r = c
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({uidvalidity} {known} 3:4 (1 2)))"
        ))
        .await;
    assert!(r[0].contains("[CLOSED]"), "{r:?}");
    assert!(
        has(&r, "* VANISHED (EARLIER) 3") && !has(&r, "UID 2 "),
        "{r:?}"
    );
    // The client's true map from then: message 1 is no longer UID 1, nothing is cut.
    let r = c
        .ok(&format!(
            "EXAMINE INBOX (QRESYNC ({uidvalidity} {known} 1:5 (1:4 1:4)))"
        ))
        .await;
    assert!(
        has(&r, "* VANISHED (EARLIER) 1,3") && has(&r, "UID 5"),
        "{r:?}"
    );

    // Another UIDVALIDITY: the client starts over, told nothing of the past.
    let r = c
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({} {known}))",
            uidvalidity + 1
        ))
        .await;
    assert!(!has(&r, "VANISHED") && !has(&r, "FETCH"), "{r:?}");

    // UID FETCH with VANISHED: the same, within the set.
    let r = c
        .ok(&format!(
            "UID FETCH 2:* (FLAGS) (CHANGEDSINCE {known} VANISHED)"
        ))
        .await;
    assert_eq!(r[0], "* VANISHED (EARLIER) 3", "{r:?}");
    assert_eq!(r.len(), 3, "{r:?}");
}

#[tokio::test]
async fn qresync_sessions_are_told_vanished_instead_of_expunge() {
    let server = server_with(3).await;
    let mut c = logged_in(&server).await;
    c.ok("ENABLE QRESYNC").await;
    c.ok("SELECT INBOX").await;
    let mut other = logged_in(&server).await;
    other.ok("SELECT INBOX").await;
    other.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    other.ok("EXPUNGE").await;
    let r = c.ok("NOOP").await;
    assert_eq!(r[0], "* VANISHED 2", "{r:?}");
    assert!(r[1].starts_with("* OK [HIGHESTMODSEQ "), "{r:?}");
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(r[0], "* VANISHED 1", "{r:?}");
    // RFC 7162 3.2.10: the tagged OK carries the HIGHESTMODSEQ after the expunge, which a
    // later SELECT reports too.
    let after = number_after(&r, "OK [HIGHESTMODSEQ");
    let mut third = logged_in(&server).await;
    let selected = third.ok("EXAMINE INBOX").await;
    assert_eq!(number_after(&selected, "[HIGHESTMODSEQ"), after, "{r:?}");
    let r = c.cmd("UID EXPUNGE 99").await;
    assert_eq!(
        number_after(&r, "OK [HIGHESTMODSEQ"),
        after,
        "nothing expunged: {r:?}"
    );
    let r = c.ok("MOVE 1 Trash").await;
    assert!(has(&r, "* VANISHED 3"), "{r:?}");
    assert!(!has(&r, "EXPUNGE"), "{r:?}");
    let r = c.cmd("FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)").await;
    assert!(
        tagged(&r).contains("BAD"),
        "VANISHED needs UID FETCH: {r:?}"
    );
    let mut plain = logged_in(&server).await;
    plain.ok("SELECT INBOX").await;
    let r = plain
        .cmd("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(tagged(&r).contains("BAD"), "QRESYNC not enabled: {r:?}");
}
