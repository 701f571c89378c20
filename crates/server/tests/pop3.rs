//! POP3 against a real listener on 127.0.0.1:0.

use hermod_proto::sasl::encode;
use hermod_store::{BlockingStore, Flags};
use hermod_testkit::{Pop3Client, TestServer, run_transcript};
use hermod_types::{Address, MailboxName};

const FIRST: &str = "Subject: one\r\n\r\n.dot line\r\nbody one\r\n";
const SECOND: &str = "Subject: two\r\n\r\nl1\r\nl2\r\nl3\r\n";

async fn server_with_mail() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice@example.test", "s3cret");
    server
        .deliver("alice@example.test", &FIRST.replace("\r\n.", "\r\n.."))
        .await;
    server.deliver("alice@example.test", SECOND).await;
    server
}

async fn logged_in(server: &TestServer) -> Pop3Client {
    let mut c = Pop3Client::connect(server.pop3).await;
    assert!(c.greeting.starts_with("+OK"), "{}", c.greeting);
    let r = c.login("alice@example.test", "s3cret").await;
    assert!(r.starts_with("+OK 2 messages"), "{r}");
    c
}

fn seen(server: &TestServer) -> Vec<bool> {
    let user = server
        .store
        .user(&Address::parse("alice@example.test").unwrap())
        .unwrap()
        .unwrap();
    let inbox = server
        .store
        .mailbox(user.id, &MailboxName::inbox())
        .unwrap()
        .unwrap();
    server
        .store
        .messages(inbox.id)
        .unwrap()
        .iter()
        .map(|m| m.flags.has(Flags::SEEN))
        .collect()
}

#[tokio::test]
async fn list_retr_top_uidl_dele_and_update() {
    let server = server_with_mail().await;
    let stored = server.inbox("alice@example.test");
    let mut c = logged_in(&server).await;
    let total: usize = stored.iter().map(Vec::len).sum();
    assert_eq!(c.cmd("STAT").await, format!("+OK 2 {total}"));
    assert!(c.cmd("LIST").await.starts_with("+OK"));
    assert_eq!(
        c.lines().await,
        [
            format!("1 {}", stored[0].len()),
            format!("2 {}", stored[1].len())
        ]
    );
    assert_eq!(c.cmd("LIST 2").await, format!("+OK 2 {}", stored[1].len()));
    assert!(c.cmd("LIST 3").await.starts_with("-ERR"));

    // RETR sends exactly the stored octets (the size LIST announced), dot-stuffed on the wire.
    assert_eq!(
        c.cmd("RETR 1").await,
        format!("+OK {} octets", stored[0].len())
    );
    let raw = c.raw_body().await;
    assert!(
        raw.windows(13).any(|w| w == b"\r\n..dot line\r"),
        "dot-stuffed on the wire"
    );
    c.cmd("RETR 1").await;
    assert_eq!(c.message().await, stored[0]);
    assert!(String::from_utf8_lossy(&stored[0]).ends_with(FIRST));

    assert!(c.cmd("TOP 2 1").await.starts_with("+OK"));
    let top = c.lines().await;
    assert_eq!(&top[top.len() - 3..], ["Subject: two", "", "l1"]);

    assert!(c.cmd("UIDL").await.starts_with("+OK"));
    let uidl = c.lines().await;
    assert_eq!(uidl.len(), 2);
    assert_ne!(uidl[0].split(' ').nth(1), uidl[1].split(' ').nth(1));

    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    assert!(
        c.cmd("RETR 1").await.starts_with("-ERR"),
        "deleted messages are gone for the session"
    );
    assert!(c.cmd("DELE 1").await.starts_with("-ERR"));
    assert_eq!(c.cmd("STAT").await, format!("+OK 1 {}", stored[1].len()));
    assert!(c.cmd("RSET").await.starts_with("+OK maildrop has 2"));
    assert!(c.cmd("DELE 2").await.starts_with("+OK"));
    assert_eq!(seen(&server), [false, false], "nothing changes before QUIT");
    assert_eq!(c.cmd("QUIT").await, "+OK bye (1 messages deleted)");
    assert!(c.closed().await);

    assert_eq!(
        seen(&server),
        [true],
        "message 2 deleted, message 1 read: \\Seen for IMAP"
    );
    let mut again = Pop3Client::connect(server.pop3).await;
    assert!(
        again
            .login("alice@example.test", "s3cret")
            .await
            .starts_with("+OK 1 messages")
    );
    again.cmd("UIDL").await;
    assert_eq!(
        again.lines().await,
        [uidl[0].clone()],
        "UIDL stays the same"
    );
}

#[tokio::test]
async fn a_dropped_session_deletes_nothing_and_new_mail_waits_for_the_next() {
    let server = server_with_mail().await;
    let mut c = logged_in(&server).await;
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    server
        .deliver("alice@example.test", "Subject: three\r\n\r\nnew\r\n")
        .await;
    assert!(
        c.cmd("STAT").await.starts_with("+OK 1 "),
        "new mail is not in this session"
    );
    drop(c);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut next = Pop3Client::connect(server.pop3).await;
    let r = next.login("alice@example.test", "s3cret").await;
    assert!(
        r.starts_with("+OK 3 messages"),
        "nothing lost, nothing deleted: {r}"
    );
}

#[tokio::test]
async fn one_session_per_maildrop() {
    let server = server_with_mail().await;
    let _first = logged_in(&server).await;
    let mut second = Pop3Client::connect(server.pop3).await;
    let r = second.login("alice@example.test", "s3cret").await;
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_look_the_same() {
    let server = server_with_mail().await;
    let mut c = Pop3Client::connect(server.pop3).await;
    let wrong = c.login("alice@example.test", "nope").await;
    let unknown = c.login("nobody@example.test", "nope").await;
    assert!(wrong.starts_with("-ERR [AUTH]"), "{wrong}");
    assert_eq!(wrong, unknown);
    assert!(
        c.cmd("PASS s3cret").await.starts_with("-ERR"),
        "PASS needs a USER first"
    );
    assert!(
        c.cmd("STAT").await.starts_with("-ERR"),
        "not in TRANSACTION"
    );
}

#[tokio::test]
async fn auth_plain_with_and_without_initial_response() {
    let server = server_with_mail().await;
    let mut c = Pop3Client::connect(server.pop3).await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    assert!(c.cmd("*").await.starts_with("-ERR"), "cancelled");
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    let creds = encode(b"\0alice@example.test\0s3cret");
    assert!(c.cmd(&creds).await.starts_with("+OK 2 messages"));
    c.cmd("QUIT").await;

    let mut c = Pop3Client::connect(server.pop3).await;
    let r = c.cmd(&format!("AUTH PLAIN {creds}")).await;
    assert!(r.starts_with("+OK 2 messages"), "{r}");
}

#[tokio::test]
async fn passwords_need_tls_unless_loopback_is_allowed() {
    let server = TestServer::start_with(|c| c.pop3.allow_plaintext_auth_on_loopback = false).await;
    server.add_user("alice@example.test", "s3cret");
    let mut c = Pop3Client::connect(server.pop3).await;
    c.send(b"CAPA\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    let caps = c.lines().await;
    assert!(
        caps.contains(&"STLS".to_owned()) && !caps.contains(&"USER".to_owned()),
        "{caps:?}"
    );
    assert!(
        c.cmd("USER alice@example.test")
            .await
            .starts_with("-ERR [AUTH]")
    );
    assert!(c.cmd("AUTH PLAIN").await.starts_with("-ERR [AUTH]"));
    // STLS discards anything pipelined behind it.
    c.send(b"STLS\r\nUSER injected\r\n").await;
    let mut tls = c.stls_after_reply().await;
    assert!(
        tls.cmd("PASS s3cret").await.starts_with("-ERR"),
        "the injected USER was discarded"
    );
    assert!(
        tls.login("alice@example.test", "s3cret")
            .await
            .starts_with("+OK 0 messages")
    );
    assert!(tls.cmd("QUIT").await.starts_with("+OK"));

    let mut implicit = Pop3Client::connect_tls(server.pop3s).await;
    assert!(implicit.greeting.starts_with("+OK"));
    assert!(
        implicit
            .login("alice@example.test", "s3cret")
            .await
            .starts_with("+OK")
    );
}

#[tokio::test]
async fn pop3_transcripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/transcripts/pop3");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let server = server_with_mail().await;
        run_transcript(&file, server.pop3).await;
        server.stop().await;
    }
}

/// Retrieving in order reads later messages ahead; jumps, TOP, DELE and pipelining in the
/// middle of a run still get exactly the message asked for.
#[tokio::test]
async fn runs_of_retrieval_in_any_order_get_the_right_messages() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test", "s3cret");
    for n in 1..=40 {
        let filler = format!("line {n}\r\n").repeat(n * 30);
        let body = format!("Subject: {n}\r\n\r\n{filler}");
        server.deliver("alice@example.test", &body).await;
    }
    let stored = server.inbox("alice@example.test");
    let mut c = Pop3Client::connect(server.pop3).await;
    assert!(
        c.login("alice@example.test", "s3cret")
            .await
            .starts_with("+OK 40 ")
    );
    let retr = async |c: &mut Pop3Client, n: usize| {
        assert!(
            c.cmd(&format!("RETR {n}")).await.starts_with("+OK"),
            "RETR {n}"
        );
        assert_eq!(c.message().await, stored[n - 1], "message {n}");
    };
    for n in 1..=5 {
        retr(&mut c, n).await;
    }
    assert!(c.cmd("DELE 7").await.starts_with("+OK"));
    retr(&mut c, 6).await;
    assert!(
        c.cmd("RETR 7").await.starts_with("-ERR"),
        "deleted after read-ahead"
    );
    retr(&mut c, 8).await;
    assert!(c.cmd("TOP 9 0").await.starts_with("+OK"));
    let header = c.message().await;
    assert!(header.starts_with(b"Return-Path:") && header.ends_with(b"Subject: 9\r\n\r\n"));
    retr(&mut c, 20).await;
    retr(&mut c, 3).await;
    retr(&mut c, 4).await;
    // Pipelined, as fetchmail does.
    let pipelined: String = (10..=40).map(|n| format!("RETR {n}\r\n")).collect();
    c.send(pipelined.as_bytes()).await;
    for n in 10..=40 {
        assert!(c.line().await.starts_with("+OK"), "RETR {n}");
        assert_eq!(c.message().await, stored[n - 1], "pipelined message {n}");
    }
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
}

/// RFC 2449 5: what the AUTHORIZATION state offers is announced in TRANSACTION too.
#[tokio::test]
async fn capa_after_login_still_lists_the_login_capabilities() {
    let server = server_with_mail().await;
    let mut c = logged_in(&server).await;
    c.send(b"CAPA\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    let caps = c.lines().await;
    for cap in ["USER", "SASL PLAIN", "TOP", "UIDL"] {
        assert!(caps.contains(&cap.to_owned()), "{cap} missing: {caps:?}");
    }
}

/// A client that says STLS and then nothing is dropped after the command timeout.
#[tokio::test]
async fn a_silent_tls_handshake_is_dropped() {
    let server = TestServer::start_with(|c| {
        c.limits.command_timeout = std::time::Duration::from_millis(500)
    })
    .await;
    let mut c = Pop3Client::connect(server.pop3).await;
    assert!(c.cmd("STLS").await.starts_with("+OK"));
    let started = std::time::Instant::now();
    assert!(c.closed().await, "the server hung up");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A client that stops reading in the middle of a large RETR is dropped after the command
/// timeout; its maildrop is free again and nothing was deleted.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|c| {
        c.limits.command_timeout = std::time::Duration::from_secs(1);
        c.limits.max_message_size = 64 << 20;
    })
    .await;
    server.add_user("alice@example.test", "s3cret");
    let line = format!("{}\r\n", "y".repeat(998));
    let big = format!("Subject: big\r\n\r\n{}", line.repeat(24_000));
    // Straight into the store: over SMTP, 24 MB could outlast the 1 s command timeout on a
    // loaded machine.
    {
        use std::io::Write;
        let mut writer = server.store.blob_writer().unwrap();
        writer.write_all(big.as_bytes()).unwrap();
        let user = server
            .store
            .user(&Address::parse("alice@example.test").unwrap())
            .unwrap()
            .unwrap();
        let target = hermod_store::DeliveryTarget {
            user: user.id,
            mailbox: MailboxName::inbox(),
            flags: Flags::default(),
            internal_date: 0,
        };
        let store = server.store.clone();
        let sealed = writer.seal().unwrap();
        tokio::task::spawn_blocking(move || store.deliver(sealed, &[target]))
            .await
            .unwrap()
            .unwrap();
    }
    let mut stream = tokio::net::TcpStream::connect(server.pop3).await.unwrap();
    stream
        .write_all(b"USER alice@example.test\r\nPASS s3cret\r\nRETR 1\r\n")
        .await
        .unwrap();
    // Read nothing while the server's writes pile up, then see that it gave up.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut got),
    );
    let ended = read.await.is_ok();
    assert!(ended, "the server closed the connection");
    assert!(
        got.len() < big.len(),
        "the message was cut off: {} bytes",
        got.len()
    );
    let mut c = Pop3Client::connect(server.pop3).await;
    let r = c.login("alice@example.test", "s3cret").await;
    assert!(r.starts_with("+OK 1 messages"), "{r}");
}
