//! The queue runner: wakes when mail is queued (or every few seconds), takes the recipients
//! that are due, delivers them domain by domain, records each outcome, and once an entry has
//! no recipient left to try, bounces the failures to the sender and removes it.

use super::client::{Envelope, RemoteReply, transact};
use crate::Context;
use crate::shutdown::Shutdown;
use hermod_core::bounce::{BounceSent, send_bounce};
use hermod_core::outbound::{Mx, Verdict, backoff, notify_asks, verdict};
use hermod_message::unix_now;
use hermod_store::{QueueUpdate, QueuedMessage, QueuedRecipient};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;

/// How often the queue is looked at when nothing wakes the runner.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Queue entries taken per round.
const BATCH: usize = 64;

pub(crate) async fn run(ctx: Arc<Context>, mut shutdown: Shutdown) {
    // Entries being delivered right now: a slow server must not hold up the rest of the
    // queue, and no entry is delivered twice at once.
    let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(IDLE_POLL) => {}
            _ = ctx.outbound_wake.notified() => {}
            _ = shutdown.wait() => return,
        }
        while tasks.try_join_next().is_some() {}
        ctx.outbound_pool.expire();
        let busy = in_flight.lock().unwrap_or_else(|e| e.into_inner()).len();
        let store = ctx.store.clone();
        let due =
            tokio::task::spawn_blocking(move || store.queue_due(unix_now(), BATCH + busy)).await;
        let due = match due {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading the queue failed");
                continue;
            }
            Err(_) => continue,
        };
        for message in due {
            if !in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(message.id)
            {
                continue;
            }
            let (ctx, in_flight) = (ctx.clone(), in_flight.clone());
            tasks.spawn(async move {
                let id = message.id;
                process(ctx.clone(), message).await;
                in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                // Whatever is due next (a retry, a bounce just queued) need not wait.
                ctx.outbound_wake.notify_one();
            });
        }
    }
}

/// One queue entry: every due recipient, grouped by domain, one transaction per domain.
async fn process(ctx: Arc<Context>, message: QueuedMessage) {
    let mut by_domain: BTreeMap<String, Vec<QueuedRecipient>> = BTreeMap::new();
    for r in &message.recipients {
        by_domain
            .entry(r.domain.clone())
            .or_default()
            .push(r.clone());
    }
    let mut results = Vec::new();
    for (domain, recipients) in by_domain {
        let _domain_slot = ctx.outbound_domains.acquire(&domain).await;
        let _slot = ctx.outbound_slots.acquire().await;
        results.extend(deliver_domain(&ctx, &message, &domain, &recipients).await);
    }
    let updates: Vec<(String, QueueUpdate)> = results
        .into_iter()
        .map(|(rcpt, reply)| (rcpt.clone(), update(&ctx, &message, &rcpt, &reply)))
        .collect();
    let (store, id) = (ctx.store.clone(), message.id);
    let recorded = tokio::task::spawn_blocking(move || store.queue_record(id, &updates)).await;
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::error!(
            queue_id = id,
            "recording delivery results failed; they will be retried"
        );
        return;
    }
    finish_if_done(&ctx, &message).await;
}

/// Turns a reply into the recipient's new state; a message too long in the queue fails.
fn update(ctx: &Context, message: &QueuedMessage, rcpt: &str, reply: &RemoteReply) -> QueueUpdate {
    let attempts = message
        .recipients
        .iter()
        .find(|r| r.address == rcpt)
        .map_or(0, |r| r.attempts)
        + 1;
    tracing::info!(queue_id = message.id, rcpt, attempt = attempts, reply = %reply, "delivery attempt");
    match verdict(reply.code) {
        Verdict::Delivered => QueueUpdate::Delivered {
            reply: reply.to_string(),
        },
        Verdict::Failed => QueueUpdate::Failed {
            error: reply.to_string(),
        },
        Verdict::Deferred => {
            let expired =
                unix_now() - message.created >= ctx.config.outbound.max_queue_time.as_secs() as i64;
            if expired {
                QueueUpdate::Failed {
                    error: format!("{reply} (gave up after {} attempts)", attempts),
                }
            } else {
                QueueUpdate::Deferred {
                    next_attempt: unix_now() + backoff(attempts).as_secs() as i64,
                    error: reply.to_string(),
                }
            }
        }
    }
}

/// The hosts to try for a domain, in order, as (name, address).
async fn route(ctx: &Context, domain: &str) -> Result<Vec<(String, SocketAddr)>, RemoteReply> {
    let temp = |e: String| RemoteReply {
        code: 451,
        text: format!("4.4.3 DNS lookup for {domain} failed: {e}"),
    };
    let (hosts, port) = match &ctx.config.outbound.smarthost {
        Some(smarthost) => {
            let (host, port) = smarthost.rsplit_once(':').unwrap_or((smarthost, "25"));
            (vec![host.to_owned()], port.parse().unwrap_or(25))
        }
        None => match ctx.resolver.mx(domain).await.map_err(temp)? {
            Mx::Null => {
                return Err(RemoteReply {
                    code: 556,
                    text: format!("5.1.10 {domain} does not accept mail (null MX)"),
                });
            }
            Mx::None => (vec![domain.to_owned()], ctx.config.outbound.port),
            Mx::Hosts(hosts) => (hosts, ctx.config.outbound.port),
        },
    };
    let mut addrs = Vec::new();
    for host in hosts {
        match ctx.resolver.ips(&host).await {
            Ok(ips) => addrs.extend(
                ips.into_iter()
                    .map(|ip| (host.clone(), SocketAddr::new(ip, port))),
            ),
            Err(e) => tracing::info!(host, error = e, "address lookup failed"),
        }
    }
    if addrs.is_empty() {
        return Err(temp("no address for any mail server".into()));
    }
    Ok(addrs)
}

async fn deliver_domain(
    ctx: &Context,
    message: &QueuedMessage,
    domain: &str,
    recipients: &[QueuedRecipient],
) -> Vec<(String, RemoteReply)> {
    let all = |reply: RemoteReply| {
        recipients
            .iter()
            .map(|r| (r.address.clone(), reply.clone()))
            .collect()
    };
    let hosts = match route(ctx, domain).await {
        Ok(hosts) => hosts,
        Err(reply) => return all(reply),
    };
    let mut last = RemoteReply {
        code: 451,
        text: "4.4.1 no mail server reachable".into(),
    };
    for (host, addr) in hosts {
        let body = match open_body(ctx, message).await {
            Ok(body) => body,
            Err(e) => {
                return all(RemoteReply {
                    code: 451,
                    text: format!("4.3.0 cannot read the message: {e}"),
                });
            }
        };
        let envelope = Envelope {
            helo: &ctx.config.hostname,
            sender: message.sender.as_deref(),
            recipients,
            size: message.size,
            smtputf8: message.smtputf8,
            ret: message.ret.as_deref(),
            envid: message.envid.as_deref(),
            auth: smarthost_auth(ctx),
        };
        match transact(&ctx.outbound_pool, addr, &envelope, &body).await {
            Ok(outcome) => return outcome,
            // A permanent refusal of the whole transaction stands; a temporary one, or a
            // host we could not talk to, sends us to the next host (RFC 5321 5.1).
            Err(reply) if verdict(reply.code) == Verdict::Failed => return all(reply),
            Err(reply) => {
                tracing::info!(host, %addr, reply = %reply, "trying the next mail server");
                last = reply;
            }
        }
    }
    all(last)
}

fn smarthost_auth(ctx: &Context) -> Option<(&str, &str)> {
    let out = &ctx.config.outbound;
    out.smarthost.as_ref()?;
    Some((
        out.smarthost_user.as_deref()?,
        out.smarthost_password.as_deref()?,
    ))
}

/// The message as it leaves: without the Return-Path our final delivery would add (RFC
/// 5321 4.4), and DKIM-signed when the sender's domain is ours and has keys.
async fn open_body(ctx: &Context, message: &QueuedMessage) -> Result<Vec<u8>, String> {
    let (store, blob, sender) = (
        ctx.store.clone(),
        message.blob.clone(),
        message.sender.clone(),
    );
    let prepared = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        store
            .open_blob(&blob)
            .map_err(|e| e.to_string())?
            .read_to_end(&mut body)
            .map_err(|e| e.to_string())?;
        if body.starts_with(b"Return-Path:") {
            let end = body
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| i + 1);
            body.drain(..end);
        }
        let domain = sender
            .as_deref()
            .and_then(|s| s.rsplit_once('@'))
            .and_then(|(_, d)| hermod_types::Domain::parse(d).ok());
        let Some(domain) = domain else {
            return Ok(body);
        };
        let keys = store.dkim_keys(&domain).map_err(|e| e.to_string())?;
        if keys.is_empty() {
            return Ok(body);
        }
        let signature = hermod_core::dkim::sign(&keys, domain.as_str(), &body)?;
        let mut signed = signature.into_bytes();
        signed.extend_from_slice(&body);
        Ok(signed)
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok(prepared)
}

/// When no recipient is left to try: bounce the failures (unless the sender is `<>` or
/// asked not to hear), then drop the entry. While some are still waiting, tell the sender
/// once that the message is delayed, after `delay_notice_after`.
async fn finish_if_done(ctx: &Arc<Context>, message: &QueuedMessage) {
    let (store, id) = (ctx.store.clone(), message.id);
    let Ok(Ok(outcomes)) = tokio::task::spawn_blocking(move || store.queue_outcomes(id)).await
    else {
        return;
    };
    let waiting = outcomes
        .iter()
        .any(|(_, status, _)| status == "pending" || status == "deferred");
    if waiting {
        notify_delay(ctx, message, &outcomes).await;
        return;
    }
    let failures = wanted(message, &outcomes, "failed", "FAILURE");
    if let (Some(sender), false) = (&message.sender, failures.is_empty())
        && let Err(e) = bounce(ctx, message, sender, &failures, false).await
    {
        tracing::error!(
            queue_id = id,
            error = e,
            "could not create the bounce; keeping the entry"
        );
        return;
    }
    let store = ctx.store.clone();
    let _ = tokio::task::spawn_blocking(move || store.queue_remove(id)).await;
    tracing::info!(queue_id = id, "queue entry done");
}

/// Recipients in `status` whose NOTIFY asks for `kind` reports (absent NOTIFY means
/// failures and delays are reported), with their last reply.
fn wanted(
    message: &QueuedMessage,
    outcomes: &[(String, String, Option<String>)],
    status: &str,
    kind: &str,
) -> Vec<(String, String)> {
    let asks = |rcpt: &str| {
        let notify = message
            .recipients
            .iter()
            .find(|r| r.address == rcpt)
            .and_then(|r| r.notify.as_deref());
        notify_asks(notify, kind)
    };
    outcomes
        .iter()
        .filter(|(rcpt, s, _)| s == status && asks(rcpt))
        .map(|(rcpt, _, error)| (rcpt.clone(), error.clone().unwrap_or_default()))
        .collect()
}

async fn notify_delay(
    ctx: &Arc<Context>,
    message: &QueuedMessage,
    outcomes: &[(String, String, Option<String>)],
) {
    let age = unix_now() - message.created;
    let Some(sender) = &message.sender else {
        return;
    };
    if message.delay_notified || age < ctx.config.outbound.delay_notice_after.as_secs() as i64 {
        return;
    }
    let delayed = wanted(message, outcomes, "deferred", "DELAY");
    if delayed.is_empty() {
        return;
    }
    match bounce(ctx, message, sender, &delayed, true).await {
        Ok(()) => {
            let (store, id) = (ctx.store.clone(), message.id);
            let _ = tokio::task::spawn_blocking(move || store.queue_mark_delay_notified(id)).await;
        }
        Err(e) => tracing::error!(
            queue_id = message.id,
            error = e,
            "could not create the delay notice"
        ),
    }
}

/// Sends an RFC 3464 report to `sender`, with the null sender so it can never loop.
async fn bounce(
    ctx: &Arc<Context>,
    message: &QueuedMessage,
    sender: &str,
    failures: &[(String, String)],
    delayed: bool,
) -> Result<(), String> {
    let (ctx2, message, sender, failures) = (
        ctx.clone(),
        message.clone(),
        sender.to_owned(),
        failures.to_vec(),
    );
    let sent = tokio::task::spawn_blocking(move || {
        send_bounce(
            ctx2.store.as_ref(),
            &ctx2.router,
            &ctx2.config.hostname,
            &message,
            &sender,
            &failures,
            delayed,
        )
    })
    .await
    .map_err(|e| e.to_string())??;
    if sent == BounceSent::Queued {
        ctx.outbound_wake.notify_one();
    }
    Ok(())
}
