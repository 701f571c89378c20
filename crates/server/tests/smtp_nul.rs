//! NUL octets in mail that arrives by SMTP or submission (issue #13): a part holding one is
//! stored base64-encoded, so IMAP's BODY[] and POP3's RETR never carry a raw NUL while
//! BINARY[] gives back the octets sent; a NUL no encoding can carry is refused.

use hermod_testkit::{FakeMta, Pop3Client, SmtpClient, TestServer, eventually};
use mail_auth::DkimResult;

const ALICE: &str = "alice@example.test";
const TEXT: &str = "plain text, no NUL\r\n";
const TEXT_WITH_NUL: &str = "a line with a \0 inside\r\n";
const ATTACHMENT: &str = "\u{89}PNG\r\n\u{1a}\n\0\0\0\rIHDR\0\u{1}\u{2}\u{ff}";

/// Three parts: text without a NUL, text with one, a binary attachment with several.
fn message(from: &str) -> String {
    format!(
        "From: {from}\r\nTo: {ALICE}\r\nSubject: nul\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\n{TEXT}\r\n\
         --b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{TEXT_WITH_NUL}\r\n\
         --b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n{ATTACHMENT}\r\n\
         --b--\r\n"
    )
}

/// The attachment's octets, as the client sends them: DATA needs CRLF line ends, so the
/// test's bare CR and LF are made into pairs first.
fn wire(content: &str) -> String {
    content
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

async fn imap_fetch(server: &TestServer, items: &str) -> String {
    let mut c = server.imap_client().await;
    c.login(ALICE, "s3cret").await;
    c.ok("SELECT INBOX").await;
    let r = c.ok(&format!("FETCH 1 ({items})")).await;
    r.join("\r\n")
}

#[tokio::test]
async fn mail_from_another_server_reaches_imap_and_pop3_without_a_raw_nul() {
    let server = TestServer::start().await;
    server.add_user(ALICE, "s3cret");
    server
        .deliver(ALICE, &wire(&message("bob@remote.test")))
        .await;
    let stored = server.inbox(ALICE).remove(0);
    assert!(!stored.contains(&0), "{}", String::from_utf8_lossy(&stored));

    let body = imap_fetch(&server, "BODY.PEEK[]").await;
    assert!(!body.contains('\0'), "{body}");
    let whole = format!(
        "* 1 FETCH (BODY[] {{{}}}\r\n{})",
        stored.len(),
        String::from_utf8_lossy(&stored)
    );
    assert_eq!(body, whole, "BODY[] is what is stored");

    // BINARY gives back the octets sent, in a literal8 where they hold a NUL.
    let attachment = wire(ATTACHMENT);
    let binary = imap_fetch(&server, "BINARY.PEEK[1] BINARY.PEEK[2] BINARY.PEEK[3]").await;
    let expected = format!(
        "* 1 FETCH (BINARY[1] {{{}}}\r\n{TEXT} BINARY[2] ~{{{}}}\r\n{TEXT_WITH_NUL} \
         BINARY[3] ~{{{}}}\r\n{attachment})",
        TEXT.len(),
        TEXT_WITH_NUL.len(),
        attachment.len()
    );
    assert_eq!(binary, expected);
    let structure = imap_fetch(&server, "BODYSTRUCTURE").await;
    assert!(
        structure.contains("(\"text\" \"plain\" NIL NIL NIL \"7bit\" 20 ")
            && structure.matches("\"base64\"").count() == 2,
        "the part without a NUL keeps its octets: {structure}"
    );

    let mut pop = Pop3Client::connect(server.pop3).await;
    assert!(pop.login(ALICE, "s3cret").await.starts_with("+OK"));
    assert!(pop.cmd("RETR 1").await.starts_with("+OK"));
    assert_eq!(pop.message().await, stored, "RETR sends what is stored");
}

#[tokio::test]
async fn a_nul_no_encoding_can_carry_is_refused_with_554() {
    let server = TestServer::start().await;
    server.add_user(ALICE, "s3cret");
    let mut c = SmtpClient::connect(server.smtp).await;
    c.cmd("EHLO sender.test").await;
    let in_header = "Subject: a\0b\r\n\r\nbody\r\n";
    let r = c.send_mail("bob@remote.test", &[ALICE], in_header).await;
    assert_eq!(r.code, 554, "{r:?}");
    assert!(r.text().starts_with("5.6.0 "), "{r:?}");
    let in_preamble =
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n\0\r\n--b\r\n\r\nx\r\n--b--\r\n";
    let r = c.send_mail("bob@remote.test", &[ALICE], in_preamble).await;
    assert_eq!(r.code, 554, "{r:?}");
    // BDAT content follows the same rule.
    c.cmd("MAIL FROM:<bob@remote.test>").await;
    c.cmd(&format!("RCPT TO:<{ALICE}>")).await;
    c.send(format!("BDAT {} LAST\r\n{in_header}", in_header.len()).as_bytes())
        .await;
    assert_eq!(c.reply().await.code, 554);
    // The session goes on.
    let r = c
        .send_mail("bob@remote.test", &[ALICE], "Subject: ok\r\n\r\nok\r\n")
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    assert_eq!(server.inbox(ALICE).len(), 1);
}

#[tokio::test]
async fn submission_stores_and_signs_the_converted_message() {
    let mta = FakeMta::start().await;
    let port = mta.addr.port();
    let server = TestServer::start_with(|c| {
        c.outbound.port = port;
        c.submission.save_to_sent = true;
    })
    .await;
    server.add_user(ALICE, "s3cret");
    let domain = hermod_types::Domain::parse("example.test").unwrap();
    let keys = hermod_core::dkim::generate_keys().unwrap();
    for key in &keys {
        use hermod_store::BlockingStore;
        server.store.set_dkim_key(&domain, key).unwrap();
        let name = format!("{}._domainkey.example.test", key.selector);
        server.dns.add_txt(&name, &hermod_core::dkim::dkim_txt(key));
    }
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.auth_plain(ALICE, "s3cret").await.code, 235);
    let body = wire(&message(ALICE));
    let r = c
        .send_mail(ALICE, &[ALICE, "friend@remote.test"], &body)
        .await;
    assert_eq!(r.code, 250, "{r:?}");

    for copy in [server.inbox(ALICE), server.messages(ALICE, "Sent")] {
        assert_eq!(copy.len(), 1);
        assert!(
            !copy[0].contains(&0),
            "{}",
            String::from_utf8_lossy(&copy[0])
        );
    }
    eventually("relayed", || !mta.messages().is_empty()).await;
    let relayed = mta.messages().remove(0).data;
    assert!(!relayed.contains('\0'), "{relayed}");
    assert!(relayed.starts_with("DKIM-Signature: "), "{relayed}");
    // The signatures cover the message as relayed, converted parts included.
    let auth = hermod_server::dns_authenticator(&[server.dns.addr()]).unwrap();
    let parsed = mail_auth::AuthenticatedMessage::parse(relayed.as_bytes()).unwrap();
    let results = auth.verify_dkim(&parsed).await;
    assert_eq!(results.len(), 2, "ed25519 and rsa");
    for result in &results {
        assert!(matches!(result.result(), DkimResult::Pass), "{result:?}");
    }
}
