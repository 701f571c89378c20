//! Outbound delivery: the queue runner relays to a fake remote MTA found through a fake DNS,
//! keeps per-recipient state, retries what was deferred and bounces what failed.

use hermod_store::BlockingStore;
use hermod_testkit::{FakeMta, SmtpClient, TestServer, eventually};
use std::time::Duration;

async fn server_for(mta: &FakeMta) -> TestServer {
    let port = mta.addr.port();
    let server = TestServer::start_with(|c| c.outbound.port = port).await;
    server.add_user("alice@example.test", "s3cret");
    let domain = hermod_types::Domain::parse("example.test").unwrap();
    for key in hermod_core::dkim::generate_keys().unwrap() {
        server.store.set_dkim_key(&domain, &key).unwrap();
    }
    server
}

async fn submit(server: &TestServer, to: &[&str], subject: &str) {
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    c.cmd("EHLO client.test").await;
    let r = c.auth_plain("alice@example.test", "s3cret").await;
    assert_eq!(r.code, 235);
    let body =
        format!("From: alice@example.test\r\nSubject: {subject}\r\n\r\n.leading dot\r\nbody\r\n");
    let r = c
        .send_mail("alice@example.test", to, &body.replace("\r\n.", "\r\n.."))
        .await;
    assert_eq!(r.code, 250, "{r:?}");
}

#[tokio::test]
async fn relays_to_the_mx_and_empties_the_queue() {
    let mta = FakeMta::start_without_pipelining().await;
    let server = server_for(&mta).await;
    submit(&server, &["friend@remote.test", "other@remote.test"], "out").await;
    eventually("delivery to the fake MTA", || !mta.messages().is_empty()).await;
    let got = mta.messages();
    assert_eq!(
        got.len(),
        1,
        "one transaction for both recipients of the domain"
    );
    assert_eq!(got[0].from, "alice@example.test");
    assert_eq!(got[0].to, ["friend@remote.test", "other@remote.test"]);
    assert!(
        !got[0].data.contains("Return-Path:"),
        "only final delivery adds Return-Path"
    );
    assert!(
        got[0].data.starts_with("DKIM-Signature: "),
        "signed for example.test: {}",
        got[0].data
    );
    assert_eq!(
        got[0].data.matches("DKIM-Signature: ").count(),
        2,
        "ed25519 and rsa"
    );
    assert!(
        got[0].data.contains("Subject: out\r\n") && got[0].data.contains("\r\n.leading dot\r\n"),
        "{}",
        got[0].data
    );
    eventually("queue emptied", || server.store.queue().unwrap().is_empty()).await;
}

#[tokio::test]
async fn failures_bounce_to_the_sender_and_deferrals_wait() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    submit(
        &server,
        &["reject@remote.test", "defer@remote.test", "ok@remote.test"],
        "mixed",
    )
    .await;
    eventually("the deferred recipient's first attempt", || {
        let queue = server.store.queue().unwrap();
        queue.len() == 1
            && queue[0]
                .recipients
                .iter()
                .any(|r| r.0 == "defer@remote.test" && r.2 == 1)
    })
    .await;
    let queue = server.store.queue().unwrap();
    let status: Vec<(&str, &str)> = queue[0]
        .recipients
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str()))
        .collect();
    assert_eq!(
        status,
        [
            ("defer@remote.test", "deferred"),
            ("ok@remote.test", "delivered"),
            ("reject@remote.test", "failed")
        ]
    );
    assert_eq!(mta.messages()[0].to, ["ok@remote.test"]);
    assert!(
        server.inbox("alice@example.test").is_empty(),
        "no bounce while a recipient is still being tried"
    );
}

#[tokio::test]
async fn a_rejected_recipient_is_bounced_with_a_delivery_status_report() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    submit(&server, &["reject@remote.test"], "doomed").await;
    eventually("the bounce in alice's INBOX", || {
        !server.inbox("alice@example.test").is_empty()
    })
    .await;
    let bounce = String::from_utf8_lossy(&server.inbox("alice@example.test")[0]).into_owned();
    assert!(
        bounce.starts_with("Return-Path: <>\r\n"),
        "bounces have the null sender: {bounce}"
    );
    for needle in [
        "multipart/report; report-type=delivery-status",
        "Final-Recipient: rfc822; reject@remote.test",
        "Status: 5.1.1",
        "550 5.1.1 no such user here",
        "Subject: doomed",
        "Content-Type: message/rfc822",
        "\r\n.leading dot\r\nbody\r\n",
    ] {
        assert!(bounce.contains(needle), "missing {needle:?}: {bounce}");
    }
    eventually("queue emptied", || server.store.queue().unwrap().is_empty()).await;
}

#[tokio::test]
async fn null_mx_bounces_at_once_and_expired_mail_bounces() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    submit(&server, &["someone@nullmx.remote.test"], "nowhere").await;
    eventually("the null MX bounce", || {
        !server.inbox("alice@example.test").is_empty()
    })
    .await;
    let bounce = String::from_utf8_lossy(&server.inbox("alice@example.test")[0]).into_owned();
    assert!(
        bounce.contains("Status: 5.1.10") && bounce.contains("null MX"),
        "{bounce}"
    );
    assert!(mta.messages().is_empty());

    // No queue time left: a deferral is final, and bounces.
    let expiring = FakeMta::start().await;
    let port = expiring.addr.port();
    let server = TestServer::start_with(|c| {
        c.outbound.port = port;
        c.outbound.max_queue_time = Duration::ZERO;
    })
    .await;
    server.add_user("alice@example.test", "s3cret");
    submit(&server, &["defer@remote.test"], "slow").await;
    eventually("a bounce for the expired message", || {
        !server.inbox("alice@example.test").is_empty()
    })
    .await;
    let bounce = String::from_utf8_lossy(&server.inbox("alice@example.test")[0]).into_owned();
    assert!(
        bounce.contains("451 4.3.0 try again later") && bounce.contains("gave up after 1 attempts"),
        "{bounce}"
    );
}

#[tokio::test]
async fn a_delay_notice_goes_out_once_while_retries_continue() {
    let mta = FakeMta::start().await;
    let port = mta.addr.port();
    let server = TestServer::start_with(|c| {
        c.outbound.port = port;
        c.outbound.delay_notice_after = Duration::ZERO;
    })
    .await;
    server.add_user("alice@example.test", "s3cret");
    submit(&server, &["defer@remote.test"], "slow").await;
    eventually("the delay notice", || {
        !server.inbox("alice@example.test").is_empty()
    })
    .await;
    let notice = String::from_utf8_lossy(&server.inbox("alice@example.test")[0]).into_owned();
    assert!(
        notice.contains("Subject: Delayed Mail")
            && notice.contains("Action: delayed")
            && notice.contains("Status: 4.3.0"),
        "{notice}"
    );
    let queue = server.store.queue().unwrap();
    assert_eq!(queue[0].recipients[0].1, "deferred", "still being retried");
    // Another attempt: still deferred, and no second notice.
    server.store.queue_retry_now(None, 0).unwrap();
    eventually("a second attempt", || {
        server.store.queue().unwrap()[0].recipients[0].2 == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.inbox("alice@example.test").len(), 1);
}

#[tokio::test]
async fn a_message_needing_smtputf8_bounces_at_a_server_without_it() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    c.cmd("EHLO client.test").await;
    c.auth_plain("alice@example.test", "s3cret").await;
    assert_eq!(
        c.cmd("MAIL FROM:<alice@example.test> SMTPUTF8").await.code,
        250
    );
    assert_eq!(c.cmd("RCPT TO:<jörg@remote.test>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    assert_eq!(
        c.cmd("From: alice@example.test\r\nSubject: Grüße\r\n\r\nx\r\n.")
            .await
            .code,
        250
    );
    eventually("the SMTPUTF8 bounce", || {
        !server.inbox("alice@example.test").is_empty()
    })
    .await;
    let bounce = String::from_utf8_lossy(&server.inbox("alice@example.test")[0]).into_owned();
    assert!(
        bounce.contains("Status: 5.6.7") && bounce.contains("does not support SMTPUTF8"),
        "{bounce}"
    );
    assert!(mta.messages().is_empty());
}

#[tokio::test]
async fn a_smarthost_takes_our_login_over_tls() {
    let mta = FakeMta::start().await;
    // The smarthost is another hermod: its submission port wants STARTTLS and AUTH.
    let relay = server_for(&mta).await;
    let via = |password: &str| {
        let smarthost = relay.submission.to_string();
        let password = password.to_owned();
        move |c: &mut hermod_config::Config| {
            c.outbound.smarthost = Some(smarthost);
            c.outbound.smarthost_user = Some("alice@example.test".into());
            c.outbound.smarthost_password = Some(password);
        }
    };
    let server = TestServer::start_with(via("s3cret")).await;
    server.add_user("alice@example.test", "s3cret");
    submit(&server, &["friend@remote.test"], "via smarthost").await;
    eventually("delivery through the smarthost", || {
        !mta.messages().is_empty()
    })
    .await;
    let data = &mta.messages()[0].data;
    assert!(data.contains("Subject: via smarthost"), "{data}");
    assert!(
        data.contains("(authenticated as alice@example.test)"),
        "the relay saw our login: {data}"
    );

    let refused = TestServer::start_with(via("wrong")).await;
    refused.add_user("alice@example.test", "s3cret");
    submit(&refused, &["friend@remote.test"], "refused").await;
    eventually("a deferral after the refused login", || {
        let queue = refused.store.queue().unwrap();
        queue.first().is_some_and(|e| {
            e.recipients[0]
                .3
                .as_deref()
                .is_some_and(|err| err.contains("smarthost refused our login"))
        })
    })
    .await;
    assert_eq!(
        refused.store.queue().unwrap()[0].recipients[0].1,
        "deferred",
        "kept for a retry"
    );
}

#[tokio::test]
async fn a_connection_is_reused_for_the_next_message() {
    let mta = FakeMta::start().await;
    let server = server_for(&mta).await;
    submit(&server, &["one@remote.test"], "first").await;
    eventually("the first delivery", || mta.messages().len() == 1).await;
    submit(&server, &["two@remote.test"], "second").await;
    eventually("the second delivery", || mta.messages().len() == 2).await;
    assert_eq!(
        mta.connections(),
        1,
        "the second message went over the kept connection"
    );
}

/// The selectors (`s=`) of the DKIM signatures at the start of a relayed message.
fn signed_selectors(data: &str) -> Vec<String> {
    let header = &data[..data.find("\r\n\r\n").unwrap()];
    header
        .split("DKIM-Signature:")
        .skip(1)
        .filter_map(|sig| {
            let sig: String = sig.split_whitespace().collect();
            let tag = sig.split(';').find_map(|t| t.strip_prefix("s="))?;
            Some(tag.to_owned())
        })
        .collect()
}

/// A rotated domain signs with the new keys only once DNS serves their records: before,
/// receivers would find no key for the new selectors and treat the mail as unsigned.
#[tokio::test]
async fn a_rotated_key_signs_once_its_record_is_published() {
    for (published_new, want) in [
        (false, ["hermod-ed25519", "hermod-rsa"]),
        (true, ["hermod-ed25519-2", "hermod-rsa-2"]),
    ] {
        let mta = FakeMta::start_without_pipelining().await;
        let server = server_for(&mta).await;
        let domain = hermod_types::Domain::parse("example.test").unwrap();
        let first = server.store.dkim_keys(&domain).unwrap();
        let second = hermod_core::dkim::rotated_keys(&first).unwrap();
        for key in &second {
            server.store.set_dkim_key(&domain, key).unwrap();
        }
        let published = first.iter().chain(second.iter().filter(|_| published_new));
        for key in published {
            let name = format!("{}._domainkey.example.test", key.selector);
            server.dns.add_txt(&name, &hermod_core::dkim::dkim_txt(key));
        }
        submit(&server, &["friend@remote.test"], "rotated").await;
        eventually("delivery to the fake MTA", || !mta.messages().is_empty()).await;
        let mut selectors = signed_selectors(&mta.messages()[0].data);
        selectors.sort();
        assert_eq!(selectors, want, "new records published: {published_new}");
        server.stop().await;
    }
}
