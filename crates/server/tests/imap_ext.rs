//! IMAP4rev2 and the extensions beyond the base protocol (LIST-EXTENDED, LIST-STATUS,
//! CREATE-SPECIAL-USE, STATUS=SIZE, APPENDLIMIT, SEARCHRES, BINARY, MULTIAPPEND,
//! UTF8=ACCEPT, QUOTA) against a real listener.

use hermod_testkit::imap_lines::{has, tagged};
use hermod_testkit::{ImapClient, Pop3Client, TestServer};

const ALICE: &str = "alice@example.test";
const PLAIN: &str = "From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <one@remote.test>\r\n\r\nfirst body\r\n";
const MIXED: &str = "From: carol@remote.test\r\nTo: alice@example.test\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 au lait\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1\r\nContent-Type: application/x-thing\r\nContent-Transfer-Encoding: x-rot13\r\n\r\nnope\r\n--b1--\r\n";

async fn server_with_mail(quota: Option<u64>) -> TestServer {
    let server = TestServer::start_imap().await;
    server.add_user_with_quota(ALICE, "s3cret", quota);
    server.deliver(ALICE, PLAIN).await;
    server.deliver(ALICE, MIXED).await;
    server
}

async fn logged_in(server: &TestServer) -> ImapClient {
    let mut c = server.imap_client().await;
    c.login(ALICE, "s3cret").await;
    c
}

#[tokio::test]
async fn enable_imap4rev2_switches_to_rev2_behaviour() {
    let server = server_with_mail(None).await;
    let mut rev1 = logged_in(&server).await;
    rev1.ok("CREATE Entw&APw-rfe").await;
    let r = rev1.ok("SELECT INBOX").await;
    assert!(has(&r, "* 2 RECENT"), "rev1 keeps RECENT: {r:?}");
    assert_eq!(rev1.ok("SEARCH ALL").await, ["* SEARCH 1 2"]);
    let r = rev1.cmd("ENABLE IMAP4rev2").await;
    assert!(tagged(&r).contains("BAD"), "not while selected: {r:?}");

    let mut c = logged_in(&server).await;
    assert_eq!(
        c.ok("ENABLE IMAP4rev2 X-UNKNOWN").await,
        ["* ENABLED IMAP4rev2"]
    );
    assert_eq!(c.ok("ENABLE IMAP4rev2").await, ["* ENABLED"], "named once");
    let r = c.ok("LIST \"\" Entw*").await;
    assert_eq!(
        r,
        ["* LIST (\\HasNoChildren) \"/\" \"Entwürfe\""],
        "UTF-8 names"
    );
    c.ok("CREATE \"Entwürfe/Alt\"").await;
    assert!(has(&rev1.ok("LIST \"\" *").await, "Entw&APw-rfe/Alt"));
    let r = c.cmd("SELECT INBOX").await;
    assert!(!has(&r, "RECENT"), "no RECENT in rev2: {r:?}");
    assert!(has(&r, "* LIST () \"/\" INBOX"), "{r:?}");
    let r = c.cmd("SEARCH ALL").await;
    let tag = tagged(&r).split(' ').next().unwrap().to_owned();
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{tag}\") ALL 1:2"));
    let r = c.ok("UID SEARCH SUBJECT nothing-like-this").await;
    assert!(r[0].ends_with(") UID"), "an empty result has no ALL: {r:?}");
}

#[tokio::test]
async fn list_extended_selection_return_and_status() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    c.ok("CREATE Work/Projects").await;
    c.ok("SUBSCRIBE Work/Projects").await;
    c.ok("SUBSCRIBE Gone").await;
    for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk"] {
        c.ok(&format!("UNSUBSCRIBE {name}")).await;
    }
    let r = c.ok("LIST (SUBSCRIBED) \"\" *").await;
    assert!(
        has(
            &r,
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" Work/Projects"
        ),
        "{r:?}"
    );
    assert!(
        has(&r, "* LIST (\\NonExistent \\Subscribed) \"/\" Gone"),
        "{r:?}"
    );
    assert!(!has(&r, "\" Work\r") && r.len() == 2, "{r:?}");
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %").await;
    assert!(
        has(
            &r,
            "* LIST (\\HasChildren) \"/\" Work (\"CHILDINFO\" (\"SUBSCRIBED\"))"
        ),
        "{r:?}"
    );
    let r = c.cmd("LIST (RECURSIVEMATCH) \"\" *").await;
    assert!(tagged(&r).contains("BAD"), "{r:?}");
    let r = c.ok("LIST (SPECIAL-USE) \"\" *").await;
    assert_eq!(r.len(), 4, "Sent, Drafts, Trash, Junk: {r:?}");
    let r = c
        .ok("LIST \"\" (INBOX Work) RETURN (SUBSCRIBED CHILDREN)")
        .await;
    assert_eq!(
        r,
        [
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasChildren) \"/\" Work"
        ]
    );
    let r = c
        .ok("LIST \"\" INBOX RETURN (STATUS (MESSAGES UNSEEN SIZE))")
        .await;
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \"/\" INBOX");
    assert!(
        r[1].starts_with("* STATUS INBOX (MESSAGES 2 UNSEEN 2 SIZE "),
        "{r:?}"
    );
    let r = c
        .ok("LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES))")
        .await;
    assert_eq!(
        r.len(),
        3,
        "no STATUS for a mailbox that does not exist: {r:?}"
    );
}

#[tokio::test]
async fn create_special_use_status_size_and_appendlimit() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    c.ok("CREATE Old/2024 (USE (\\Archive))").await;
    assert_eq!(
        c.ok("LIST \"\" Old/*").await,
        ["* LIST (\\HasNoChildren \\Archive) \"/\" Old/2024"]
    );
    let r = c.ok("LIST (SPECIAL-USE RECURSIVEMATCH) \"\" Old").await;
    assert_eq!(
        r,
        ["* LIST (\\HasChildren) \"/\" Old (\"CHILDINFO\" (\"SPECIAL-USE\"))"]
    );
    let r = c.cmd("CREATE Spam2 (USE (\\Junk))").await;
    assert!(tagged(&r).contains("NO [USEATTR]"), "Junk exists: {r:?}");
    let r = c.cmd("CREATE Flags (USE (\\Flagged))").await;
    assert!(tagged(&r).contains("NO [USEATTR]"), "{r:?}");
    assert!(c.ok("LIST \"\" Spam2").await.is_empty(), "nothing created");
    c.ok("SELECT INBOX").await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let size = server.inbox(ALICE).iter().map(Vec::len).sum::<usize>();
    let r = c
        .ok("STATUS INBOX (SIZE DELETED APPENDLIMIT DELETED-STORAGE)")
        .await;
    assert_eq!(
        r,
        [format!(
            "* STATUS INBOX (SIZE {size} DELETED 1 APPENDLIMIT 52428800 DELETED-STORAGE 1)"
        )]
    );
}

#[tokio::test]
async fn searchres_saves_and_reuses_results() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    c.ok("SELECT INBOX").await;
    assert!(c.ok("FETCH $ UID").await.is_empty(), "$ starts empty");
    assert!(c.ok("SEARCH RETURN (SAVE) SUBJECT parts").await.is_empty());
    assert_eq!(c.ok("FETCH $ (UID)").await, ["* 2 FETCH (UID 2)"]);
    assert_eq!(
        c.ok("STORE $ +FLAGS (\\Flagged)").await,
        ["* 2 FETCH (FLAGS (\\Flagged \\Recent))"]
    );
    assert_eq!(c.ok("SEARCH $").await, ["* SEARCH 2"]);
    assert_eq!(c.ok("UID SEARCH UID $").await, ["* SEARCH 2"]);
    let r = c.cmd("SEARCH RETURN (SAVE MIN) ALL").await;
    assert!(r[0].ends_with(" MIN 1"), "{r:?}");
    assert_eq!(c.ok("FETCH $ UID").await, ["* 1 FETCH (UID 1)"], "only MIN");
    c.ok("COPY $ Trash").await;
    let r = c.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL").await;
    assert!(tagged(&r).contains("NO [BADCHARSET"), "{r:?}");
    assert!(
        c.ok("FETCH $ UID").await.is_empty(),
        "a failed search empties $"
    );
    c.ok("SEARCH RETURN (SAVE) ALL").await;
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    assert_eq!(c.ok("UID FETCH $ UID").await, ["* 1 FETCH (UID 2)"]);
}

#[tokio::test]
async fn binary_fetch_decodes_parts() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])").await;
    assert_eq!(
        r[0],
        "* 2 FETCH (BINARY[1] {13}\r\ncafé au lait BINARY.SIZE[1] 13)"
    );
    let r = c.ok("FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2])").await;
    assert_eq!(
        r[0].as_bytes(),
        b"* 2 FETCH (BINARY[2] ~{3}\r\n\x00\x01\x02 BINARY.SIZE[2] 3)"
    );
    let r = c.ok("FETCH 2 BINARY.PEEK[1]<6.3>").await;
    assert_eq!(r[0], "* 2 FETCH (BINARY[1]<6> \"au \")");
    let r = c.cmd("FETCH 2 BINARY.PEEK[3]").await;
    assert!(tagged(&r).contains("NO [UNKNOWN-CTE]"), "{r:?}");
    assert_eq!(
        c.ok("FETCH 1 FLAGS").await,
        ["* 1 FETCH (FLAGS (\\Recent))"]
    );
    let r = c.ok("FETCH 1 BINARY[1]").await;
    assert!(
        r[0].ends_with("FLAGS (\\Seen \\Recent))"),
        "BINARY sets \\Seen: {r:?}"
    );
    let r = c.ok("FETCH 1 BINARY.PEEK[]").await;
    assert!(r[0].contains("Subject: hello"), "the whole message: {r:?}");
}

#[tokio::test]
async fn multiappend_literal8_and_utf8_append() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    let (one, two) = (
        "Subject: one\r\n\r\n1\r\n",
        "Subject: two\r\n\r\n\0binary\r\n",
    );
    c.send(
        format!(
            "a1 APPEND Drafts (\\Seen) {{{}+}}\r\n{one} (\\Draft) ~{{{}+}}\r\n{two}\r\n",
            one.len(),
            two.len()
        )
        .as_bytes(),
    )
    .await;
    let done = c.line().await;
    assert!(
        done.starts_with("a1 OK [APPENDUID ") && done.contains(" 1:2]"),
        "{done}"
    );
    // The NUL is no octet BODY[] may carry: the part is kept in base64 (more in
    // appended_binary_content_is_text_in_body_and_as_sent_in_binary).
    let two_stored = "Subject: two\r\nContent-Transfer-Encoding: base64\r\nMIME-Version: 1.0\r\n\r\nAGJpbmFyeQ0K\r\n";
    assert_eq!(
        server.messages(ALICE, "Drafts"),
        [one.as_bytes(), two_stored.as_bytes()]
    );

    // All or none: the second message is too big, so the first is not kept either.
    let server = TestServer::start_imap_with(|c| c.imap.max_append_size = Some(4096)).await;
    server.add_user(ALICE, "s3cret");
    let mut c = logged_in(&server).await;
    c.send(format!("a2 APPEND INBOX {{{}+}}\r\n{one} {{5000}}\r\n", one.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("a2 NO [TOOBIG]"));
    c.ok("NOOP").await;
    assert!(server.inbox(ALICE).is_empty());

    let utf8 = "Subject: caf\u{e9}\r\n\r\nx\r\n";
    let cmd = format!("a3 APPEND INBOX UTF8 (~{{{}+}}\r\n{utf8})\r\n", utf8.len());
    c.send(cmd.as_bytes()).await;
    assert!(c.line().await.starts_with("a3 BAD"), "UTF8 before ENABLE");
    c.ok("ENABLE UTF8=ACCEPT").await;
    c.send(cmd.replace("a3", "a4").as_bytes()).await;
    assert!(c.line().await.starts_with("a4 OK [APPENDUID "));
    assert_eq!(server.inbox(ALICE), [utf8.as_bytes()]);
}

#[tokio::test]
async fn appended_binary_content_is_text_in_body_and_as_sent_in_binary() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    let message = "From: a@example.test\r\nContent-Type: application/octet-stream\r\n\
                   Content-Transfer-Encoding: binary\r\n\r\n\0-x\r\n\r\n";
    c.send(format!("a1 APPEND INBOX ~{{{}+}}\r\n{message}\r\n", message.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("a1 OK [APPENDUID "));
    c.ok("SELECT INBOX").await;
    // RFC 9051 4.3.1: a NUL only ever in a literal8, and those only for BINARY.
    let r = c
        .ok("FETCH 3 (BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1])")
        .await;
    assert_eq!(
        r[0].as_bytes(),
        b"* 3 FETCH (BODY[1] {14}\r\nAC14DQoNCg==\r\n \
          BINARY[1] ~{7}\r\n\0-x\r\n\r\n BINARY.SIZE[1] 7)"
    );
    let r = c
        .ok("FETCH 3 (BODYSTRUCTURE RFC822.SIZE BODY.PEEK[])")
        .await;
    assert!(
        r[0].contains("(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 14 "),
        "{r:?}"
    );
    let whole = &r[0][r[0].find("BODY[] {").unwrap()..];
    assert!(!whole.contains('\0'), "{r:?}");
    let stored = &server.inbox(ALICE)[2];
    assert!(
        r[0].contains(&format!("RFC822.SIZE {} ", stored.len())),
        "{r:?}"
    );

    // A NUL outside any part's content cannot be encoded: refused, nothing kept.
    let broken = "Subject: a\0b\r\n\r\nbody\r\n";
    c.send(format!("a2 APPEND INBOX ~{{{}+}}\r\n{broken}\r\n", broken.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("a2 NO [UNKNOWN-CTE]"));
    assert_eq!(server.inbox(ALICE).len(), 3);
}

#[tokio::test]
async fn quota_roots_usage_and_overquota() {
    let server = server_with_mail(Some(4096)).await;
    let used: usize = server.inbox(ALICE).iter().map(Vec::len).sum();
    let mut c = logged_in(&server).await;
    let r = c.ok("GETQUOTAROOT INBOX").await;
    let usage = used.div_ceil(1024);
    assert_eq!(
        r,
        [
            "* QUOTAROOT INBOX \"\"".to_owned(),
            format!("* QUOTA \"\" (STORAGE {usage} 4)")
        ]
    );
    assert_eq!(c.ok("GETQUOTA \"\"").await.len(), 1);
    let r = c.cmd("GETQUOTA other").await;
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{r:?}");
    let r = c.cmd("GETQUOTAROOT Nope").await;
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{r:?}");
    let r = c.cmd("SETQUOTA \"\" (STORAGE 9999)").await;
    assert!(tagged(&r).contains("NO [NOPERM]"), "{r:?}");
    let big = "x".repeat(2000);
    let message = format!("Subject: big\r\n\r\n{big}\r\n");
    c.send(
        format!(
            "a1 APPEND INBOX {{{n}+}}\r\n{message} {{{n}+}}\r\n{message}\r\n",
            n = message.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with("a1 NO [OVERQUOTA]"));
    assert_eq!(server.inbox(ALICE).len(), 2, "neither message kept");

    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    assert_eq!(c.ok("GETQUOTAROOT INBOX").await, ["* QUOTAROOT INBOX"]);
}

/// POP3 and IMAP on one store: a POP3 DELE+QUIT is pushed as EXPUNGE to an IMAP session in
/// IDLE; an IMAP \\Deleted+EXPUNGE is gone from POP3's next session.
#[tokio::test]
async fn pop3_and_imap_see_each_others_expunges() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    c.ok("SELECT INBOX").await;
    c.send(b"i1 IDLE\r\n").await;
    assert_eq!(c.line().await, "+ idling");
    let mut pop = Pop3Client::connect(server.pop3).await;
    assert!(
        pop.login(ALICE, "s3cret")
            .await
            .starts_with("+OK 2 messages")
    );
    assert!(pop.cmd("DELE 1").await.starts_with("+OK"));
    assert!(pop.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(c.line().await, "* 1 EXPUNGE", "pushed during IDLE");
    c.send(b"DONE\r\n").await;
    assert_eq!(c.line().await, "i1 OK IDLE terminated");
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(c.ok("EXPUNGE").await, ["* 1 EXPUNGE"]);
    let mut pop = Pop3Client::connect(server.pop3).await;
    assert!(
        pop.login(ALICE, "s3cret")
            .await
            .starts_with("+OK 0 messages")
    );
}

/// ENVELOPE and BODYSTRUCTURE come from a cache after the first FETCH: the same answers,
/// and BODY still without extension data.
#[tokio::test]
async fn cached_structures_answer_like_parsed_ones() {
    let server = server_with_mail(None).await;
    let mut c = logged_in(&server).await;
    c.ok("SELECT INBOX").await;
    let first = c.ok("FETCH 1:* (ENVELOPE BODYSTRUCTURE)").await;
    let body = c.ok("FETCH 2 BODY").await;
    assert_eq!(c.ok("FETCH 1:* (ENVELOPE BODYSTRUCTURE)").await, first);
    assert!(
        first[1].contains(" \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL))"),
        "{first:?}"
    );
    assert!(
        body[0].ends_with(" \"mixed\"))"),
        "BODY has no extension data: {body:?}"
    );
    let mut other = logged_in(&server).await;
    other.ok("SELECT INBOX").await;
    assert_eq!(other.ok("FETCH 1:* (ENVELOPE BODYSTRUCTURE)").await, first);
}
