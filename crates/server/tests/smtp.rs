//! SMTP receiving against a real listener on 127.0.0.1:0.

use hermod_store::BlockingStore;
use hermod_testkit::{TestServer, run_transcript};
use hermod_types::{Address, Domain};
use std::time::Duration;

async fn server_with_alice() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice@example.test", "pw");
    server
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn golden_transcripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/transcripts/smtp");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "transcripts missing in {}", dir.display());
    for file in files {
        let server = server_with_alice().await;
        run_transcript(&file, server.smtp).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn stores_the_message_byte_for_byte_with_trace_fields() {
    let server = server_with_alice().await;
    let mut c = server.client().await;
    assert_eq!(c.cmd("EHLO client.test").await.code, 250);
    // 8-bit octets as they came (a NUL is another matter: smtp_nul.rs).
    let body = "Subject: hi\r\n\r\n..dot\r\n\x7fbiné\r\nlast line\r\n";
    let reply = c
        .send_mail("bob@remote.test", &["alice@example.test"], body)
        .await;
    assert_eq!(reply.code, 250, "{reply:?}");
    let stored = server.inbox("alice@example.test");
    assert_eq!(stored.len(), 1);
    let stored = text(&stored[0]);
    assert!(
        stored.starts_with("Return-Path: <bob@remote.test>\r\nAuthentication-Results: mx.example.test;\r\n\tspf=none"),
        "{stored}"
    );
    // The spam filter's fields sit between Return-Path and our Received:.
    // 127.0.0.1 is "localhost" in reverse DNS (RFC 6761), so that name is in Received.
    let received = stored.find("Received: from client.test (localhost [127.0.0.1])\r\n\tby mx.example.test (hermod) with ESMTP id ");
    let status = stored.find("X-Spam-Status: No, score=");
    assert!(
        status.is_some() && received.is_some() && status < received,
        "{stored}"
    );
    assert!(
        stored.contains("\r\n\tfor <alice@example.test>;\r\n"),
        "{stored}"
    );
    assert!(
        stored.ends_with("\r\nSubject: hi\r\n\r\n.dot\r\n\x7fbin\u{e9}\r\nlast line\r\n"),
        "{stored}"
    );
}

#[tokio::test]
async fn one_copy_for_many_recipients_aliases_and_catch_all() {
    let server = server_with_alice().await;
    server.add_user("bob@example.test", "pw");
    let store = server.store.clone();
    let alias = hermod_store::AliasKey::parse("team@example.test").unwrap();
    let targets = [
        Address::parse("alice@example.test").unwrap(),
        Address::parse("bob@example.test").unwrap(),
    ];
    store.add_alias(&alias, &targets).unwrap();
    let catch_all = hermod_store::AliasKey::parse("@example.test").unwrap();
    store.add_alias(&catch_all, &targets[1..]).unwrap();
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    let reply = c
        .send_mail(
            "x@remote.test",
            &[
                "team@example.test",
                "alice@example.test",
                "whoever@example.test",
            ],
            "Subject: t\r\n\r\nhi\r\n",
        )
        .await;
    assert_eq!(reply.code, 250);
    assert_eq!(
        server.inbox("alice@example.test").len(),
        1,
        "alice gets one copy"
    );
    assert_eq!(
        server.inbox("bob@example.test").len(),
        1,
        "bob gets one copy"
    );
    // No `for` clause with several recipients: it would disclose Bcc recipients.
    assert!(!text(&server.inbox("bob@example.test")[0]).contains("\tfor <"));
    let blob_of = |addr: &str| {
        let user = store.user(&Address::parse(addr).unwrap()).unwrap().unwrap();
        let inbox = store
            .mailbox(user.id, &hermod_types::MailboxName::parse("INBOX").unwrap())
            .unwrap()
            .unwrap();
        store.messages(inbox.id).unwrap()[0].blob.clone()
    };
    assert_eq!(
        blob_of("alice@example.test"),
        blob_of("bob@example.test"),
        "one stored body"
    );
}

#[tokio::test]
async fn size_limits_are_enforced_at_mail_and_at_data() {
    let server = TestServer::start_with(|c| c.limits.max_message_size = 2048).await;
    server.add_user("alice@example.test", "pw");
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    let r = c.cmd("MAIL FROM:<a@remote.test> SIZE=4096").await;
    assert_eq!(
        (r.code, r.lines[0].starts_with("5.3.4")),
        (552, true),
        "{r:?}"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@remote.test> SIZE=100").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<alice@example.test>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send(
        format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(998))
            .repeat(4)
            .as_bytes(),
    )
    .await;
    let r = c.cmd(".").await;
    assert_eq!(r.code, 552, "{r:?}");
    // The session goes on and nothing was stored.
    assert_eq!(c.cmd("NOOP").await.code, 250);
    assert!(server.inbox("alice@example.test").is_empty());
}

#[tokio::test]
async fn recipient_limit_quota_and_mail_loop() {
    let server = TestServer::start_with(|c| {
        c.limits.max_recipients = 2;
        c.limits.max_received_headers = 3;
    })
    .await;
    server.add_user("alice@example.test", "pw");
    server.add_user_with_quota("full@example.test", "pw", Some(10));
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    // The declared SIZE does not fit in the 10-byte quota.
    c.cmd("MAIL FROM:<a@remote.test> SIZE=100").await;
    let r = c.cmd("RCPT TO:<full@example.test>").await;
    assert_eq!(
        (r.code, r.text().starts_with("4.2.2")),
        (452, true),
        "{r:?}"
    );
    assert_eq!(c.cmd("RCPT TO:<alice@example.test>").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<alice+x@example.test>").await.code, 250);
    let r = c.cmd("RCPT TO:<postmaster@example.test>").await;
    assert_eq!(
        (r.code, r.text().starts_with("4.5.3")),
        (452, true),
        "{r:?}"
    );
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send(
        b"Received: a\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\nSubject: loop\r\n\r\nx\r\n",
    )
    .await;
    let r = c.cmd(".").await;
    assert_eq!(
        (r.code, r.text().starts_with("5.4.6")),
        (554, true),
        "{r:?}"
    );
    assert!(server.inbox("alice@example.test").is_empty());
}

#[tokio::test]
async fn pipelined_transaction_is_answered_in_order() {
    let server = server_with_alice().await;
    let mut c = server.client().await;
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n").await;
    let codes: Vec<u16> = [
        c.reply().await,
        c.reply().await,
        c.reply().await,
        c.reply().await,
        c.reply().await,
    ]
    .iter()
    .map(|r| r.code)
    .collect();
    assert_eq!(codes, [250, 250, 550, 250, 354]);
    c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n").await;
    let codes: Vec<u16> = [
        c.reply().await,
        c.reply().await,
        c.reply().await,
        c.reply().await,
    ]
    .iter()
    .map(|r| r.code)
    .collect();
    assert_eq!(codes, [250, 250, 250, 354]);
    assert_eq!(c.cmd("Subject: q\r\n\r\nbody\r\n.").await.code, 250);
    assert_eq!(server.inbox("alice@example.test").len(), 2);
}

#[tokio::test]
async fn bdat_chunks_are_joined_and_refused_chunks_are_skipped() {
    let server = server_with_alice().await;
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    // A chunk without a transaction is read in full and refused; the stream stays in sync.
    c.send(b"BDAT 5\r\nhello").await;
    assert_eq!(c.reply().await.code, 503);
    c.cmd("MAIL FROM:<a@remote.test>").await;
    c.cmd("RCPT TO:<alice@example.test>").await;
    // A CRLF may be cut between two chunks.
    c.send(b"BDAT 17\r\nSubject: c\r\n\r\nab\r").await;
    assert_eq!(c.reply().await.code, 250);
    c.send(b"BDAT 5 LAST\r\n\n.x\r\n").await;
    let r = c.reply().await;
    assert_eq!(r.code, 250, "{r:?}");
    assert_eq!(c.cmd("DATA").await.code, 503, "transaction is over");
    let stored = text(&server.inbox("alice@example.test")[0]);
    assert!(
        stored.ends_with("\r\nSubject: c\r\n\r\nab\r\n.x\r\n"),
        "{stored}"
    );
}

/// SMTP smuggling through CHUNKING: BDAT content keeps DATA's rule (only CRLF ends a line),
/// so a hidden `\r.\r` or `\n.\n` never reaches a mailbox or the relay.
#[tokio::test]
async fn bdat_content_with_bare_line_endings_is_refused() {
    let server = server_with_alice().await;
    let variants: [&[u8]; 7] = [
        b"hello\r.\rMAIL FROM:<ceo@bank.example>\r\n",
        b"hello\n.\nMAIL FROM:<ceo@bank.example>\r\n",
        b"hello\r\n.\nMAIL FROM:<ceo@bank.example>\r\n",
        b"hello\n.\r\nMAIL FROM:<ceo@bank.example>\r\n",
        b"hello\r.\r\nMAIL FROM:<ceo@bank.example>\r\n",
        b"hello\r\n.\rMAIL FROM:<ceo@bank.example>\r\n",
        b"ends with a bare CR\r",
    ];
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    for content in variants {
        c.cmd("MAIL FROM:<a@remote.test>").await;
        c.cmd("RCPT TO:<alice@example.test>").await;
        let mut chunk = format!("BDAT {} LAST\r\n", content.len()).into_bytes();
        chunk.extend_from_slice(content);
        c.send(&chunk).await;
        let r = c.reply().await;
        assert_eq!(
            (r.code, r.text().starts_with("5.6.0")),
            (554, true),
            "{:?}: {r:?}",
            String::from_utf8_lossy(content)
        );
        assert_eq!(c.cmd("NOOP").await.code, 250, "still in step");
    }
    // Split over two chunks, the bare CR is found in the first.
    c.cmd("MAIL FROM:<a@remote.test>").await;
    c.cmd("RCPT TO:<alice@example.test>").await;
    c.send(b"BDAT 8\r\nhello\r.\r").await;
    assert_eq!(c.reply().await.code, 554);
    c.send(b"BDAT 2 LAST\r\nx\n").await;
    assert_eq!(c.reply().await.code, 503, "the transaction ended");
    assert!(server.inbox("alice@example.test").is_empty());
}

#[tokio::test]
async fn starttls_discards_pipelined_bytes_and_restarts_the_session() {
    let server = server_with_alice().await;
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    // An attacker's injection pipelined behind STARTTLS must not run inside TLS.
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n")
        .await;
    let (mut tls, _) = {
        let r = c.reply().await;
        assert_eq!(r.code, 220);
        c.starttls_after_reply().await
    };
    let r = tls.cmd("RCPT TO:<alice@example.test>").await;
    assert_eq!(
        r.code, 503,
        "the injected MAIL must have been discarded: {r:?}"
    );
    let ehlo = tls.cmd("EHLO client.test").await;
    assert!(!ehlo.text().contains("STARTTLS"), "{ehlo:?}");
    let r = tls
        .send_mail(
            "bob@remote.test",
            &["alice@example.test"],
            "Subject: tls\r\n\r\nx\r\n",
        )
        .await;
    assert_eq!(r.code, 250);
    let stored = text(&server.inbox("alice@example.test")[0]);
    assert!(stored.contains(" with ESMTPS id "), "{stored}");
}

#[tokio::test]
async fn utf8_addresses_need_smtputf8_and_idn_domains_work() {
    let server = TestServer::start().await;
    server
        .store
        .add_domain(&Domain::parse("bücher.test").unwrap())
        .unwrap();
    server.add_user("jürgen@bücher.test", "pw");
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    let r = c.cmd("MAIL FROM:<jörg@remote.test>").await;
    assert_eq!(
        (r.code, r.text().starts_with("5.6.7")),
        (553, true),
        "{r:?}"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@remote.test>").await.code, 250);
    let r = c.cmd("RCPT TO:<jürgen@bücher.test>").await;
    assert_eq!(r.code, 553, "{r:?}");
    c.cmd("RSET").await;
    assert_eq!(
        c.cmd("MAIL FROM:<jörg@remote.test> SMTPUTF8").await.code,
        250
    );
    assert_eq!(c.cmd("RCPT TO:<JÜRGEN@xn--bcher-kva.test>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    assert_eq!(c.cmd("Subject: Grüße\r\n\r\nx\r\n.").await.code, 250);
    let stored = text(&server.inbox("jürgen@bücher.test")[0]);
    assert!(stored.contains(" with UTF8SMTP id "), "{stored}");
}

/// An A-label is plain ASCII: mail to an IDN domain written that way needs no SMTPUTF8,
/// while the same domain written in U-labels does.
#[tokio::test]
async fn a_labels_need_no_smtputf8() {
    let server = TestServer::start().await;
    server
        .store
        .add_domain(&Domain::parse("bücher.test").unwrap())
        .unwrap();
    server.add_user("info@bücher.test", "pw");
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("MAIL FROM:<a@xn--bcher-kva.test>").await.code, 250);
    let r = c.cmd("RCPT TO:<info@bücher.test>").await;
    assert_eq!(r.code, 553, "{r:?}");
    let r = c.cmd("RCPT TO:<info@xn--bcher-kva.test>").await;
    assert_eq!(r.code, 250, "{r:?}");
    assert_eq!(c.cmd("DATA").await.code, 354);
    assert_eq!(c.cmd("Subject: plain\r\n\r\nx\r\n.").await.code, 250);
    assert_eq!(server.inbox("info@bücher.test").len(), 1);
}

#[tokio::test]
async fn idle_clients_get_a_timeout_reply() {
    let server =
        TestServer::start_with(|c| c.limits.command_timeout = Duration::from_millis(300)).await;
    let mut c = server.client().await;
    let r = c.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("4.4.2")),
        (421, true),
        "{r:?}"
    );
    assert_eq!(c.reply().await.code, 0, "connection closed");
}

/// A client that says STARTTLS and then nothing is dropped after the command timeout.
#[tokio::test]
async fn a_silent_tls_handshake_is_dropped() {
    let server =
        TestServer::start_with(|c| c.limits.command_timeout = Duration::from_millis(500)).await;
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("STARTTLS").await.code, 220);
    let started = std::time::Instant::now();
    assert_eq!(c.reply().await.code, 0, "connection closed");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Sends `before` at once, then `trickle` a byte every 150 ms (stopping when the server
/// hangs up); returns everything the server said and how long the trickle lasted.
async fn trickle(
    server: std::net::SocketAddr,
    before: &[u8],
    trickle: &[u8],
) -> (String, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let mut greeting = [0u8; 512];
    let n = stream.read(&mut greeting).await.unwrap();
    assert!(greeting[..n].starts_with(b"220 "), "greeting first");
    stream.write_all(before).await.unwrap();
    let started = std::time::Instant::now();
    for byte in trickle {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut said = Vec::new();
    let read = stream.read_to_end(&mut said);
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    (
        String::from_utf8_lossy(&said).into_owned(),
        started.elapsed(),
    )
}

/// A byte at a time keeps no session alive: the whole command line, and the message data
/// at `min_data_rate`, must arrive in time.
#[tokio::test]
async fn trickling_clients_are_cut_off() {
    let server = TestServer::start_with(|c| {
        c.limits.command_timeout = Duration::from_millis(800);
        c.limits.data_timeout = Duration::from_millis(800);
        c.limits.min_data_rate = 1000;
    })
    .await;
    server.add_user("alice@example.test", "pw");
    let (said, took) = trickle(server.smtp, b"", b"NOOP NOOP NOOP NOOP NOOP\r\n").await;
    assert!(said.starts_with("421 4.4.2"), "{said}");
    assert!(took < Duration::from_secs(3), "{took:?}");

    let envelope = b"EHLO client.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n";
    let (said, took) = trickle(server.smtp, envelope, &[b'x'; 30]).await;
    assert!(
        said.contains("354 ") && said.contains("\r\n421 4.4.2"),
        "{said}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(server.inbox("alice@example.test").is_empty());
}

#[tokio::test]
async fn connections_per_ip_are_capped() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_ip = 1).await;
    let first = server.client().await;
    assert_eq!(first.greeting.code, 220);
    let second = server.client().await;
    assert_eq!(second.greeting.code, 421);
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.client().await.greeting.code, 220);
}

#[tokio::test]
async fn shutdown_lets_a_transaction_in_flight_finish() {
    let server = server_with_alice().await;
    let mut idle = server.client().await;
    let mut busy = server.client().await;
    busy.cmd("EHLO client.test").await;
    busy.cmd("MAIL FROM:<a@remote.test>").await;
    busy.cmd("RCPT TO:<alice@example.test>").await;
    assert_eq!(busy.cmd("DATA").await.code, 354);
    let store = server.store.clone();
    let stopping = tokio::spawn(server.stop());
    let r = idle.reply().await;
    assert_eq!(r.code, 421, "idle sessions are told to come back: {r:?}");
    let r = busy.cmd("Subject: late\r\n\r\nstill delivered\r\n.").await;
    assert_eq!(r.code, 250, "{r:?}");
    drop(busy);
    stopping.await.unwrap();
    let alice = store
        .user(&Address::parse("alice@example.test").unwrap())
        .unwrap()
        .unwrap();
    let inbox = store
        .mailbox(
            alice.id,
            &hermod_types::MailboxName::parse("INBOX").unwrap(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(store.messages(inbox.id).unwrap().len(), 1);
}

#[tokio::test]
async fn bare_line_endings_and_long_lines_in_commands() {
    let server = TestServer::start_with(|c| c.limits.max_command_line = 600).await;
    let mut c = server.client().await;
    c.send(format!("HELO {}\r\n", "a".repeat(700)).as_bytes())
        .await;
    let r = c.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("5.5.2")),
        (500, true),
        "{r:?}"
    );
    c.send(b"HELO a\rb\r\n").await;
    assert_eq!(c.reply().await.code, 500);
    assert_eq!(c.cmd("HELO ok.test").await.code, 250);
}

#[tokio::test]
async fn ipv4_and_ipv6_wildcards_listen_side_by_side() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(|c| {
        c.listen.smtp = vec![
            format!("0.0.0.0:{port}").parse().unwrap(),
            format!("[::]:{port}").parse().unwrap(),
        ];
    })
    .await;
    let v4 = hermod_testkit::SmtpClient::connect(([127, 0, 0, 1], port).into()).await;
    assert_eq!(v4.greeting.code, 220);
    let v6 = hermod_testkit::SmtpClient::connect(format!("[::1]:{port}").parse().unwrap()).await;
    assert_eq!(v6.greeting.code, 220);
    server.stop().await;
}

/// Bodies up to 64 KiB are kept in the index and larger ones in files (spilling part-way
/// through DATA, and across the spool's flushes): every size comes back byte for byte, with
/// the spam filter holding the start of the message and without it.
#[tokio::test]
async fn small_and_large_bodies_come_back_intact() {
    for filter in [true, false] {
        let server = TestServer::start_with(|c| c.spam.enabled = filter).await;
        server.add_user("alice@example.test", "pw");
        let mut c = server.client().await;
        assert_eq!(c.cmd("EHLO client.test").await.code, 250);
        let sizes = [100, 60 * 1024, 70 * 1024, 700 * 1024];
        let mut sent = Vec::new();
        for (n, size) in sizes.into_iter().enumerate() {
            let line = format!("line of message {n} ........................................\r\n");
            let body = format!("Subject: {n}\r\n\r\n{}", line.repeat(size / line.len()));
            let reply = c
                .send_mail("bob@remote.test", &["alice@example.test"], &body)
                .await;
            assert_eq!(reply.code, 250, "{reply:?}");
            sent.push(body);
        }
        let stored = server.inbox("alice@example.test");
        assert_eq!(stored.len(), sent.len());
        for (stored, sent) in stored.iter().zip(&sent) {
            assert!(text(stored).ends_with(sent.as_str()), "filter {filter}");
        }
        let files = walk(&server.dir.path().join("blobs"));
        assert_eq!(files, 2, "the two bodies over 64 KiB are files");
        server.stop().await;
    }
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk(&p) } else { 1 })
        .sum()
}
