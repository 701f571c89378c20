//! Sieve at delivery: users' scripts file, flag, discard, reject, redirect and answer mail
//! arriving over SMTP; a broken script keeps the message.

use hermod_store::BlockingStore;
use hermod_testkit::{FakeMta, SmtpClient, TestServer, eventually};
use hermod_types::Address;
use std::time::Duration;

async fn server_for(mta: &FakeMta) -> TestServer {
    let port = mta.addr.port();
    let server = TestServer::start_with(|c| c.outbound.port = port).await;
    server.add_user("alice@example.test", "pw");
    server.add_user("bob@example.test", "pw");
    server
}

/// Stores `script` for `address` and makes it active, as `hermod sieve put/activate` do.
fn activate(server: &TestServer, address: &str, script: &str) {
    let user = server
        .store
        .user(&Address::parse(address).unwrap())
        .unwrap()
        .unwrap();
    server
        .store
        .sieve_put(user.id, "main", script.as_bytes())
        .unwrap();
    server.store.sieve_activate(user.id, Some("main")).unwrap();
}

fn message(from: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@remote.test>\r\n{extra}\r\nHello.\r\n"
    )
}

async fn send(server: &TestServer, from: &str, to: &[&str], body: &str) -> u16 {
    let mut c = SmtpClient::connect(server.smtp).await;
    c.cmd("EHLO sender.test").await;
    let reply = c.send_mail(from, to, body).await;
    c.cmd("QUIT").await;
    reply.code
}

fn flags_of(server: &TestServer, address: &str, mailbox: &str) -> Vec<(u8, Vec<String>)> {
    let user = server
        .store
        .user(&Address::parse(address).unwrap())
        .unwrap()
        .unwrap();
    let name = hermod_types::MailboxName::parse(mailbox).unwrap();
    let mailbox = server.store.mailbox(user.id, &name).unwrap().unwrap();
    let metas = server.store.messages(mailbox.id).unwrap();
    metas
        .into_iter()
        .map(|m| (m.flags.bits, m.flags.keywords))
        .collect()
}

#[tokio::test]
async fn scripts_file_flag_and_discard() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    activate(
        &server,
        "alice@example.test",
        r#"require ["fileinto", "imap4flags", "mailbox"];
           if header :contains "List-Id" "dev.lists.test" { fileinto :create "Lists/dev"; stop; }
           if address :is "from" "boss@remote.test" { addflag ["\\Flagged", "$Boss"]; }
           if header :contains "subject" "junkmail" { discard; stop; }
           if header :contains "subject" "nowhere" { fileinto "Missing"; }"#,
    );
    let from = "sender@remote.test";
    let to = ["alice@example.test"];
    let list = message(from, "list", "List-Id: <dev.lists.test>\r\n");
    assert_eq!(send(&server, from, &to, &list).await, 250);
    let boss = message("boss@remote.test", "boss", "");
    assert_eq!(send(&server, "boss@remote.test", &to, &boss).await, 250);
    let junk = message(from, "junkmail", "");
    assert_eq!(send(&server, from, &to, &junk).await, 250);
    // fileinto a missing mailbox without :create is an error: the message is kept.
    let nowhere = message(from, "nowhere", "");
    assert_eq!(send(&server, from, &to, &nowhere).await, 250);

    let lists = server.messages("alice@example.test", "Lists/dev");
    assert_eq!(lists.len(), 1);
    let inbox = server.inbox("alice@example.test");
    let subjects: Vec<bool> = ["Subject: boss", "Subject: nowhere", "Subject: junkmail"]
        .iter()
        .map(|s| inbox.iter().any(|m| String::from_utf8_lossy(m).contains(s)))
        .collect();
    assert_eq!(subjects, [true, true, false], "discarded mail is gone");
    let flags = flags_of(&server, "alice@example.test", "INBOX");
    assert_eq!(
        flags[0].0 & hermod_store::Flags::FLAGGED,
        hermod_store::Flags::FLAGGED
    );
    assert_eq!(flags[0].1, ["$Boss"]);
}

#[tokio::test]
async fn reject_refuses_in_the_dialogue_unless_someone_else_takes_it() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    activate(
        &server,
        "alice@example.test",
        "require \"reject\";\nif header :contains \"subject\" \"offer\" { reject \"No offers,\r\n250 thanks\"; }",
    );
    let from = "sender@remote.test";
    let offer = message(from, "offer", "");
    let mut c = SmtpClient::connect(server.smtp).await;
    c.cmd("EHLO sender.test").await;
    let reply = c.send_mail(from, &["alice@example.test"], &offer).await;
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(
        reply.text().contains("No offers, 250 thanks") && !reply.text().contains('\n'),
        "one line, the script's words: {reply:?}"
    );
    assert!(server.inbox("alice@example.test").is_empty());
    // With a second recipient that keeps it, the message is accepted; alice's copy is not.
    let both = ["alice@example.test", "bob@example.test"];
    assert_eq!(send(&server, from, &both, &offer).await, 250);
    assert!(server.inbox("alice@example.test").is_empty());
    assert_eq!(server.inbox("bob@example.test").len(), 1);
    // The reply could not say so: the (clean-scored) sender gets a report instead.
    eventually("the rejection report", || mta.messages().len() == 1).await;
    let report = &mta.messages()[0];
    assert_eq!(
        (report.from.as_str(), &report.to[..]),
        ("", &["sender@remote.test".to_owned()][..])
    );
    assert!(
        report
            .data
            .contains("Final-Recipient: rfc822; alice@example.test"),
        "{}",
        report.data
    );
    assert!(
        report.data.contains("Rejected by the recipient: No offers"),
        "{}",
        report.data
    );
}

#[tokio::test]
async fn vacation_answers_each_sender_once_and_never_lists() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    activate(
        &server,
        "alice@example.test",
        r#"require "vacation";
           vacation :days 7 :subject "Away" "I am away until Monday.";"#,
    );
    let to = ["alice@example.test"];
    let first = message("carol@remote.test", "first", "");
    assert_eq!(send(&server, "carol@remote.test", &to, &first).await, 250);
    eventually("the vacation reply", || mta.messages().len() == 1).await;
    let second = message("carol@remote.test", "second", "");
    assert_eq!(send(&server, "carol@remote.test", &to, &second).await, 250);
    let list = message("dave@remote.test", "list", "List-Id: <l.remote.test>\r\n");
    assert_eq!(send(&server, "dave@remote.test", &to, &list).await, 250);
    let bulk = message("erin@remote.test", "bulk", "Precedence: bulk\r\n");
    assert_eq!(send(&server, "erin@remote.test", &to, &bulk).await, 250);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = mta.messages();
    assert_eq!(sent.len(), 1, "once per sender, never to lists or bulk");
    assert_eq!(sent[0].from, "", "from the null sender");
    assert_eq!(sent[0].to, ["carol@remote.test"]);
    assert!(sent[0].data.contains("Subject: Away"), "{}", sent[0].data);
    assert!(sent[0].data.contains("I am away until Monday."));
    assert!(sent[0].data.contains("In-Reply-To: <first@remote.test>"));
    assert_eq!(server.inbox("alice@example.test").len(), 4, "all kept");
}

/// A local sender's vacation reply is filed in its INBOX, never sent to the relay (which
/// would look up this server's own MX).
#[tokio::test]
async fn a_vacation_reply_to_a_local_sender_is_filed_locally() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    activate(
        &server,
        "alice@example.test",
        r#"require "vacation";
           vacation :subject "Away" "Back on Monday.";"#,
    );
    let body = message("bob@example.test", "local", "");
    let code = send(&server, "bob@example.test", &["alice@example.test"], &body).await;
    assert_eq!(code, 250);
    eventually("the reply in bob's INBOX", || {
        server.inbox("bob@example.test").len() == 1
    })
    .await;
    let reply = String::from_utf8(server.inbox("bob@example.test").remove(0)).unwrap();
    assert!(reply.contains("Subject: Away") && reply.contains("Back on Monday."));
    assert!(server.store.queue().unwrap().is_empty(), "nothing queued");
    assert!(mta.messages().is_empty());
}

#[tokio::test]
async fn redirect_relays_the_message_once() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    activate(
        &server,
        "alice@example.test",
        r#"redirect "alice@elsewhere.test";"#,
    );
    let to = ["alice@example.test"];
    let body = message("carol@remote.test", "fwd", "");
    assert_eq!(send(&server, "carol@remote.test", &to, &body).await, 250);
    eventually("the redirect", || mta.messages().len() == 1).await;
    let got = mta.messages()[0].clone();
    assert_eq!(got.to, ["alice@elsewhere.test"]);
    assert!(got.data.starts_with("Delivered-To: alice@example.test\r\n"));
    assert!(got.data.contains("Subject: fwd"));
    assert!(
        server.inbox("alice@example.test").is_empty(),
        "redirect cancels keep"
    );
    // The envelope sender is hermod's SRS address in alice's domain (SPF passes there)...
    assert!(
        got.from.starts_with("SRS0=") && got.from.ends_with("=remote.test=carol@example.test"),
        "{}",
        got.from
    );
    // ...and a bounce to it goes back to carol; a forged one is an unknown user.
    let bounce = "From: MAILER-DAEMON@elsewhere.test\r\nSubject: failed\r\n\r\nbounced\r\n";
    assert_eq!(send(&server, "", &[got.from.as_str()], bounce).await, 250);
    eventually("the bounce relayed", || mta.messages().len() == 2).await;
    assert_eq!(mta.messages()[1].to, ["carol@remote.test"]);
    let forged = got.from.replace("=carol@", "=mallory@");
    let mut c = SmtpClient::connect(server.smtp).await;
    c.cmd("EHLO sender.test").await;
    c.cmd("MAIL FROM:<>").await;
    let refused = c.cmd(&format!("RCPT TO:<{forged}>")).await;
    assert_eq!(refused.code, 550, "{refused:?}");
    let mta_before = mta.messages().len();

    // A message that already went through alice's redirect is not sent round again.
    let looped = format!("Delivered-To: alice@example.test\r\n{body}");
    assert_eq!(send(&server, "carol@remote.test", &to, &looped).await, 250);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mta.messages().len(), mta_before);
}

#[tokio::test]
async fn a_script_that_fails_keeps_the_message() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    // Stored behind the checks' back: enotify is not an extension hermod offers.
    activate(
        &server,
        "alice@example.test",
        "require \"enotify\";\ndiscard;",
    );
    let body = message("carol@remote.test", "kept", "");
    assert_eq!(
        send(&server, "carol@remote.test", &["alice@example.test"], &body).await,
        250
    );
    assert_eq!(server.inbox("alice@example.test").len(), 1);
}

/// The redirected copy reaches a second hermod whose SPF check passes: the envelope sender
/// is the SRS address in alice's domain, which publishes this host in its SPF record.
#[tokio::test]
async fn a_redirect_passes_spf_at_the_destination() {
    let dest = TestServer::start().await;
    let elsewhere = hermod_types::Domain::parse("elsewhere.test").unwrap();
    dest.store.add_domain(&elsewhere).unwrap();
    dest.add_user("friend@elsewhere.test", "pw");
    dest.dns
        .add_txt("example.test", "v=spf1 ip4:127.0.0.1 -all");
    dest.dns.add_txt("remote.test", "v=spf1 -all");
    let port = dest.smtp.port();
    let src = TestServer::start_with(|c| c.outbound.port = port).await;
    src.add_user("alice@example.test", "pw");
    activate(
        &src,
        "alice@example.test",
        r#"redirect "friend@elsewhere.test";"#,
    );
    let body = message("carol@remote.test", "spf", "");
    assert_eq!(
        send(&src, "carol@remote.test", &["alice@example.test"], &body).await,
        250
    );
    eventually("the redirect at the destination", || {
        dest.inbox("friend@elsewhere.test").len() == 1
    })
    .await;
    let stored = String::from_utf8(dest.inbox("friend@elsewhere.test").remove(0)).unwrap();
    let results = stored.replace("\r\n\t", " ");
    assert!(
        results.contains("spf=pass") && results.contains("smtp.mailfrom=\"SRS0="),
        "carol's own domain would fail SPF here: {stored}"
    );
    assert!(stored.contains("Return-Path: <SRS0="), "{stored}");
}

/// editheader (RFC 5293): alice's script edits her copy and the copy it redirects; bob, on
/// the same message, keeps it as it arrived; a quota that refuses one copy refuses all.
#[tokio::test]
async fn edited_copies_are_their_users_own_and_kept_with_the_others() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    server.add_user_with_quota("full@example.test", "pw", Some(10));
    activate(
        &server,
        "alice@example.test",
        r#"require ["editheader", "fileinto", "mailbox", "copy"];
           addheader "X-Sorted" "by alice";
           deleteheader "Received";
           redirect :copy "dave@elsewhere.test";
           fileinto :create "Sorted";"#,
    );
    let body = message("carol@remote.test", "edited", "");
    let to = ["alice@example.test", "bob@example.test"];
    assert_eq!(send(&server, "carol@remote.test", &to, &body).await, 250);
    let alices = server.messages("alice@example.test", "Sorted");
    let alices = String::from_utf8_lossy(&alices[0]).into_owned();
    assert!(alices.contains("X-Sorted: by alice\r\n"), "{alices}");
    assert!(alices.contains("Received: "), "Received stays: {alices}");
    let bobs = server.inbox("bob@example.test");
    let bobs = String::from_utf8_lossy(&bobs[0]).into_owned();
    assert!(!bobs.contains("X-Sorted"), "{bobs}");
    let body_of = |m: &str| m.split_once("\r\n\r\n").unwrap().1.to_owned();
    assert_eq!(body_of(&alices), body_of(&bobs));
    eventually("the redirect", || !mta.messages().is_empty()).await;
    let redirected = mta.messages().remove(0).data;
    assert!(
        redirected.contains("X-Sorted: by alice\r\n"),
        "{redirected}"
    );

    // A recipient over quota: nobody's copy is kept, edited or not (the client retries).
    let body = message("carol@remote.test", "refused", "");
    let to = [
        "alice@example.test",
        "bob@example.test",
        "full@example.test",
    ];
    assert_eq!(send(&server, "carol@remote.test", &to, &body).await, 452);
    assert_eq!(server.messages("alice@example.test", "Sorted").len(), 1);
    assert_eq!(server.inbox("bob@example.test").len(), 1);
}
