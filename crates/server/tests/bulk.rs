//! The bulk mail guard against a real server, its relay pointed at a fake MTA: copies of one
//! text are held past the threshold (the account and postmaster told, the account frozen
//! past the second threshold, held copies sent on release), while distinct mail, a large
//! invitation and bulk-allowed accounts pass and the sending limits apply; inbound, the
//! same text from outside to many local users scores `BULK_DUPLICATE`, a list's posts not.

use hermod_store::BlockingStore;
use hermod_testkit::{FakeMta, SmtpClient, SmtpReply, TestServer, eventually};
use hermod_types::Address;

const ALICE: &str = "alice@example.test";

async fn server_for(mta: &FakeMta, adjust: impl FnOnce(&mut hermod_config::Config)) -> TestServer {
    let port = mta.addr.port();
    let server = TestServer::start_with(|c| {
        c.outbound.port = port;
        adjust(c);
    })
    .await;
    server.add_user(ALICE, "s3cret");
    server.add_user("admin@example.test", "pw");
    let postmaster = hermod_store::AliasKey::parse("postmaster@example.test").unwrap();
    server
        .store
        .add_alias(&postmaster, &[addr("admin@example.test")])
        .unwrap();
    server
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// Connected over TLS and authenticated as alice.
async fn alice(server: &TestServer) -> SmtpClient {
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.auth_plain(ALICE, "s3cret").await.code, 235);
    c
}

/// One transaction; the first refusal (MAIL, RCPT or the end of data) is its reply.
async fn try_send(c: &mut SmtpClient, to: &[&str], body: &str) -> SmtpReply {
    let r = c.cmd(&format!("MAIL FROM:<{ALICE}>")).await;
    if r.code != 250 {
        return r;
    }
    for rcpt in to {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
        if r.code != 250 {
            c.cmd("RSET").await;
            return r;
        }
    }
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send(body.as_bytes()).await;
    c.cmd(".").await
}

/// A tiny deterministic generator for varied copies and distinct texts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "Anna", "Bob", "Carla", "Dmitri", "Emil", "Farah", "Greta", "Hugo",
];
const WORDS: &[&str] = &[
    "account", "garden", "winter", "project", "budget", "river", "meeting", "holiday", "invoice",
    "train", "coffee", "report", "family", "concert", "doctor", "kitchen", "contract", "bicycle",
    "weather", "library", "museum", "football", "printer", "dinner", "airport", "keyboard",
    "mountain", "teacher", "children", "deadline", "question", "answer", "picture", "letter",
    "window", "market", "hospital", "theatre", "recipe", "village", "island", "engine", "pocket",
    "shelter", "harvest", "journey", "lantern", "compass", "orchard", "ladder", "marble", "velvet",
];

/// Copy `i` of a phishing mailing to `to`: greeting, tokens, dates and a random tail vary.
fn spam_copy(rng: &mut Rng, i: usize, to: &str) -> String {
    let name = rng.pick(NAMES);
    let tail: Vec<&str> = (0..4).map(|_| rng.pick(WORDS)).collect();
    format!(
        "From: {ALICE}\r\nTo: {to}\r\nSubject: {name}, your parcel is waiting\r\n\r\n\
         Hi {name},\r\n\r\nYour parcel could not be delivered on {}/11/2026 because the \
         customs fee of {}.{:02} EUR was not paid. Pay the fee within two days at \
         https://parcel-fees.example.test/pay?id={:x}&n={i} or the parcel goes back to its \
         sender.\r\n\r\nTracking number: {:x}\r\nYour delivery service\r\n\r\n{}\r\n",
        1 + i % 28,
        1 + i % 9,
        i % 100,
        rng.next(),
        rng.next(),
        tail.join(" ")
    )
}

/// A message on its own topic: random sentences from a shared vocabulary.
fn distinct_message(rng: &mut Rng, to: &str) -> String {
    let words: Vec<&str> = (0..45).map(|_| rng.pick(WORDS)).collect();
    format!(
        "From: {ALICE}\r\nTo: {to}\r\nSubject: {} {}\r\n\r\n{}.\r\n",
        words[0],
        words[1],
        words.join(" ")
    )
}

fn held(server: &TestServer) -> Vec<i64> {
    let queue = server.store.queue().unwrap();
    queue
        .iter()
        .filter(|e| e.held.is_some())
        .map(|e| e.id)
        .collect()
}

fn notices(server: &TestServer, user: &str) -> Vec<String> {
    server
        .inbox(user)
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .filter(|m| m.contains("held by the bulk mail guard"))
        .collect()
}

/// 300 near-identical copies, one recipient each, with the default thresholds (50, 200):
/// 50 leave, the next 151 are held (the 201st freezes the account), the rest are refused at
/// MAIL; alice and postmaster are told of the hold and of the freeze; released, the held
/// copies go out; unfrozen, alice sends again.
#[tokio::test]
async fn a_compromised_account_is_held_then_frozen_and_release_sends() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta, |_| {}).await;
    let mut c = alice(&server).await;
    let mut rng = Rng(1);
    let mut codes = Vec::new();
    for i in 0..300 {
        let to = format!("victim{i}@remote.test");
        let r = try_send(&mut c, &[&to], &spam_copy(&mut rng, i, &to)).await;
        if r.code == 450 {
            assert!(
                r.text().contains("4.7.1") && r.text().contains("frozen"),
                "{r:?}"
            );
        }
        codes.push(r.code);
    }
    assert!(codes[..201].iter().all(|&c| c == 250), "{codes:?}");
    assert!(codes[201..].iter().all(|&c| c == 450), "{codes:?}");
    eventually("the first 50 relayed", || mta.messages().len() >= 50).await;
    eventually("only held entries left", || {
        server
            .store
            .queue()
            .unwrap()
            .iter()
            .all(|e| e.held.is_some())
    })
    .await;
    let sent: Vec<Vec<String>> = mta.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(sent.len(), 50, "no more than the threshold left: {sent:?}");
    let ids = held(&server);
    assert_eq!(ids.len(), 151);
    let record = server.store.user(&addr(ALICE)).unwrap().unwrap();
    assert!(record.frozen.is_some());
    for user in [ALICE, "admin@example.test"] {
        let told = notices(&server, user);
        assert_eq!(told.len(), 2, "{user}: one hold notice, one freeze notice");
        assert!(told[0].contains("Outgoing mail was held"), "{}", told[0]);
        assert!(
            told[1].contains("hermod user unfreeze alice@example.test"),
            "{}",
            told[1]
        );
    }
    let now = hermod_message::unix_now();
    for id in &ids {
        assert!(server.store.queue_release_held(*id, now).unwrap());
    }
    eventually("the released copies relayed", || {
        mta.messages().len() == 201
    })
    .await;
    assert!(server.store.set_frozen(&addr(ALICE), None).unwrap());
    let mut c = alice(&server).await;
    let r = try_send(
        &mut c,
        &["friend@remote.test"],
        &format!("From: {ALICE}\r\nSubject: back\r\n\r\nI am back.\r\n"),
    )
    .await;
    assert_eq!(r.code, 250, "{r:?}");
}

/// 300 different messages to 300 recipients over a simulated hour and a half: the hourly
/// limit refuses with a reply naming it, an hour later the account may send again, and
/// nothing is held or frozen.
#[tokio::test]
async fn distinct_mail_meets_the_rate_limits_not_the_guard() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta, |c| c.submission.max_messages_per_hour = 100).await;
    let mut c = alice(&server).await;
    let mut rng = Rng(2);
    let (mut accepted, mut limited) = (0, 0);
    for i in 0..300 {
        if i == 200 {
            server.clock.advance(3600);
        }
        server.clock.advance(12);
        let to = format!("friend{i}@remote.test");
        let r = try_send(&mut c, &[&to], &distinct_message(&mut rng, &to)).await;
        match r.code {
            250 => accepted += 1,
            450 => {
                assert!(
                    r.text()
                        .contains("4.7.1 Sending limit reached: 100 messages per hour"),
                    "{r:?}"
                );
                limited += 1;
            }
            _ => panic!("{r:?}"),
        }
    }
    assert_eq!((accepted, limited), (200, 100));
    assert!(held(&server).is_empty());
    assert!(
        server
            .store
            .user(&addr(ALICE))
            .unwrap()
            .unwrap()
            .frozen
            .is_none()
    );
    eventually("everything relayed", || mta.messages().len() == 200).await;
}

/// The recipient limits count every recipient of the messages of the hour.
#[tokio::test]
async fn the_recipient_limit_refuses_the_rcpt_that_passes_it() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta, |c| c.submission.max_recipients_per_hour = 5).await;
    let mut c = alice(&server).await;
    let body = &format!("From: {ALICE}\r\nSubject: hi\r\n\r\nhello\r\n");
    let r = try_send(
        &mut c,
        &["a@remote.test", "b@remote.test", "c@remote.test"],
        body,
    )
    .await;
    assert_eq!(r.code, 250);
    let r = try_send(
        &mut c,
        &["d@remote.test", "e@remote.test", "f@remote.test"],
        body,
    )
    .await;
    assert_eq!(r.code, 450);
    assert!(r.text().contains("5 recipients per hour"), "{r:?}");
    server.clock.advance(3600);
    let r = try_send(
        &mut c,
        &["d@remote.test", "e@remote.test", "f@remote.test"],
        body,
    )
    .await;
    assert_eq!(r.code, 250, "{r:?}");
}

/// An invitation to 80, sent once, passes; so does a follow-up to the same people.
#[tokio::test]
async fn one_message_to_eighty_recipients_passes() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta, |_| {}).await;
    let mut c = alice(&server).await;
    let guests: Vec<String> = (0..80).map(|i| format!("guest{i}@remote.test")).collect();
    let to: Vec<&str> = guests.iter().map(String::as_str).collect();
    let invitation = "From: alice@example.test\r\nSubject: Summer party\r\n\r\nDear friends,\r\n\r\nyou are all invited to our \
                      summer party in the garden on Saturday evening. Bring something to grill \
                      and a good mood; we take care of drinks and music.\r\n";
    assert_eq!(try_send(&mut c, &to, invitation).await.code, 250);
    let follow_up = invitation.replace("Summer party", "Re: Summer party");
    assert_eq!(try_send(&mut c, &to, &follow_up).await.code, 250);
    assert!(held(&server).is_empty());
    eventually("both relayed", || mta.messages().len() == 2).await;
}

/// A newsletter account (`bulk allow`) sends the same text to many: nothing is held.
#[tokio::test]
async fn a_bulk_allowed_account_passes() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta, |c| c.bulk.hold_after = 5).await;
    server.store.set_bulk_allowed(&addr(ALICE), true).unwrap();
    let mut c = alice(&server).await;
    let mut rng = Rng(3);
    for i in 0..20 {
        let to = format!("reader{i}@remote.test");
        assert_eq!(
            try_send(&mut c, &[&to], &spam_copy(&mut rng, i, &to))
                .await
                .code,
            250
        );
    }
    assert!(held(&server).is_empty());
    eventually("all relayed", || mta.messages().len() == 20).await;
}

async fn inbound(server: &TestServer, from: &str, to: &str, body: &str) {
    let mut c = server.client().await;
    assert_eq!(c.cmd("EHLO mail.sender.test").await.code, 250);
    let r = c.send_mail(from, &[to], body).await;
    assert_eq!(r.code, 250, "{r:?}");
}

/// What `user` received, in order, wherever it was filed (INBOX or Junk).
fn received(server: &TestServer, user: &str) -> Vec<Vec<u8>> {
    let mut all = server.inbox(user);
    all.extend(server.messages(user, "Junk"));
    all.sort_by_key(|m| {
        let text = String::from_utf8_lossy(m).into_owned();
        let id = text.split("Message-ID: <").nth(1).unwrap_or("");
        id.split('.')
            .next()
            .unwrap_or("")
            .parse::<u32>()
            .unwrap_or(0)
            + if text.contains("List-Id:") { 1000 } else { 0 }
    });
    all
}

fn spam_status(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let header = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
    header
        .split("\r\n")
        .skip_while(|l| !l.starts_with("X-Spam-Status:"))
        .take_while(|l| l.starts_with("X-Spam-Status:") || l.starts_with([' ', '\t']))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A campaign from outside to 100 local users: from the 20th recipient on, the copies score
/// `BULK_DUPLICATE`. The same number of posts of a mailing list, signed by the list's
/// domain, score nothing.
#[tokio::test]
async fn inbound_campaigns_score_and_list_posts_do_not() {
    let server = TestServer::start().await;
    let users: Vec<String> = (0..100).map(|i| format!("user{i}@example.test")).collect();
    for user in &users {
        server.store.add_user(&addr(user), "unused", None).unwrap();
    }
    let mut rng = Rng(4);
    for (i, user) in users.iter().enumerate() {
        let head = format!(
            "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{i}.deal@spam.test>\r\n"
        );
        let body = head + &spam_copy(&mut rng, i, user).replace(ALICE, "deals@spam.test");
        inbound(&server, "deals@spam.test", user, &body).await;
    }
    let status = |user: &str| spam_status(&received(&server, user)[0]);
    assert!(
        !status(&users[0]).contains("BULK_DUPLICATE"),
        "{}",
        status(&users[0])
    );
    assert!(
        !status(&users[18]).contains("BULK_DUPLICATE"),
        "{}",
        status(&users[18])
    );
    for user in &users[19..] {
        assert!(
            status(user).contains("BULK_DUPLICATE"),
            "{user}: {}",
            status(user)
        );
    }

    let keys = hermod_core::dkim::generate_keys().unwrap();
    for key in &keys {
        let name = format!("{}._domainkey.lists.example.org", key.selector);
        server.dns.add_txt(&name, &hermod_core::dkim::dkim_txt(key));
    }
    for (i, user) in users.iter().enumerate() {
        let post = format!(
            "From: Announce <announce@lists.example.org>\r\nTo: {user}\r\n\
             List-Id: Announcements <announce.lists.example.org>\r\n\
             Subject: [announce] Release 2.0 is out\r\nMessage-ID: <{i}.post@lists.example.org>\r\n\r\n\
             Version 2.0 is out, with a new storage engine and faster indexing. Read the \
             release notes before you upgrade a production system.\r\n"
        );
        let signature =
            hermod_core::dkim::sign(&keys, "lists.example.org", post.as_bytes()).unwrap();
        inbound(
            &server,
            "bounces@lists.example.org",
            user,
            &(signature + &post),
        )
        .await;
    }
    for user in &users {
        let post = spam_status(&received(&server, user)[1]);
        assert!(!post.contains("BULK_DUPLICATE"), "{user}: {post}");
    }
}
