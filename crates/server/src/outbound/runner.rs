//! The queue runner: wakes when mail is queued (or every few seconds), claims the entries
//! that are due (a lease in the store: no other process delivers them meanwhile, and the
//! claim runs out if this one dies), delivers them domain by domain, records each outcome,
//! and once an entry has no recipient left to try, bounces the failures to the sender and
//! removes it in the same commit.

use super::client::{Envelope, RemoteReply, transact};
use super::mtasts::{Lookup, StsCheck};
use super::tlsrpt::Failure;
use crate::Context;
use crate::net::shutdown::Shutdown;
use hermod_core::bounce::bounce_report;
use hermod_core::mtasts::{StsMode, StsPolicy, mx_allowed};
use hermod_core::outbound::{Mx, Verdict, backoff, notify_asks, verdict};
use hermod_message::unix_now;
use hermod_store::{QueueUpdate, QueuedMessage, QueuedRecipient, RecipientOutcome, RecipientState};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;

/// How often the queue is looked at when nothing wakes the runner.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Queue entries taken per round.
const BATCH: usize = 64;
/// A claim on a queue entry lasts `[outbound] claim_lease` (how long another process waits
/// for the entries of one that died) and is renewed at a third of it while delivering, so
/// two renewals can fail before another node may take the entry.
fn lease_seconds(ctx: &Context) -> i64 {
    i64::try_from(ctx.config.outbound.claim_lease.as_secs()).unwrap_or(i64::MAX)
}

/// This process's name on its claims: unique per run.
fn claim_owner(hostname: &str) -> String {
    let mut random = [0u8; 6];
    let _ = getrandom::fill(&mut random);
    let tag: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hostname}/{}/{tag}", std::process::id())
}

pub(crate) async fn run(ctx: Arc<Context>, mut shutdown: Shutdown) {
    let owner: Arc<str> = claim_owner(&ctx.config.hostname).into();
    // Entries being delivered right now, whose claims are renewed while they last.
    let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let lease = lease_seconds(&ctx);
    let mut renew = tokio::time::interval(ctx.config.outbound.claim_lease / 3);
    // A deadline rather than a fresh sleep per turn: renewals (every lease / 3, which may
    // be shorter than IDLE_POLL) must not keep postponing the next look at the queue.
    let mut next_poll = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_poll) => {}
            _ = ctx.outbound_wake.notified() => {}
            _ = renew.tick() => {
                renew_claims(&ctx, &owner, &in_flight).await;
                continue;
            }
            _ = shutdown.wait() => return,
        }
        next_poll = tokio::time::Instant::now() + IDLE_POLL;
        while tasks.try_join_next().is_some() {}
        ctx.outbound_pool.expire();
        let busy = in_flight.lock().unwrap_or_else(|e| e.into_inner()).len();
        let claimed = ctx
            .store
            .queue_claim(&owner, unix_now(), lease, BATCH.saturating_sub(busy))
            .await;
        let due = match claimed {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "reading the queue failed");
                continue;
            }
        };
        for message in due {
            in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(message.id);
            let (ctx, owner, in_flight) = (ctx.clone(), owner.clone(), in_flight.clone());
            tasks.spawn(async move {
                let id = message.id;
                process(&ctx, &owner, message).await;
                in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                if let Err(e) = ctx.store.queue_release(&owner, id).await {
                    tracing::warn!(queue_id = id, error = %e, "releasing a queue claim failed");
                }
                // Whatever is due next (a retry, a bounce just queued) need not wait.
                ctx.outbound_wake.notify_one();
            });
        }
    }
}

/// Keeps the claims on entries still being delivered.
async fn renew_claims(ctx: &Context, owner: &str, in_flight: &Mutex<HashSet<i64>>) {
    let ids: Vec<i64> = in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    if ids.is_empty() {
        return;
    }
    match ctx
        .store
        .queue_renew(owner, &ids, unix_now() + lease_seconds(ctx))
        .await
    {
        Ok(held) if held.len() < ids.len() => {
            tracing::warn!(
                lost = ids.len() - held.len(),
                "queue claims ran out during delivery"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "renewing queue claims failed"),
    }
}

/// One queue entry: every due recipient, grouped by domain, one transaction per domain.
async fn process(ctx: &Arc<Context>, owner: &str, message: QueuedMessage) {
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
        results.extend(deliver_domain(ctx, &message, &domain, &recipients).await);
    }
    let updates: Vec<(String, QueueUpdate)> = results
        .into_iter()
        .map(|(rcpt, reply)| (rcpt.clone(), update(ctx, &message, &rcpt, &reply)))
        .collect();
    let id = message.id;
    match ctx.store.queue_record(owner, id, &updates).await {
        Ok(true) => finish_if_done(ctx, &message).await,
        Ok(false) => tracing::warn!(
            queue_id = id,
            "the claim on this entry ran out; another process owns its results"
        ),
        Err(e) => tracing::error!(
            queue_id = id,
            error = %e,
            "recording delivery results failed; they will be retried"
        ),
    }
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
    let count = |result| hermod_types::metrics::metrics().deliveries.inc(result);
    match verdict(reply.code) {
        Verdict::Delivered => {
            count("delivered");
            QueueUpdate::Delivered {
                reply: reply.to_string(),
            }
        }
        Verdict::Failed => {
            count("bounced");
            QueueUpdate::Failed {
                error: reply.to_string(),
            }
        }
        Verdict::Deferred => {
            let expired =
                unix_now() - message.created >= ctx.config.outbound.max_queue_time.as_secs() as i64;
            count(if expired { "bounced" } else { "deferred" });
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
    let policy = sts_policy(ctx, domain).await;
    let mut last = RemoteReply {
        code: 451,
        text: "4.4.1 no mail server reachable".into(),
    };
    for (host, addr) in hosts {
        let sts = match sts_check(ctx, domain, policy.as_ref(), &host, addr) {
            Ok(sts) => sts,
            Err(refused) => {
                last = refused;
                continue;
            }
        };
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
        let result = transact(&ctx.outbound_pool, addr, &envelope, &body, sts.as_ref()).await;
        if let (Some(sts), Some(policy)) = (&sts, &policy) {
            record_session(ctx, domain, policy, sts, addr);
        }
        match result {
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

/// The domain's MTA-STS policy, when `[outbound_tls] mta_sts` is on and mail goes to the
/// domain's own MX hosts (a smarthost has no business with it). A policy that could not be
/// fetched is reported, and the mail goes as without one.
async fn sts_policy(ctx: &Context, domain: &str) -> Option<StsPolicy> {
    if !ctx.config.outbound_tls.mta_sts || ctx.config.outbound.smarthost.is_some() {
        return None;
    }
    match ctx.sts.policy(ctx.resolver.as_ref(), domain).await {
        Lookup::Policy(policy) => Some(policy),
        Lookup::None => None,
        Lookup::Failed(kind, error) => {
            tracing::info!(
                domain,
                error,
                "MTA-STS policy unavailable; delivering without"
            );
            let failure = Failure {
                result_type: kind,
                ..Failure::default()
            };
            ctx.tls_reports.failure(domain, None, failure);
            None
        }
    }
}

/// The certificate check for MX `host` under the policy, if there is one. An MX the policy
/// does not name is refused in `enforce` mode (the next one is tried) and reported in
/// `testing` mode, where it is used as without a policy.
fn sts_check(
    ctx: &Context,
    domain: &str,
    policy: Option<&StsPolicy>,
    host: &str,
    addr: SocketAddr,
) -> Result<Option<StsCheck>, RemoteReply> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    let enforce = policy.mode == StsMode::Enforce;
    if !mx_allowed(policy, host) {
        let failure = Failure {
            result_type: "validation-failure",
            mx: Some(host.to_owned()),
            receiving_ip: Some(addr.ip().to_string()),
            sending_ip: None,
        };
        ctx.tls_reports.failure(domain, Some(policy), failure);
        if enforce {
            return Err(RemoteReply {
                code: 451,
                text: format!("4.7.5 {host} is not an MX of {domain}'s MTA-STS policy"),
            });
        }
        return Ok(None);
    }
    ctx.sts
        .check(host, enforce)
        .map(Some)
        .map_err(|e| RemoteReply {
            code: 451,
            text: format!("4.7.5 cannot check {host}'s certificate: {e}"),
        })
}

/// Counts the session for the domain's TLS report, when it got as far as TLS (or should
/// have).
fn record_session(
    ctx: &Context,
    domain: &str,
    policy: &StsPolicy,
    sts: &StsCheck,
    addr: SocketAddr,
) {
    match sts.outcome() {
        Some(Ok(())) => ctx.tls_reports.success(domain, policy),
        Some(Err(kind)) => {
            let failure = Failure {
                result_type: kind,
                mx: Some(sts.host.clone()),
                receiving_ip: Some(addr.ip().to_string()),
                sending_ip: sts.local().map(|ip| ip.to_string()),
            };
            ctx.tls_reports.failure(domain, Some(policy), failure);
        }
        None => {}
    }
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
/// 5321 4.4), and DKIM-signed when the sender's domain is ours and has keys (after a
/// rotation, the newest whose record is published: `outbound::dkim`).
async fn open_body(ctx: &Context, message: &QueuedMessage) -> Result<Vec<u8>, String> {
    let store = &ctx.store;
    let read = store.read_blob(&message.blob, None).await;
    let mut body = read.map_err(|e| e.to_string())?;
    if body.starts_with(b"Return-Path:") {
        let end = body
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| i + 1);
        body.drain(..end);
    }
    let domain = message
        .sender
        .as_deref()
        .and_then(|s| s.rsplit_once('@'))
        .and_then(|(_, d)| hermod_types::Domain::parse(d).ok());
    let Some(domain) = domain else {
        return Ok(body);
    };
    let stored = store.dkim_keys(&domain).await.map_err(|e| e.to_string())?;
    let published = &ctx.dkim_published;
    let keys = published
        .signing_keys(&ctx.sts, domain.as_str(), &stored)
        .await;
    if keys.is_empty() {
        return Ok(body);
    }
    // Signing is CPU work (RSA): off the runtime's threads.
    let signed = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let signature = hermod_core::dkim::sign(&keys, domain.as_str(), &body)?;
        let mut signed = signature.into_bytes();
        signed.extend_from_slice(&body);
        Ok(signed)
    });
    signed.await.map_err(|e| e.to_string())?
}

/// When no recipient is left to try: bounce the failures (unless the sender is `<>` or
/// asked not to hear) and drop the entry, in one commit. While some are still waiting, tell
/// the sender once that the message is delayed, after `delay_notice_after`.
async fn finish_if_done(ctx: &Arc<Context>, message: &QueuedMessage) {
    let id = message.id;
    let Ok(outcomes) = ctx.store.queue_outcomes(id).await else {
        return;
    };
    if outcomes.iter().any(|o| !o.state.is_final()) {
        notify_delay(ctx, message, &outcomes).await;
        return;
    }
    let failures = wanted(message, &outcomes, RecipientState::Failed, "FAILURE");
    if let Some(list) = list_bounce_address(ctx, message).await {
        count_list_bounces(ctx, message, &list, &failures).await;
        return;
    }
    let report = match (&message.sender, failures.is_empty()) {
        (Some(sender), false) => match report(ctx, message, sender, &failures, false).await {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::error!(
                    queue_id = id,
                    error = e,
                    "could not create the bounce; keeping the entry"
                );
                return;
            }
        },
        _ => None,
    };
    let queued = report.as_ref().is_some_and(|r| r.outbound.is_some());
    match ctx.store.queue_finish(id, report).await {
        Ok(()) => {
            tracing::info!(queue_id = id, "queue entry done");
            if queued {
                ctx.outbound_wake.notify_one();
            }
        }
        Err(e) => tracing::error!(queue_id = id, error = %e, "finishing the queue entry failed"),
    }
}

/// Recipients in `state` whose NOTIFY asks for `kind` reports (absent NOTIFY means
/// failures and delays are reported), with their last reply.
fn wanted(
    message: &QueuedMessage,
    outcomes: &[RecipientOutcome],
    state: RecipientState,
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
        .filter(|o| o.state == state && asks(&o.recipient))
        .map(|o| {
            (
                o.recipient.clone(),
                o.last_reply.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// The list whose VERP address sent `message` (a member's copy of a post), if any.
async fn list_bounce_address(
    ctx: &Arc<Context>,
    message: &QueuedMessage,
) -> Option<hermod_core::lists::ListRcpt> {
    // Only VERP senders are worth a lookup: every finished entry passes here.
    let sender = message
        .sender
        .as_deref()
        .filter(|s| s.contains("+bounce-"))?;
    let sender = hermod_types::Address::parse(sender).ok()?;
    match ctx.router.resolve(&sender, None).await {
        Ok(hermod_core::RcptOutcome::List(rcpt)) => Some(*rcpt),
        _ => None,
    }
}

/// A member's copy failed: the list counts the bounce (no report is written; the VERP
/// sender is there so the list learns who bounced). A crash before the entry is finished
/// can count one bounce twice, never lose the copy's outcome.
async fn count_list_bounces(
    ctx: &Arc<Context>,
    message: &QueuedMessage,
    rcpt: &hermod_core::lists::ListRcpt,
    failures: &[(String, String)],
) {
    let deps = hermod_core::lists::ListDeps {
        store: ctx.store.as_ref(),
        sieve: &ctx.sieve,
        router: &ctx.router,
    };
    for (member, reply) in failures {
        tracing::info!(
            queue_id = message.id,
            list = rcpt.list.address,
            member,
            reply,
            "list member bounced"
        );
        let counted = ctx.lists.count_bounce(deps, &rcpt.list, member).await;
        if let Err(e) = counted {
            tracing::error!(queue_id = message.id, error = %e, "counting a list bounce failed; keeping the entry");
            return;
        }
    }
    ctx.outbound_wake.notify_one();
    if let Err(e) = ctx.store.queue_finish(message.id, None).await {
        tracing::error!(queue_id = message.id, error = %e, "finishing the queue entry failed");
    }
}

async fn notify_delay(ctx: &Arc<Context>, message: &QueuedMessage, outcomes: &[RecipientOutcome]) {
    let age = unix_now() - message.created;
    let Some(sender) = &message.sender else {
        return;
    };
    if message.delay_notified || age < ctx.config.outbound.delay_notice_after.as_secs() as i64 {
        return;
    }
    let delayed = wanted(message, outcomes, RecipientState::Deferred, "DELAY");
    if delayed.is_empty() || list_bounce_address(ctx, message).await.is_some() {
        // A list learns of failures only: a member's delayed copy is nobody's concern yet.
        return;
    }
    let notice = match report(ctx, message, sender, &delayed, true).await {
        Ok(notice) => notice,
        Err(e) => {
            tracing::error!(
                queue_id = message.id,
                error = e,
                "could not create the delay notice"
            );
            return;
        }
    };
    let queued = notice.outbound.is_some();
    match ctx.store.queue_delay_notice(message.id, notice).await {
        Ok(()) if queued => ctx.outbound_wake.notify_one(),
        Ok(()) => {}
        Err(e) => {
            tracing::error!(queue_id = message.id, error = %e, "queueing the delay notice failed")
        }
    }
}

/// An RFC 3464 report for `sender`, with the null sender so it can never loop; the caller
/// commits it.
async fn report(
    ctx: &Arc<Context>,
    message: &QueuedMessage,
    sender: &str,
    failures: &[(String, String)],
    delayed: bool,
) -> Result<hermod_store::Report, String> {
    let hostname = &ctx.config.hostname;
    let mail = ctx.store.as_ref();
    bounce_report(
        mail,
        &ctx.router,
        hostname,
        message,
        sender,
        failures,
        delayed,
    )
    .await
}
