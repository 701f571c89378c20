//! Inbound spam defence against a real listener, with DNS answered by the testkit's DNS
//! server on loopback: block lists, DNSBLs, SPF/DKIM/DMARC and Authentication-Results, the
//! connection checks, greylisting, and the verdict's actions (headers, Junk, refusal).

use hermod_config::CheckAction;
use hermod_testkit::{SmtpClient, TestServer};
use hermod_types::Cidr;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE: &str = "alice@example.test";

/// A well-formed message from `from`, so the content rules stay quiet.
fn message(from: &str, subject: &str) -> String {
    format!(
        "From: {from}\r\nTo: {ALICE}\r\nSubject: {subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <{subject}.1@sender.test>\r\n\r\nHello Alice, see you tomorrow.\r\n"
    )
}

async fn server_with(adjust: impl FnOnce(&mut hermod_config::Config)) -> TestServer {
    let server = TestServer::start_with(adjust).await;
    server.add_user(ALICE, "s3cret");
    server
}

async fn send(
    server: &TestServer,
    helo: &str,
    from: &str,
    body: &str,
) -> hermod_testkit::SmtpReply {
    let mut c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.greeting.code, 220, "{:?}", c.greeting);
    assert_eq!(c.cmd(&format!("EHLO {helo}")).await.code, 250);
    c.send_mail(from, &[ALICE], body).await
}

/// A well-formed message from bob@sender.test, HELO client.test.
async fn send_from_bob(server: &TestServer, subject: &str) -> hermod_testkit::SmtpReply {
    let from = "bob@sender.test";
    send(server, "client.test", from, &message(from, subject)).await
}

fn header_of(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n\r\n").next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_blocklisted_client_is_refused_at_connect_and_only_quit_works() {
    let server =
        server_with(|c| c.spam.blocklist = vec![Cidr::parse("127.0.0.0/8").unwrap()]).await;
    let mut c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.greeting.code, 554, "{:?}", c.greeting);
    assert!(c.greeting.text().contains("5.7.1"), "{:?}", c.greeting);
    let r = c.cmd("EHLO client.test").await;
    assert_eq!(r.code, 503, "{r:?}");
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>").await.code, 503);
    assert_eq!(c.cmd("QUIT").await.code, 221);
    assert!(server.inbox(ALICE).is_empty());
}

#[tokio::test]
async fn the_allowlist_beats_the_blocklist() {
    let server = server_with(|c| {
        c.spam.blocklist = vec![Cidr::parse("127.0.0.0/8").unwrap()];
        c.spam.allowlist = vec![Cidr::parse("127.0.0.1").unwrap()];
    })
    .await;
    let r = send_from_bob(&server, "hi").await;
    assert_eq!(r.code, 250, "{r:?}");
}

#[tokio::test]
async fn a_client_listed_by_a_dnsbl_is_refused_naming_the_list() {
    let server = server_with(|c| {
        c.spam.dnsbl_zones = vec![hermod_config::DnsblZone {
            zone: "bl.test".into(),
            score: None,
        }];
    })
    .await;
    server
        .dns
        .add_a("1.0.0.127.bl.test", Ipv4Addr::new(127, 0, 0, 2));
    let c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.greeting.code, 554, "{:?}", c.greeting);
    assert!(c.greeting.text().contains("bl.test"), "{:?}", c.greeting);
    assert!(c.greeting.text().contains("127.0.0.2"), "{:?}", c.greeting);
    assert!(
        server
            .dns
            .queries()
            .iter()
            .any(|(n, t)| n == "1.0.0.127.bl.test" && t == "A")
    );
}

#[tokio::test]
async fn dnsbl_failures_and_error_codes_never_refuse_and_scoring_zones_only_score() {
    let server = server_with(|c| {
        let zone = |zone: &str, score| hermod_config::DnsblZone {
            zone: zone.into(),
            score,
        };
        c.spam.dnsbl_zones = vec![
            zone("broken.test", None),
            zone("refused.test", None),
            zone("score.test", Some(2.5)),
        ];
    })
    .await;
    server.dns.set_failing("broken.test");
    server
        .dns
        .add_a("1.0.0.127.refused.test", Ipv4Addr::new(127, 255, 255, 254));
    server
        .dns
        .add_a("1.0.0.127.score.test", Ipv4Addr::new(127, 0, 0, 4));
    let r = send_from_bob(&server, "hi").await;
    assert_eq!(r.code, 250, "{r:?}");
    let stored = header_of(&server.inbox(ALICE)[0]);
    assert!(stored.contains("DNSBL_score.test"), "{stored}");
    assert!(!stored.contains("refused.test"), "{stored}");
}

/// A block list that never answers costs a client `dnsbl_timeout` at most, then the
/// session goes on as if it had said "not listed".
#[tokio::test]
async fn a_silent_dnsbl_delays_the_greeting_only_until_its_timeout() {
    let server = server_with(|c| {
        c.spam.dnsbl_zones = vec![hermod_config::DnsblZone {
            zone: "silent.test".into(),
            score: None,
        }];
        c.spam.dnsbl_timeout = std::time::Duration::from_millis(700);
    })
    .await;
    server.dns.set_silent("silent.test");
    let started = std::time::Instant::now();
    let r = send_from_bob(&server, "hi").await;
    assert_eq!(r.code, 250, "{r:?}");
    // The resolver alone would wait several seconds per attempt; generous for slow CI.
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(4), "{waited:?}");
    assert!(
        server
            .dns
            .queries()
            .iter()
            .any(|(name, _)| name.ends_with("silent.test")),
        "the list was asked"
    );
    assert_eq!(server.inbox(ALICE).len(), 1);
}

#[tokio::test]
async fn spf_dkim_and_dmarc_pass_is_recorded_and_forged_results_are_removed() {
    let server = server_with(|_| {}).await;
    let keys = hermod_core::dkim::generate_keys().unwrap();
    for key in &keys {
        let name = format!("{}._domainkey.sender.test", key.selector);
        server.dns.add_txt(&name, &hermod_core::dkim::dkim_txt(key));
    }
    server
        .dns
        .add_txt("sender.test", "v=spf1 ip4:127.0.0.1 -all");
    server
        .dns
        .add_txt("_dmarc.sender.test", "v=DMARC1; p=reject");
    let forged = "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=x@y.test\r\n\
                  Authentication-Results: elsewhere.test; dkim=fail\r\n";
    let body = format!("{forged}{}", message("bob@sender.test", "signed"));
    let signature = hermod_core::dkim::sign(&keys, "sender.test", body.as_bytes()).unwrap();
    let r = send(
        &server,
        "mail.sender.test",
        "bob@sender.test",
        &(signature + &body),
    )
    .await;
    assert_eq!(r.code, 250, "{r:?}");
    let stored = header_of(&server.inbox(ALICE)[0]);
    let ours: Vec<&str> = stored
        .split("\r\n")
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with("authentication-results: mx.example.test")
        })
        .collect();
    assert_eq!(ours.len(), 1, "{stored}");
    assert!(
        !stored.contains("smtp.mailfrom=x@y.test"),
        "forged field kept: {stored}"
    );
    assert!(
        stored.contains("Authentication-Results: elsewhere.test; dkim=fail"),
        "{stored}"
    );
    let results = stored.replace("\r\n\t", " ");
    for want in [
        "spf=pass",
        "dkim=pass",
        "dmarc=pass",
        "header.d=sender.test",
    ] {
        assert!(results.contains(want), "{want} missing: {stored}");
    }
    // Our fields are on top: above our Received:, below Return-Path:.
    let at = |needle: &str| stored.find(needle).unwrap_or(usize::MAX);
    assert!(at("Return-Path:") < at("Authentication-Results: mx.example.test"));
    assert!(at("Authentication-Results: mx.example.test") < at("Received:"));
    assert!(at("X-Spam-Status: No") < at("Received:"), "{stored}");
}

#[tokio::test]
async fn dmarc_reject_refuses_forged_mail_and_quarantine_only_scores() {
    let server = server_with(|_| {}).await;
    server.dns.add_txt("bank.test", "v=spf1 ip4:192.0.2.1 -all");
    server.dns.add_txt("_dmarc.bank.test", "v=DMARC1; p=reject");
    let r = send(
        &server,
        "client.test",
        "ceo@bank.test",
        &message("ceo@bank.test", "wire"),
    )
    .await;
    assert_eq!(r.code, 550, "{r:?}");
    assert!(
        r.text().contains("5.7.1") && r.text().contains("DMARC"),
        "{r:?}"
    );

    server.dns.add_txt("shop.test", "v=spf1 ip4:192.0.2.1 -all");
    server
        .dns
        .add_txt("_dmarc.shop.test", "v=DMARC1; p=quarantine");
    let r = send(
        &server,
        "client.test",
        "news@shop.test",
        &message("news@shop.test", "sale"),
    )
    .await;
    assert_eq!(r.code, 250, "{r:?}");
    let stored = header_of(&server.messages(ALICE, "Junk")[0]);
    assert!(
        stored.contains("DMARC_FAIL") && stored.contains("SPF_FAIL"),
        "{stored}"
    );
    assert!(
        stored.replace("\r\n\t", " ").contains("dmarc=fail"),
        "{stored}"
    );
    // SPF_FAIL + DMARC_FAIL reach the junk threshold: quarantined, as the domain asks.
    assert_eq!(server.messages(ALICE, "Junk").len(), 1);
}

#[tokio::test]
async fn thresholds_file_into_junk_or_refuse() {
    let junk = server_with(|c| c.spam.junk_threshold = 1.0).await;
    let bare = "Subject: no sender fields\r\n\r\nbody\r\n";
    let r = send(&junk, "client.test", "bob@sender.test", bare).await;
    assert_eq!(r.code, 250, "{r:?}");
    assert!(junk.inbox(ALICE).is_empty());
    let filed = junk.messages(ALICE, "Junk");
    assert_eq!(filed.len(), 1);
    let stored = header_of(&filed[0]);
    assert!(stored.contains("X-Spam-Status: Yes"), "{stored}");
    assert!(
        stored.contains("MISSING_FROM") && stored.contains("bayes=untrained"),
        "{stored}"
    );

    let refuse = server_with(|c| {
        c.spam.junk_threshold = 1.0;
        c.spam.reject_threshold = 2.0;
    })
    .await;
    let r = send(&refuse, "client.test", "bob@sender.test", bare).await;
    assert_eq!(r.code, 550, "{r:?}");
    assert!(
        r.text().contains("5.7.1") && r.text().contains("spam"),
        "{r:?}"
    );
    assert!(refuse.inbox(ALICE).is_empty() && refuse.messages(ALICE, "Junk").is_empty());
}

/// A server whose own thresholds file nothing into Junk (100) or refuse nothing (200), with
/// Bob beside Alice, and Alice's own Junk threshold at 1: she alone junks mail with any
/// rule's hit. Returns the server and Bob's address.
async fn server_where_only_alice_junks() -> (TestServer, &'static str) {
    use hermod_store::BlockingStore;
    let server = server_with(|c| {
        c.spam.junk_threshold = 100.0;
        c.spam.reject_threshold = 200.0;
    })
    .await;
    let bob = "bob@example.test";
    server.add_user(bob, "s3cret");
    let alice = hermod_types::Address::parse(ALICE).unwrap();
    server.store.set_junk_threshold(&alice, Some(1.0)).unwrap();
    (server, bob)
}

/// A recipient's own Junk threshold files their copy by it; the others' copies follow the
/// server's, and the reject threshold stays the server's.
#[tokio::test]
async fn an_own_junk_threshold_decides_that_recipients_copy() {
    use hermod_store::BlockingStore;
    let (server, bob) = server_where_only_alice_junks().await;
    let alice = hermod_types::Address::parse(ALICE).unwrap();
    let bare = "Subject: no sender fields\r\n\r\nbody\r\n";
    let mut c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.cmd("EHLO client.test").await.code, 250);
    let r = c.send_mail("carol@sender.test", &[ALICE, bob], bare).await;
    assert_eq!(r.code, 250, "{r:?}");
    assert!(server.inbox(ALICE).is_empty());
    assert_eq!(server.messages(ALICE, "Junk").len(), 1);
    assert_eq!(server.inbox(bob).len(), 1);
    assert!(server.messages(bob, "Junk").is_empty());

    // Back to the server's threshold: Alice's next copy is in her inbox.
    server.store.set_junk_threshold(&alice, None).unwrap();
    let r = c.send_mail("carol@sender.test", &[ALICE], bare).await;
    assert_eq!(r.code, 250, "{r:?}");
    assert_eq!(server.inbox(ALICE).len(), 1);
}

/// A recipient's Sieve `spamtest` sees the score and threshold their copy was filed by:
/// their own Junk threshold, not the server's.
#[tokio::test]
async fn spamtest_sees_each_recipients_own_junk_threshold() {
    use hermod_store::BlockingStore;
    let (server, bob) = server_where_only_alice_junks().await;
    let script = r#"require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto", "mailbox"];
        if spamtest :value "eq" :comparator "i;ascii-numeric" "10" { fileinto :create "Spamtest"; }"#;
    for address in [ALICE, bob] {
        let parsed = hermod_types::Address::parse(address).unwrap();
        let id = server.store.user(&parsed).unwrap().unwrap().id;
        server
            .store
            .sieve_put(id, "main", script.as_bytes())
            .unwrap();
        server.store.sieve_activate(id, Some("main")).unwrap();
    }
    let bare = "Subject: no sender fields\r\n\r\nbody\r\n";
    let mut c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.cmd("EHLO client.test").await.code, 250);
    let r = c.send_mail("carol@sender.test", &[ALICE, bob], bare).await;
    assert_eq!(r.code, 250, "{r:?}");
    // Past Alice's threshold: spamtest says 10 and her script files it.
    assert_eq!(server.messages(ALICE, "Spamtest").len(), 1);
    assert!(server.messages(ALICE, "Junk").is_empty() && server.inbox(ALICE).is_empty());
    // Far below the server's: Bob's script keeps it in his inbox.
    assert_eq!(server.inbox(bob).len(), 1);
}

#[tokio::test]
async fn a_client_talking_before_the_greeting_is_refused() {
    let server = server_with(|c| c.spam.greet_delay = Duration::from_millis(500)).await;
    let mut stream = tokio::net::TcpStream::connect(server.smtp).await.unwrap();
    stream.write_all(b"EHLO impatient.test\r\n").await.unwrap();
    let mut greeting = vec![0u8; 512];
    let n = stream.read(&mut greeting).await.unwrap();
    let greeting = String::from_utf8_lossy(&greeting[..n]);
    assert!(greeting.starts_with("554 5.7.1"), "{greeting}");
    assert!(greeting.contains("before the greeting"), "{greeting}");

    // A patient client gets the ordinary greeting.
    let c = SmtpClient::connect(server.smtp).await;
    assert_eq!(c.greeting.code, 220);
}

#[tokio::test]
async fn helo_checks_score_or_refuse_and_loopback_passes_reverse_dns() {
    let server = server_with(|c| {
        c.spam.helo = CheckAction::Score;
        c.spam.rdns = CheckAction::Reject;
    })
    .await;
    let r = send(
        &server,
        "localhost",
        "bob@sender.test",
        &message("bob@sender.test", "a"),
    )
    .await;
    assert_eq!(r.code, 250);
    let stored = header_of(&server.inbox(ALICE)[0]);
    assert!(stored.contains("HELO_INVALID"), "{stored}");
    // Loopback is "localhost" both ways (RFC 6761): confirmed, and named in Received.
    assert!(!stored.contains("RDNS_"), "{stored}");
    assert!(
        stored.contains("from localhost (localhost [127.0.0.1])"),
        "{stored}"
    );
    let r = send(
        &server,
        "[127.0.0.1]",
        "bob@sender.test",
        &message("bob@sender.test", "b"),
    )
    .await;
    assert_eq!(r.code, 250);
    assert!(!header_of(&server.inbox(ALICE)[1]).contains("HELO_"));

    let strict = server_with(|c| c.spam.helo = CheckAction::Reject).await;
    let mut c = SmtpClient::connect(strict.smtp).await;
    let r = c.cmd("EHLO my-pc").await;
    assert_eq!(r.code, 550, "{r:?}");
    assert_eq!(c.cmd("EHLO mail.sender.test").await.code, 250);
}

#[tokio::test]
async fn greylisting_asks_newcomers_to_come_back() {
    let server = server_with(|c| {
        c.spam.greylisting = true;
        c.spam.greylist_delay = Duration::from_secs(1);
    })
    .await;
    let mut c = SmtpClient::connect(server.smtp).await;
    c.cmd("EHLO mail.sender.test").await;
    assert_eq!(c.cmd("MAIL FROM:<bob@sender.test>").await.code, 250);
    let r = c.cmd(&format!("RCPT TO:<{ALICE}>")).await;
    assert_eq!(r.code, 451, "{r:?}");
    assert!(r.text().contains("4.7.1"), "{r:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(c.cmd(&format!("RCPT TO:<{ALICE}>")).await.code, 250);
    c.cmd("RSET").await;
    // Once passed, the triplet is known: no wait the next time.
    let r = c
        .send_mail(
            "bob@sender.test",
            &[ALICE],
            &message("bob@sender.test", "g"),
        )
        .await;
    assert_eq!(r.code, 250, "{r:?}");
}

#[tokio::test]
async fn messages_over_the_scan_limit_are_stored_unscanned_but_authenticated() {
    let server = server_with(|c| c.spam.max_scan_size = 4096).await;
    server
        .dns
        .add_txt("sender.test", "v=spf1 ip4:127.0.0.1 -all");
    let big =
        message("bob@sender.test", "big") + &"0123456789abcdef0123456789abcdef\r\n".repeat(512);
    let r = send(&server, "mail.sender.test", "bob@sender.test", &big).await;
    assert_eq!(r.code, 250, "{r:?}");
    let stored = server.inbox(ALICE)[0].clone();
    let header = header_of(&stored).replace("\r\n\t", " ");
    assert!(
        header.contains("spf=pass") && header.contains("dkim=neutral"),
        "{header}"
    );
    assert!(header.contains("bayes=skipped"), "{header}");
    assert!(String::from_utf8_lossy(&stored).ends_with(&big[big.len() - 100..]));
}

#[tokio::test]
async fn the_filter_off_still_strips_forged_results_and_adds_nothing() {
    let server = server_with(|c| c.spam.enabled = false).await;
    let body = format!(
        "Authentication-Results: mx.example.test; dkim=pass\r\n{}",
        message("bob@sender.test", "off")
    );
    let r = send(&server, "localhost", "bob@sender.test", &body).await;
    assert_eq!(r.code, 250);
    let stored = header_of(&server.inbox(ALICE)[0]);
    assert!(!stored.contains("Authentication-Results"), "{stored}");
    assert!(!stored.contains("X-Spam"), "{stored}");
}

/// A resolver that refuses at once (nothing listens on its port) must not hold each
/// message for the whole authentication budget: the results say temperror and mail flows.
#[tokio::test]
async fn a_dead_resolver_costs_each_message_little() {
    let dead = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let server = server_with(|c| c.dns.nameservers = vec![dead]).await;
    for n in 0..3 {
        let started = std::time::Instant::now();
        let r = send_from_bob(&server, &format!("outage {n}")).await;
        assert_eq!(r.code, 250, "{r:?}");
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(3),
            "message {n} took {waited:?}"
        );
    }
    let inbox = server.inbox(ALICE);
    assert_eq!(inbox.len(), 3);
    let header = header_of(&inbox[2]);
    assert!(header.contains("spf=temperror"), "{header}");
}

/// The server-wide model trained on 60 casino spam and 60 meeting notes, with `junk_cut` as
/// its stored calibration (what `hermod spam train` fits); the model it makes.
fn train_with_cut(server: &TestServer, junk_cut: f64) -> hermod_spam::Model {
    use hermod_spam::training::{Training, digest};
    use hermod_spam::{Calibration, Class};
    use hermod_store::{BayesCounts, BlockingStore};
    let mut training = Training::default();
    for n in 0..60 {
        let spam = format!("{}{n}", message("win@casino.test", "jackpot")).replace(
            "Hello Alice, see you tomorrow.",
            "Casino jackpot bonus, claim your prize.",
        );
        let ham = format!("{}{n}", message("bob@sender.test", "agenda")).replace(
            "Hello Alice, see you tomorrow.",
            "Project agenda: budget review, minutes.",
        );
        for (text, class) in [(spam, Class::Spam), (ham, Class::Ham)] {
            training.add(text.as_bytes(), digest(text.as_bytes()), None, class);
        }
    }
    let delta = training.delta();
    let counts = BayesCounts {
        spam_messages: delta.spam_messages,
        ham_messages: delta.ham_messages,
        tokens: delta.tokens.clone(),
    };
    server.store.bayes_learn(None, &counts, &[]).unwrap();
    let calibration = Calibration {
        junk_cut,
        ..Calibration::default()
    };
    server
        .store
        .bayes_set_calibration(&calibration.to_text())
        .unwrap();
    let mut model =
        hermod_spam::Model::from_counts(delta.spam_messages, delta.ham_messages, delta.tokens);
    model.calibration = calibration;
    model
}

/// The junk cut `hermod spam train` stores decides where the classifier alone files into
/// Junk: the same message leaning towards spam (about 0.75, Junk uncalibrated) is filed with
/// a cut below its probability and stays in the inbox (a lean without a rule's help) with a
/// cut above.
#[tokio::test]
async fn the_stored_junk_cut_decides_where_the_classifier_alone_files_into_junk() {
    let from = "carol@elsewhere.test";
    let leaning = message(from, "mixed").replace(
        "Hello Alice, see you tomorrow.",
        "Casino jackpot bonus. budget",
    );
    let probe = TestServer::start().await;
    let model = train_with_cut(&probe, 0.6);
    let verdict = hermod_spam::scan(leaning.as_bytes(), &model, 1_795_867_200);
    let hermod_spam::Bayes::Probability(p) = verdict.bayes else {
        panic!("{verdict:?}")
    };
    assert!(
        p > 0.52 && p < 0.98,
        "the message should lean, not decide: {p}"
    );
    assert!(
        verdict.hits.iter().all(|h| h.name.starts_with("BAYES_")),
        "{verdict:?}"
    );

    for (cut, junk) in [((0.5 + p) / 2.0, true), ((p + 0.99) / 2.0, false)] {
        let server = server_with(|_| {}).await;
        train_with_cut(&server, cut);
        let r = send(&server, "client.test", from, &leaning).await;
        assert_eq!(r.code, 250, "{r:?}");
        let (filed, other) = (server.messages(ALICE, "Junk"), server.inbox(ALICE));
        let (ours, empty) = if junk { (filed, other) } else { (other, filed) };
        assert!(ours.len() == 1 && empty.is_empty(), "cut {cut}, p {p}");
        let header = header_of(&ours[0]);
        let score = if junk { "score=5" } else { "score=4.5" };
        assert!(header.contains(score), "cut {cut}, p {p}: {header}");
    }
}
