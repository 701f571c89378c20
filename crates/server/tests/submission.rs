//! Submission (RFC 6409) on the submission and submissions listeners.

use hermod_store::BlockingStore;
use hermod_testkit::{SmtpClient, TestServer, run_transcript};

async fn server() -> TestServer {
    server_with(|_| {}).await
}

async fn server_with(adjust: impl FnOnce(&mut hermod_config::Config)) -> TestServer {
    let server = TestServer::start_with(adjust).await;
    server.add_user("alice@example.test", "s3cret");
    server.add_user("bob@example.test", "pw");
    server
}

/// Connected, TLS on, authenticated as alice.
async fn alice(server: &TestServer) -> SmtpClient {
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.text().contains("AUTH PLAIN LOGIN"), "{ehlo:?}");
    let r = c.auth_plain("alice@example.test", "s3cret").await;
    assert_eq!(r.code, 235, "{r:?}");
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn auth_transcripts() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/transcripts/submission");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for file in files {
        let server = server().await;
        run_transcript(&file, server.submission).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn bcc_is_stripped_but_delivered_and_missing_fields_are_added() {
    let server = server().await;
    let mut c = alice(&server).await;
    let body = "From: Alice <alice@example.test>\r\nTo: alice@example.test\r\nBcc: bob@example.test\r\nSubject: hi\r\n\r\nhello\r\n";
    let r = c
        .send_mail(
            "alice@example.test",
            &["alice@example.test", "bob@example.test"],
            body,
        )
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    for user in ["alice@example.test", "bob@example.test"] {
        let stored = text(&server.inbox(user)[0]);
        assert!(!stored.contains("Bcc:"), "{stored}");
        assert!(
            stored.contains("\r\nDate: ") && stored.contains("\r\nMessage-ID: <"),
            "{stored}"
        );
        assert!(
            stored.contains("with ESMTPSA id")
                && stored.contains("(authenticated as alice@example.test)"),
            "{stored}"
        );
        assert!(stored.ends_with("\r\n\r\nhello\r\n"), "{stored}");
    }
}

#[tokio::test]
async fn forged_senders_are_refused() {
    let server = server().await;
    let mut c = alice(&server).await;
    let r = c.cmd("MAIL FROM:<bob@example.test>").await;
    assert_eq!(
        (r.code, r.text().starts_with("5.7.1")),
        (553, true),
        "{r:?}"
    );
    assert_eq!(c.cmd("MAIL FROM:<>").await.code, 553);
    assert_eq!(c.cmd("MAIL FROM:<alice+x@example.test>").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<bob@example.test>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    let r = c
        .cmd("From: Bob <bob@example.test>\r\nSubject: forged\r\n\r\nx\r\n.")
        .await;
    assert_eq!(
        (r.code, r.text().starts_with("5.7.1")),
        (553, true),
        "{r:?}"
    );
    assert!(server.inbox("bob@example.test").is_empty());
}

#[tokio::test]
async fn remote_recipients_go_to_the_queue_only_when_authenticated() {
    let server = server().await;
    let mut c = alice(&server).await;
    let body = "From: alice@example.test\r\nSubject: out\r\n\r\nto the world\r\n";
    c.cmd("MAIL FROM:<alice@example.test> RET=HDRS ENVID=abc")
        .await;
    assert_eq!(
        c.cmd("RCPT TO:<friend@remote.test> NOTIFY=FAILURE,DELAY")
            .await
            .code,
        250
    );
    assert_eq!(c.cmd("RCPT TO:<bob@example.test>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send(body.as_bytes()).await;
    assert_eq!(c.cmd(".").await.code, 250);
    let queue = server.store.queue().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].sender, "alice@example.test");
    assert_eq!(
        queue[0].recipients,
        [(
            "friend@remote.test".to_owned(),
            "pending".to_owned(),
            0,
            None
        )]
    );
    assert_eq!(
        server.inbox("bob@example.test").len(),
        1,
        "the local copy is delivered at once"
    );

    // The MX port never relays for anyone unauthenticated.
    let mut mx = server.client().await;
    mx.cmd("EHLO client.test").await;
    mx.cmd("MAIL FROM:<alice@example.test>").await;
    assert_eq!(mx.cmd("RCPT TO:<friend@remote.test>").await.code, 550);
    // Nor does submission before AUTH.
    let mut sub = SmtpClient::connect(server.submission).await;
    sub.cmd("EHLO client.test").await;
    assert_eq!(sub.cmd("MAIL FROM:<alice@example.test>").await.code, 530);
}

#[tokio::test]
async fn implicit_tls_sent_copy_and_hourly_limit() {
    let server = server_with(|c| {
        c.submission.save_to_sent = true;
        c.submission.max_messages_per_hour = 1;
        c.submission.hide_client_ip = true;
    })
    .await;
    let mut c = SmtpClient::connect_tls(server.submissions).await;
    assert_eq!(c.greeting.code, 220);
    assert!(
        c.cmd("EHLO client.test")
            .await
            .text()
            .contains("AUTH PLAIN LOGIN")
    );
    let r = c.auth_plain("alice@example.test", "s3cret").await;
    assert_eq!(r.code, 235);
    let r = c
        .send_mail(
            "alice@example.test",
            &["bob@example.test"],
            "From: alice@example.test\r\n\r\nx\r\n",
        )
        .await;
    assert_eq!(r.code, 250);
    let sent = server.messages("alice@example.test", "Sent");
    assert_eq!(sent.len(), 1, "a copy in Sent");
    assert!(!text(&sent[0]).contains("127.0.0.1"), "client IP hidden");
    let r = c.cmd("MAIL FROM:<alice@example.test>").await;
    assert_eq!(
        (r.code, r.text().starts_with("4.7.1")),
        (450, true),
        "{r:?}"
    );
}

#[tokio::test]
async fn auth_on_port_25_only_when_configured() {
    let server = server().await;
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    assert!(!c.cmd("EHLO client.test").await.text().contains("AUTH"));
    assert_eq!(c.cmd("AUTH PLAIN AGE=").await.code, 502);

    let server = server_with(|c| c.smtp.allow_auth = true).await;
    let mut c = server.client().await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    assert!(
        c.cmd("EHLO client.test")
            .await
            .text()
            .contains("AUTH PLAIN LOGIN")
    );
    let r = c.auth_plain("alice@example.test", "s3cret").await;
    assert_eq!(r.code, 235);
    c.cmd("MAIL FROM:<alice@example.test>").await;
    assert_eq!(
        c.cmd("RCPT TO:<friend@remote.test>").await.code,
        250,
        "relay after AUTH"
    );
}

/// Every mailbox of `From:`, `Sender:` and `Resent-*` is checked, wherever it hides, and a
/// second `From:` or `Sender:` is refused: none of these may leave DKIM-signed in the name
/// of another account.
#[tokio::test]
async fn from_forgeries_hidden_in_the_header_are_refused() {
    let server = server().await;
    let forgeries = [
        (
            "From: alice@example.test\r\nFrom: bob@example.test\r\n",
            550,
        ),
        ("From: bob@example.test (<alice@example.test>)\r\n", 553),
        (
            "From: \"Alice <alice@example.test>\" bob@example.test\r\n",
            553,
        ),
        ("From: \"bob@example.test\" <alice@example.test>\r\n", 553),
        (
            "From: alice@example.test\r\nSender: bob@example.test\r\n",
            553,
        ),
        (
            "From: alice@example.test\r\nSender: alice@example.test\r\nSender: alice@example.test\r\n",
            550,
        ),
        (
            "From: alice@example.test\r\nResent-From: bob@example.test\r\n",
            553,
        ),
        ("Subject: no author\r\n", 550),
    ];
    for (header, code) in forgeries {
        let mut c = alice(&server).await;
        let body = format!("{header}Subject: forged\r\n\r\nx\r\n");
        let r = c
            .send_mail("alice@example.test", &["friend@remote.test"], &body)
            .await;
        assert_eq!(r.code, code, "{header:?}: {r:?}");
    }
    assert!(server.store.queue().unwrap().is_empty(), "nothing queued");
    let mut c = alice(&server).await;
    let honest =
        "From: Alice <alice@example.test>\r\nSender: alice+lists@example.test\r\n\r\nx\r\n";
    let r = c
        .send_mail("alice@example.test", &["friend@remote.test"], honest)
        .await;
    assert_eq!(r.code, 250, "{r:?}");
}

/// Once an account is locked, no spelling of its name gets in: the lock keys on the
/// canonical account, not on the name as typed.
#[tokio::test]
async fn a_locked_account_stays_locked_under_any_spelling() {
    let server = server().await;
    server.add_user("carol@example.test", "right");
    // Ten failures at once: the throttle's growing delays run side by side.
    let attempts = (0..10).map(|_| {
        let addr = server.submissions;
        tokio::spawn(async move {
            let mut c = SmtpClient::connect_tls(addr).await;
            c.cmd("EHLO client.test").await;
            c.auth_plain("carol@example.test", "wrong").await.code
        })
    });
    for attempt in attempts.collect::<Vec<_>>() {
        assert_eq!(attempt.await.unwrap(), 535);
    }
    for spelling in [
        "carol@example.test",
        "\"carol\"@example.test",
        "carol@example.test.",
        "\"c\\arol\"@example.test",
        "CAROL@EXAMPLE.TEST",
    ] {
        let mut c = SmtpClient::connect_tls(server.submissions).await;
        c.cmd("EHLO client.test").await;
        let r = c.auth_plain(spelling, "right").await;
        assert_eq!(r.code, 454, "{spelling}: {r:?}");
        let mut p = hermod_testkit::Pop3Client::connect(server.pop3).await;
        let answer = p.login(spelling, "right").await;
        assert!(
            answer.starts_with("-ERR [LOGIN-DELAY]"),
            "{spelling}: {answer}"
        );
    }
}
