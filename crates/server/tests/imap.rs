//! IMAP against a real listener.

use hermod_proto::sasl::encode;
use hermod_testkit::imap_lines::{has, tagged};
use hermod_testkit::{ImapClient, Pop3Client, TestServer};
use std::time::Duration;

const ALICE: &str = "alice@example.test";
const PLAIN: &str = "From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <one@remote.test>\r\n\r\nfirst body\r\n";
const MIXED: &str = "From: carol@remote.test\r\nTo: alice@example.test\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\npart one text\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1--\r\n";

async fn server_with_mail() -> TestServer {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    server.deliver(ALICE, PLAIN).await;
    server.deliver(ALICE, MIXED).await;
    server
}

async fn logged_in(server: &TestServer) -> ImapClient {
    let mut c = server.imap_client().await;
    c.login(ALICE, "s3cret").await;
    c
}

async fn selected(server: &TestServer) -> ImapClient {
    let mut c = logged_in(server).await;
    c.ok("SELECT INBOX").await;
    c
}

#[tokio::test]
async fn imap_is_on_by_default_and_can_be_turned_off() {
    let server = TestServer::start().await;
    assert!(server.imap.is_some() && server.imaps.is_some());
    let off = TestServer::start_with(|c| {
        c.listen.imap.clear();
        c.listen.imaps.clear();
    })
    .await;
    assert_eq!((off.imap, off.imaps), (None, None));
}

#[tokio::test]
async fn greeting_capability_login_logout() {
    let server = server_with_mail().await;
    let mut c = server.imap_client().await;
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY IMAP4rev1 "),
        "{}",
        c.greeting
    );
    let caps = c.ok("CAPABILITY").await;
    for cap in [
        "IMAP4rev2",
        "STARTTLS",
        "AUTH=PLAIN",
        "SASL-IR",
        "LITERAL+",
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "STATUS=SIZE",
        "CREATE-SPECIAL-USE",
        "BINARY",
        "SEARCHRES",
        "UTF8=ACCEPT",
        "MULTIAPPEND",
        "QUOTA",
        "APPENDLIMIT=52428800",
    ] {
        assert!(caps[0].contains(cap), "{cap} in {}", caps[0]);
    }
    let r = c.cmd("SELECT INBOX").await;
    assert!(tagged(&r).contains("BAD"), "not authenticated: {r:?}");
    let r = c.cmd(&format!("LOGIN {ALICE} wrong")).await;
    assert!(tagged(&r).contains("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    let r = c.cmd(&format!("LOGIN {ALICE} s3cret")).await;
    assert!(tagged(&r).contains("OK [CAPABILITY IMAP4rev1"), "{r:?}");
    assert!(
        !tagged(&r).contains("AUTH=PLAIN"),
        "no login capabilities once logged in"
    );
    c.ok("NOOP").await;
    let r = c.cmd("ID (\"name\" \"test\")").await;
    assert!(has(&r, "* ID (\"name\" \"hermod\")"), "{r:?}");
    let r = c.cmd("LOGOUT").await;
    assert!(r[0].starts_with("* BYE"), "{r:?}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn authenticate_plain_with_and_without_initial_response() {
    let server = server_with_mail().await;
    let creds = encode(format!("\0{ALICE}\0s3cret").as_bytes());
    let mut c = server.imap_client().await;
    c.ok(&format!("AUTHENTICATE PLAIN {creds}")).await;
    c.ok("SELECT INBOX").await;

    let mut c = server.imap_client().await;
    c.send(b"a AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ ");
    c.send(format!("{creds}\r\n").as_bytes()).await;
    assert!(c.line().await.starts_with("a OK"));

    let mut c = server.imap_client().await;
    c.send(b"b AUTHENTICATE PLAIN\r\n").await;
    c.line().await;
    c.send(b"*\r\n").await;
    assert!(c.line().await.starts_with("b BAD"), "cancelled");
}

#[tokio::test]
async fn passwords_need_tls_when_loopback_is_not_trusted() {
    let server =
        TestServer::start_imap_with(|c| c.imap.allow_plaintext_auth_on_loopback = false).await;
    server.add_user(ALICE, "s3cret");
    let mut c = server.imap_client().await;
    assert!(c.greeting.contains("LOGINDISABLED") && c.greeting.contains("STARTTLS"));
    let r = c.cmd(&format!("LOGIN {ALICE} s3cret")).await;
    assert!(tagged(&r).contains("NO [PRIVACYREQUIRED]"), "{r:?}");
    let mut c = c.starttls().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps[0].contains("AUTH=PLAIN") && !caps[0].contains("STARTTLS"),
        "{caps:?}"
    );
    c.login(ALICE, "s3cret").await;

    let mut tls = ImapClient::connect_tls(server.imaps.unwrap()).await;
    assert!(tls.greeting.contains("AUTH=PLAIN"));
    tls.login(ALICE, "s3cret").await;
}

#[tokio::test]
async fn list_create_rename_delete_subscribe_status() {
    let server = server_with_mail().await;
    let mut c = logged_in(&server).await;
    let r = c.ok("LIST \"\" \"\"").await;
    assert_eq!(r, ["* LIST (\\Noselect) \"/\" \"\""]);
    let r = c.ok("LIST \"\" *").await;
    assert!(has(&r, "* LIST (\\HasNoChildren) \"/\" INBOX"), "{r:?}");
    assert!(has(&r, "(\\HasNoChildren \\Sent) \"/\" Sent"), "{r:?}");
    assert!(has(&r, "\\Junk) \"/\" Junk"), "{r:?}");
    c.ok("CREATE Work/Projects").await;
    let r = c.cmd("CREATE Work").await;
    assert!(tagged(&r).contains("NO [ALREADYEXISTS]"), "{r:?}");
    let r = c.ok("LIST \"\" %").await;
    assert!(has(&r, "(\\HasChildren) \"/\" Work"), "{r:?}");
    assert!(!has(&r, "Work/Projects"), "% stops at the delimiter");
    let r = c.ok("LIST Work/ %").await;
    assert_eq!(r, ["* LIST (\\HasNoChildren) \"/\" Work/Projects"]);
    let r = c.cmd("DELETE Work").await;
    assert!(tagged(&r).contains("NO [HASCHILDREN]"), "{r:?}");
    c.ok("RENAME Work/Projects Work/Done").await;
    let r = c.cmd("DELETE Nope").await;
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{r:?}");
    c.ok("DELETE Work/Done").await;
    // A new account is subscribed to its default mailboxes.
    let defaults = c.ok("LSUB \"\" *").await;
    for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk"] {
        assert!(has(&defaults, &format!("\"/\" {name}")), "{defaults:?}");
    }
    assert_eq!(defaults.len(), 5, "{defaults:?}");
    c.ok("SUBSCRIBE Work").await;
    assert_eq!(c.ok("LSUB \"\" Work").await, ["* LSUB () \"/\" Work"]);
    let r = c.ok("LIST (SUBSCRIBED) \"\" W*").await;
    assert_eq!(r, ["* LIST (\\HasNoChildren \\Subscribed) \"/\" Work"]);
    c.ok("UNSUBSCRIBE Work").await;
    assert_eq!(c.ok("LSUB \"\" *").await, defaults);
    let r = c
        .ok("STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE UIDVALIDITY)")
        .await;
    assert!(
        r[0].starts_with("* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UNSEEN 2 DELETED 0 SIZE "),
        "{r:?}"
    );
    let r = c.cmd("STATUS Nope (MESSAGES)").await;
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{r:?}");
    assert_eq!(
        c.ok("NAMESPACE").await,
        ["* NAMESPACE ((\"\" \"/\")) NIL NIL"]
    );
    c.ok("CREATE \"K&AOQ-se\"").await;
    assert!(
        has(&c.ok("LIST \"\" K*").await, "K&AOQ-se"),
        "modified UTF-7 both ways"
    );
}

#[tokio::test]
async fn select_examine_close_unselect() {
    let server = server_with_mail().await;
    let mut c = logged_in(&server).await;
    let r = c.cmd("SELECT inbox").await;
    assert!(
        has(
            &r,
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
        ),
        "{r:?}"
    );
    assert!(has(&r, "* 2 EXISTS") && has(&r, "* 2 RECENT"), "{r:?}");
    assert!(
        has(&r, "* OK [UNSEEN 1]"),
        "rev1: the first unseen message: {r:?}"
    );
    assert!(has(&r, "* LIST () \"/\" INBOX"), "{r:?}");
    assert!(has(
        &r,
        "[PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"
    ));
    assert!(has(&r, "[UIDVALIDITY ") && has(&r, "[UIDNEXT 3]"), "{r:?}");
    assert!(tagged(&r).contains("OK [READ-WRITE]"), "{r:?}");
    let r = c.cmd("EXAMINE Sent").await;
    assert!(r[0].contains("[CLOSED]"), "{r:?}");
    assert!(
        has(&r, "* 0 EXISTS") && tagged(&r).contains("[READ-ONLY]"),
        "{r:?}"
    );
    let r = c.cmd("STORE 1:* +FLAGS (\\Seen)").await;
    assert!(tagged(&r).contains("NO [READ-ONLY]"), "{r:?}");
    let r = c.cmd("FETCH 1 FLAGS").await;
    assert!(tagged(&r).contains("BAD"), "no message 1 in Sent: {r:?}");
    c.ok("UNSELECT").await;
    let r = c.cmd("FETCH 1 FLAGS").await;
    assert!(tagged(&r).contains("BAD"), "nothing selected: {r:?}");
    let r = c.cmd("SELECT Nope").await;
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{r:?}");
}

#[tokio::test]
async fn fetch_items_sections_and_seen() {
    let server = server_with_mail().await;
    let stored = server.inbox(ALICE);
    let mut c = selected(&server).await;
    let r = c.ok("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)").await;
    assert_eq!(r.len(), 2);
    let size = stored[0].len();
    assert!(
        r[0].starts_with(&format!(
            "* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE {size} INTERNALDATE \""
        )),
        "{r:?}"
    );
    let r = c.ok("FETCH 1 BODY.PEEK[]").await;
    let whole = String::from_utf8(stored[0].clone()).unwrap();
    assert_eq!(r[0], format!("* 1 FETCH (BODY[] {{{size}}}\r\n{whole})"));
    let r = c
        .ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<0.5>)")
        .await;
    assert_eq!(
        r[0],
        "* 1 FETCH (BODY[HEADER.FIELDS (Subject)] {18}\r\nSubject: hello\r\n\r\n BODY[TEXT]<0> \"first\")"
    );
    let r = c.ok("FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME])").await;
    assert!(r[0].contains("BODY[1] \"part one text\""), "{r:?}");
    assert!(r[0].contains("Content-Transfer-Encoding: base64"), "{r:?}");
    let r = c.ok("FETCH 1 ENVELOPE").await;
    assert!(
        r[0].contains("\"hello\" ((\"Bob\" NIL \"bob\" \"remote.test\"))"),
        "{r:?}"
    );
    assert!(
        r[0].ends_with("NIL NIL NIL \"<one@remote.test>\"))"),
        "{r:?}"
    );
    let r = c.ok("FETCH 2 BODYSTRUCTURE").await;
    assert!(
        r[0].contains("(\"text\" \"plain\" NIL NIL NIL \"7bit\" 13 1 NIL NIL NIL NIL)"),
        "{r:?}"
    );
    assert!(
        r[0].contains("\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4"),
        "{r:?}"
    );
    assert!(r[0].contains(" \"mixed\" (\"boundary\" \"b1\")"), "{r:?}");
    assert_eq!(
        c.ok("FETCH 1 FLAGS").await[0],
        "* 1 FETCH (FLAGS (\\Recent))",
        "PEEK left \\Seen alone"
    );
    let r = c.ok("UID FETCH 2 BODY[TEXT]").await;
    assert!(r[0].starts_with("* 2 FETCH (UID 2 BODY[TEXT] "), "{r:?}");
    assert!(
        r[0].ends_with(" FLAGS (\\Seen \\Recent))"),
        "\\Seen set and told: {r:?}"
    );
    let r = c.cmd("FETCH 3 FLAGS").await;
    assert!(tagged(&r).contains("BAD"), "{r:?}");
    assert!(c.ok("UID FETCH 9:* UID").await.len() == 1, "9:* is 2:9");
}

#[tokio::test]
async fn a_large_body_streams_whole() {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    let line = "0123456789".repeat(10);
    let body = format!("Subject: big\r\n\r\n{}", format!("{line}\r\n").repeat(6000));
    server.deliver(ALICE, &body).await;
    let stored = server.inbox(ALICE).remove(0);
    assert!(stored.len() > 512 * 1024);
    let mut c = selected(&server).await;
    let r = c.ok("FETCH 1 (BODY.PEEK[] RFC822.SIZE)").await;
    let header = format!("* 1 FETCH (BODY[] {{{}}}\r\n", stored.len());
    assert!(r[0].starts_with(&header), "{}", &r[0][..80]);
    assert_eq!(
        r[0].as_bytes()[header.len()..header.len() + stored.len()],
        stored[..]
    );
    assert!(r[0].ends_with(&format!(" RFC822.SIZE {})", stored.len())));
}

#[tokio::test]
async fn store_copy_move_expunge() {
    let server = server_with_mail().await;
    let mut c = selected(&server).await;
    let r = c.ok("STORE 1 +FLAGS (\\Flagged $Work)").await;
    let flags = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)";
    assert_eq!(r, [flags, "* 1 FETCH (FLAGS (\\Flagged $Work \\Recent))"]);
    let r = c.ok("UID STORE 1:2 FLAGS.SILENT (\\Seen)").await;
    assert!(r.is_empty(), "{r:?}");
    let r = c.ok("STORE 1 -FLAGS (\\Seen)").await;
    assert_eq!(r, ["* 1 FETCH (FLAGS (\\Recent))"]);
    let r = c.cmd("STORE 1 +FLAGS (\\Recent)").await;
    assert!(tagged(&r).contains("BAD"), "{r:?}");
    let r = c.cmd("COPY 1:2 Archive").await;
    assert!(tagged(&r).contains("NO [TRYCREATE]"), "{r:?}");
    c.ok("CREATE Archive").await;
    let r = c.cmd("COPY 1:2 Archive").await;
    assert!(tagged(&r).contains("OK [COPYUID "), "{r:?}");
    assert!(tagged(&r).contains(" 1:2 1:2]"), "{r:?}");
    let r = c.ok("UID MOVE 2 Trash").await;
    assert!(
        r[0].starts_with("* OK [COPYUID ") && r[0].contains(" 2 1]"),
        "{r:?}"
    );
    assert_eq!(r[1], "* 2 EXPUNGE");
    let r = c.ok("STATUS Trash (MESSAGES)").await;
    assert_eq!(r, ["* STATUS Trash (MESSAGES 1)"]);
    c.ok("SELECT Archive").await;
    c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("STORE 2 -FLAGS.SILENT (\\Deleted)").await;
    let r = c.ok("UID EXPUNGE 2").await;
    assert!(r.is_empty(), "UID 2 is not \\Deleted: {r:?}");
    assert_eq!(c.ok("EXPUNGE").await, ["* 1 EXPUNGE"]);
    assert_eq!(c.ok("FETCH 1 UID").await, ["* 1 FETCH (UID 2)"]);
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("CLOSE").await;
    let r = c.ok("STATUS Archive (MESSAGES)").await;
    assert_eq!(r, ["* STATUS Archive (MESSAGES 0)"], "CLOSE expunged");
}

#[tokio::test]
async fn append_streams_and_reports_its_uid() {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    let mut c = logged_in(&server).await;
    let message = "Subject: draft\r\n\r\nappended\r\n";
    c.send(
        format!(
            "a1 APPEND Drafts (\\Draft) \"05-Mar-2024 10:00:00 +0100\" {{{}}}\r\n",
            message.len()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(c.line().await, "+ go ahead");
    c.send(format!("{message}\r\n").as_bytes()).await;
    let done = c.line().await;
    assert!(
        done.starts_with("a1 OK [APPENDUID ") && done.contains(" 1]"),
        "{done}"
    );
    c.send(format!("a2 APPEND Drafts {{{}+}}\r\n{message}\r\n", message.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("a2 OK [APPENDUID "), "LITERAL+");
    c.send(b"a3 APPEND Nope {5}\r\n").await;
    assert!(
        c.line().await.starts_with("a3 NO [TRYCREATE]"),
        "refused before the literal"
    );
    c.ok("EXAMINE Drafts").await;
    let r = c.ok("FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])").await;
    assert!(
        r[0].contains("FLAGS (\\Draft \\Recent) INTERNALDATE \"05-Mar-2024 09:00:00 +0000\""),
        "{r:?}"
    );
    assert!(r[0].contains("appended"), "{r:?}");
    assert_eq!(server.messages(ALICE, "Drafts")[1], message.as_bytes());
}

#[tokio::test]
async fn search_keys_and_esearch() {
    let server = server_with_mail().await;
    let mut c = selected(&server).await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(c.ok("SEARCH ALL").await, ["* SEARCH 1 2"]);
    assert_eq!(c.ok("SEARCH FLAGGED").await, ["* SEARCH 2"]);
    assert_eq!(c.ok("SEARCH UNFLAGGED UNSEEN").await, ["* SEARCH 1"]);
    assert_eq!(c.ok("SEARCH SUBJECT HELLO").await, ["* SEARCH 1"]);
    assert_eq!(c.ok("SEARCH FROM carol").await, ["* SEARCH 2"]);
    assert_eq!(c.ok("SEARCH BODY \"PART ONE\"").await, ["* SEARCH 2"]);
    assert_eq!(c.ok("SEARCH TEXT one@remote").await, ["* SEARCH 1"]);
    assert_eq!(
        c.ok("SEARCH OR SUBJECT parts NOT 2").await,
        ["* SEARCH 1 2"]
    );
    assert_eq!(c.ok("SEARCH HEADER Message-ID one").await, ["* SEARCH 1"]);
    assert_eq!(c.ok("SEARCH LARGER 100000").await, ["* SEARCH"]);
    assert_eq!(
        c.ok("SEARCH SINCE 1-Jan-2000 BEFORE 1-Jan-2200").await,
        ["* SEARCH 1 2"]
    );
    assert_eq!(c.ok("SEARCH ON 1-Jan-2000").await, ["* SEARCH"]);
    assert_eq!(c.ok("UID SEARCH 2:*").await, ["* SEARCH 2"]);
    assert_eq!(c.ok("SEARCH UID 1 KEYWORD $Nothing").await, ["* SEARCH"]);
    let r = c.cmd("SEARCH RETURN (MIN COUNT) ALL").await;
    let tag = tagged(&r).split(' ').next().unwrap();
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{tag}\") MIN 1 COUNT 2"));
    let r = c.ok("UID SEARCH RETURN () FLAGGED").await;
    assert!(r[0].ends_with(" UID ALL 2"), "{r:?}");
    let r = c.cmd("SEARCH CHARSET KOI8-R ALL").await;
    assert!(tagged(&r).contains("NO [BADCHARSET"), "{r:?}");
}

/// Deliveries, another IMAP session and POP3 show up as EXISTS, FETCH and EXPUNGE.
#[tokio::test]
async fn changes_by_others_are_reported() {
    let server = server_with_mail().await;
    let mut c = selected(&server).await;
    let mut other = selected(&server).await;
    server.deliver(ALICE, "Subject: three\r\n\r\nx\r\n").await;
    // `c` looks first: the new message is \Recent there (RFC 3501 2.3.2).
    assert_eq!(c.ok("NOOP").await, ["* 3 EXISTS", "* 3 RECENT"]);
    other.ok("STORE 1 +FLAGS.SILENT (\\Answered)").await;
    let r = c.ok("NOOP").await;
    assert!(
        has(&r, "* 1 FETCH (UID 1 FLAGS (\\Answered \\Recent))"),
        "{r:?}"
    );
    other.ok("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    other.ok("EXPUNGE").await;
    let r = c.ok("FETCH 3 UID").await;
    assert!(!has(&r, "EXPUNGE"), "no EXPUNGE during FETCH: {r:?}");
    let r = c.ok("NOOP").await;
    assert!(has(&r, "* 3 EXPUNGE"), "{r:?}");

    // POP3 DELE + QUIT is an expunge.
    let mut pop = Pop3Client::connect(server.pop3).await;
    assert!(
        pop.login(ALICE, "s3cret")
            .await
            .starts_with("+OK 2 messages")
    );
    assert!(pop.cmd("DELE 2").await.starts_with("+OK"));
    assert!(pop.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(c.ok("NOOP").await, ["* 2 EXPUNGE"]);

    // IMAP \Deleted + EXPUNGE is gone from POP3's next session.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    let mut pop = Pop3Client::connect(server.pop3).await;
    assert!(
        pop.login(ALICE, "s3cret")
            .await
            .starts_with("+OK 0 messages")
    );
}

#[tokio::test]
async fn idle_sees_a_delivery_within_a_second() {
    let server = server_with_mail().await;
    let mut c = selected(&server).await;
    c.send(b"i1 IDLE\r\n").await;
    assert_eq!(c.line().await, "+ idling");
    let started = tokio::time::Instant::now();
    let deliver = server.deliver(ALICE, "Subject: pushed\r\n\r\nx\r\n");
    let (_, line) = tokio::join!(deliver, c.line());
    assert_eq!(line, "* 3 EXISTS");
    assert_eq!(c.line().await, "* 3 RECENT");
    assert!(started.elapsed() < Duration::from_secs(5));
    c.send(b"DONE\r\n").await;
    assert_eq!(c.line().await, "i1 OK IDLE terminated");
    c.ok("NOOP").await;
}

#[tokio::test]
async fn connections_over_the_cap_get_bye() {
    let server = TestServer::start_imap_with(|c| c.limits.max_imap_connections = 1).await;
    let _first = server.imap_client().await;
    let second = server.imap_client().await;
    assert!(second.greeting.starts_with("* BYE "), "{}", second.greeting);
}

#[tokio::test]
async fn mistakes_get_bad_and_too_many_close() {
    let server = server_with_mail().await;
    let mut c = logged_in(&server).await;
    let r = c.cmd("FROB").await;
    assert!(tagged(&r).contains("BAD"), "{r:?}");
    c.send(b"\r\n").await;
    assert!(c.line().await.starts_with("* BAD"));
    for _ in 0..18 {
        c.send(b"x FROB\r\n").await;
        c.line().await;
    }
    assert!(c.line().await.starts_with("* BYE"));
    assert!(c.closed().await);
}

/// The `[imap]` limits, each with its response.
#[tokio::test]
async fn configured_limits_answer_toobig_and_autologout() {
    let server = TestServer::start_imap_with(|c| {
        c.imap.max_append_size = Some(2048);
        c.imap.max_line = 8192;
        c.imap.max_command_size = 16 * 1024;
        c.imap.idle_timeout_unauthenticated = Duration::from_millis(500);
    })
    .await;
    server.add_user(ALICE, "s3cret");
    let mut c = logged_in(&server).await;
    c.send(b"a1 APPEND INBOX {4096}\r\n").await;
    assert!(
        c.line().await.starts_with("a1 NO [TOOBIG]"),
        "over APPENDLIMIT"
    );
    let long = "x".repeat(9000);
    c.send(format!("a2 LIST \"\" {long}\r\n").as_bytes()).await;
    assert!(
        c.line().await.starts_with("a2 BAD [TOOBIG]"),
        "over max_line"
    );
    let big = "y".repeat(17 * 1024);
    c.send(format!("a3 LIST \"\" {{{}+}}\r\n{big}\r\n", big.len()).as_bytes())
        .await;
    assert!(
        c.line().await.starts_with("a3 BAD [TOOBIG]"),
        "over max_command_size"
    );
    // RFC 2971's largest ID (30 pairs of a 30-octet field and a 1024-octet value) is
    // answered whatever the limits: the allowance is ID's alone (a2 above).
    let pairs: Vec<String> = (0..30)
        .map(|n| format!("\"{n:0>30}\" \"{}\"", "v".repeat(1024)))
        .collect();
    let r = c.ok(&format!("ID ({})", pairs.join(" "))).await;
    assert!(r[0].starts_with("* ID ("), "{r:?}");
    c.ok("NOOP").await;
    let mut idle = server.imap_client().await;
    assert!(
        idle.line().await.starts_with("* BYE"),
        "autologout before login"
    );
}
