//! Known correspondents (`[spam] known_senders`): whom an account writes to is remembered,
//! and mail from them whose author's domain is authenticated scores `KNOWN_SENDER` for that
//! account alone; a forged `From:` gets nothing, and with the setting off nothing changes.
//! Authenticated senders whose mail the account takes out of Junk over IMAP become known
//! too, and putting their mail back into Junk forgets them.

use hermod_testkit::{FakeMta, SmtpClient, TestServer, eventually};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const FRIEND: &str = "friend@friend.test";

/// A server that files into Junk at 1 point, its relay pointed at `mta`, where mail from
/// friend.test's own address (127.0.0.1) passes SPF.
async fn server(mta: &FakeMta, known_senders: bool) -> TestServer {
    let port = mta.addr.port();
    let server = TestServer::start_with(|c| {
        c.outbound.port = port;
        c.spam.junk_threshold = 1.0;
        c.spam.known_senders = known_senders;
    })
    .await;
    server.add_user(ALICE, "s3cret");
    server.add_user(BOB, "s3cret");
    server
        .dns
        .add_txt("friend.test", "v=spf1 ip4:127.0.0.1 -all");
    server.dns.add_txt("shop.test", "v=spf1 ip4:127.0.0.1 -all");
    server
}

/// Alice writes to her friend over submission.
async fn alice_writes_to_friend(server: &TestServer) {
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.auth_plain(ALICE, "s3cret").await.code, 235);
    let body = format!(
        "From: {ALICE}\r\nTo: {FRIEND}\r\nSubject: lunch\r\nMessage-ID: <lunch@example.test>\r\n\
         Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nLunch on Friday?\r\n"
    );
    assert_eq!(c.send_mail(ALICE, &[FRIEND], &body).await.code, 250);
}

/// Whether `sender` is one of Alice's known senders (noted after the 250, or after a move).
fn alice_knows(server: &TestServer, sender: &str) -> bool {
    use hermod_store::BlockingStore;
    let address = hermod_types::Address::parse(ALICE).unwrap();
    let alice = server.store.user(&address).unwrap().unwrap().id;
    !(server.store.correspondents_of(sender, &[alice]).unwrap()).is_empty()
}

/// A reply from the friend (`From:` the friend) to Alice and Bob, over MX with `mail_from`
/// as the reverse path. It has no Message-ID (1 point), so it is Junk unless known.
async fn reply(server: &TestServer, mail_from: &str) {
    let body = format!(
        "From: {FRIEND}\r\nTo: {ALICE}, {BOB}\r\nSubject: Re: lunch\r\n\
         Date: Sat, 28 Nov 2026 11:00:00 +0000\r\n\r\nFriday suits me.\r\n"
    );
    let mut c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.cmd("EHLO mail.friend.test").await.code, 250);
    let r = c.send_mail(mail_from, &[ALICE, BOB], &body).await;
    assert_eq!(r.code, 250, "{r:?}");
}

/// (Alice's inbox, Alice's Junk, Bob's inbox, Bob's Junk) counts.
fn folders(server: &TestServer) -> (usize, usize, usize, usize) {
    (
        server.inbox(ALICE).len(),
        server.messages(ALICE, "Junk").len(),
        server.inbox(BOB).len(),
        server.messages(BOB, "Junk").len(),
    )
}

#[tokio::test]
async fn replies_from_people_written_to_skip_junk_for_the_writer_alone() {
    let mta = FakeMta::start().await;
    let server = server(&mta, true).await;
    reply(&server, FRIEND).await;
    assert_eq!(
        folders(&server),
        (0, 1, 0, 1),
        "a stranger's: Junk for both"
    );

    alice_writes_to_friend(&server).await;
    eventually("alice's correspondent noted", || {
        alice_knows(&server, FRIEND)
    })
    .await;
    reply(&server, FRIEND).await;
    assert_eq!(folders(&server), (1, 1, 0, 2), "known to Alice only");

    // The friend's address in From:, but sent from elsewhere: SPF says nothing for
    // other.test, no DKIM, so the author is not authenticated.
    reply(&server, "someone@other.test").await;
    assert_eq!(
        folders(&server),
        (1, 2, 0, 3),
        "a forged From: is no one's friend"
    );
}

#[tokio::test]
async fn with_known_senders_off_nothing_is_remembered() {
    let mta = FakeMta::start().await;
    let server = server(&mta, false).await;
    alice_writes_to_friend(&server).await;
    // Time for a note that should not come (one comes within milliseconds when on).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!alice_knows(&server, FRIEND));
    reply(&server, FRIEND).await;
    assert_eq!(folders(&server), (0, 1, 0, 1));
}

const SHOP: &str = "news@shop.test";

/// A newsletter from the shop (SPF passes) to Alice; no Message-ID, so Junk unless known.
async fn newsletter(server: &TestServer, n: usize) {
    let body = format!(
        "From: Shop <{SHOP}>\r\nTo: {ALICE}\r\nSubject: Deals {n}\r\n\
         Date: Sat, 28 Nov 2026 11:00:00 +0000\r\n\r\nThis week's deals.\r\n"
    );
    let mut c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.cmd("EHLO mail.shop.test").await.code, 250);
    assert_eq!(c.send_mail(SHOP, &[ALICE], &body).await.code, 250);
}

#[tokio::test]
async fn taking_a_sender_out_of_junk_makes_it_known_and_junking_it_forgets_it() {
    let mta = FakeMta::start().await;
    let server = server(&mta, true).await;
    newsletter(&server, 1).await;
    assert_eq!(server.messages(ALICE, "Junk").len(), 1);
    let mut imap = server.imap_client().await;
    imap.login(ALICE, "s3cret").await;
    imap.ok("SELECT Junk").await;
    imap.ok("MOVE 1 INBOX").await;
    eventually("the shop known", || alice_knows(&server, SHOP)).await;

    newsletter(&server, 2).await;
    assert_eq!(server.inbox(ALICE).len(), 2, "the next one skips Junk");
    assert!(server.messages(ALICE, "Junk").is_empty());

    imap.ok("SELECT INBOX").await;
    imap.ok("MOVE 2 Junk").await;
    eventually("the shop forgotten", || !alice_knows(&server, SHOP)).await;
    newsletter(&server, 3).await;
    assert_eq!(server.messages(ALICE, "Junk").len(), 2);
}
