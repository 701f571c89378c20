//! The spam filter learns from the user: moving mail into Junk over IMAP teaches spam, out
//! of Junk teaches ham, into the user's own counts, which then weigh on that user's mail
//! only (against a real listener and the real SMTP filter).

use hermod_spam::Class;
use hermod_spam::training::{Training, digest};
use hermod_store::{BlockingStore, UserId};
use hermod_testkit::{ImapClient, SmtpClient, TestServer};
use hermod_types::Address;
use std::time::Duration;

const ALICE: &str = "alice@example.test";
const CAROL: &str = "carol@example.test";

fn user_id(server: &TestServer, address: &str) -> UserId {
    let address = Address::parse(address).unwrap();
    server.store.user(&address).unwrap().unwrap().id
}

/// (spam, ham) messages `owner`'s model has learned.
fn learned(server: &TestServer, owner: Option<UserId>) -> (i64, i64) {
    let counts = server.store.bayes_load(owner).unwrap();
    (counts.spam_messages, counts.ham_messages)
}

/// Waits for the lessons (they are learned after the command answered).
async fn until_learned(server: &TestServer, owner: UserId, want: (i64, i64)) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while learned(server, Some(owner)) != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "learned {:?}, expected {want:?}",
            learned(server, Some(owner))
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A message the content rules have nothing against.
fn message(to: &str, n: usize, subject: &str, text: &str) -> String {
    format!(
        "From: news@sender.test\r\nTo: {to}\r\nSubject: {subject} {n}\r\n\
         Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{n}.{subject}@sender.test>\r\n\r\n\
         {text}\r\n"
    )
}

const NEWSLETTER: &str = "Weekly widget deals: gadget discount newsletter, unsubscribe anytime.";

async fn imap(server: &TestServer, user: &str) -> ImapClient {
    let mut c = server.imap_client().await;
    c.login(user, "s3cret").await;
    c
}

#[tokio::test]
async fn moving_into_and_out_of_junk_teaches_the_users_own_model() {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    for n in 1..=3 {
        server
            .deliver(ALICE, &message(ALICE, n, "deals", NEWSLETTER))
            .await;
    }
    let alice = user_id(&server, ALICE);
    let mut c = imap(&server, ALICE).await;
    c.ok("SELECT INBOX").await;
    c.ok("MOVE 1 Junk").await;
    until_learned(&server, alice, (1, 0)).await;
    // COPY teaches too; the same message again is not counted twice.
    c.ok("COPY 1 Junk").await;
    c.ok("COPY 1 Junk").await;
    until_learned(&server, alice, (2, 0)).await;
    c.ok("CREATE Archive").await;
    c.ok("COPY 1 Archive").await;
    c.ok("SELECT Junk").await;
    // Out of Junk into the INBOX: ham (and no longer spam); into Trash: nothing.
    c.ok("UID MOVE 1 INBOX").await;
    until_learned(&server, alice, (1, 1)).await;
    c.ok("MOVE 1 Trash").await;
    c.ok("SELECT Archive").await;
    c.ok("MOVE 1 Trash").await;
    c.ok("NOOP").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(learned(&server, Some(alice)), (1, 1));
    assert_eq!(
        learned(&server, None),
        (0, 0),
        "the server's model is untouched"
    );
}

/// The server-wide model, trained as `hermod spam train` would: 50 of each.
fn train_server(server: &TestServer) {
    let mut training = Training::default();
    for n in 0..50 {
        let spam = message(
            ALICE,
            n,
            "casino",
            "Casino jackpot bonus winner, claim your prize money.",
        );
        let ham = message(
            ALICE,
            n,
            "agenda",
            "Project meeting agenda: lunch, budget review, minutes.",
        );
        for (text, class) in [(spam, Class::Spam), (ham, Class::Ham)] {
            let bytes = text.into_bytes();
            training.add(&bytes, digest(&bytes), None, class);
        }
    }
    let (counts, seen) = hermod_server::stored_lesson(&training);
    server.store.bayes_learn(None, &counts, &seen).unwrap();
}

#[tokio::test]
async fn a_users_lessons_file_their_own_copy_only() {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    server.add_user(CAROL, "s3cret");
    train_server(&server);
    for n in 1..=4 {
        server
            .deliver(ALICE, &message(ALICE, n, "deals", NEWSLETTER))
            .await;
    }
    assert_eq!(
        server.inbox(ALICE).len(),
        4,
        "the server alone has no opinion"
    );
    let mut c = imap(&server, ALICE).await;
    c.ok("SELECT INBOX").await;
    c.ok("MOVE 1:4 Junk").await;
    until_learned(&server, user_id(&server, ALICE), (4, 0)).await;

    // One message to both: Alice's lessons file her copy into Junk, Carol's is untouched.
    let mut smtp = SmtpClient::connect(server.smtp).await;
    smtp.cmd("EHLO client.test").await;
    let body = message(ALICE, 9, "deals", NEWSLETTER);
    let r = smtp
        .send_mail("news@sender.test", &[ALICE, CAROL], &body)
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    assert_eq!(server.inbox(ALICE).len(), 0);
    assert_eq!(server.messages(ALICE, "Junk").len(), 5);
    assert_eq!(server.inbox(CAROL).len(), 1);
    assert!(server.messages(CAROL, "Junk").is_empty());
}
