//! Bounces: the RFC 3464 report for recipients that could not be reached, sent to the
//! envelope sender with the null sender (so a bounce never bounces).

use crate::pipeline::{self, Envelope, Folder};
use crate::{RcptOutcome, Router};
use hermod_message::{Bounce, FailedRecipient, header_section, return_path};
use hermod_store::{Mail, Outbound, OutboundRecipient, QueuedMessage, Report};
use std::time::{Duration, SystemTime};

/// Messages up to this size are returned whole in a bounce.
const RETURN_FULL_UP_TO: u64 = 128 * 1024;
/// How much of a larger message is read to find its header section.
const HEADERS_UP_TO: u64 = 64 * 1024;

/// Writes a report about `failures` (recipient, diagnostic) of `message` for its sender,
/// addressed (a local mailbox, or the queue) but not yet stored: the caller commits it
/// together with what it reports on ([`hermod_store::Queue::queue_finish`]).
pub async fn bounce_report(
    mail: &dyn Mail,
    router: &Router,
    hostname: &str,
    message: &QueuedMessage,
    sender: &str,
    failures: &[(String, String)],
    delayed: bool,
) -> Result<Report, String> {
    // The whole message goes back when it is small or the sender asked (RET=FULL, RFC 3461
    // 4.3); otherwise its headers, which identify it without resending a large body.
    let asked = message
        .ret
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("FULL"));
    let full = asked || message.size <= RETURN_FULL_UP_TO;
    let limit = if full { message.size } else { HEADERS_UP_TO };
    let head = mail
        .read_blob(&message.blob, Some(limit))
        .await
        .map_err(|e| e.to_string())?;
    let recipients: Vec<FailedRecipient<'_>> = failures
        .iter()
        .map(|(address, diagnostic)| {
            let orcpt = message
                .recipients
                .iter()
                .find(|r| &r.address == address)
                .and_then(|r| r.orcpt.as_deref());
            FailedRecipient {
                address,
                orcpt,
                diagnostic,
                remote_mta: None,
            }
        })
        .collect();
    let id = format!("q{}", message.id);
    let report = Bounce {
        hostname,
        to: sender,
        id: &id,
        envid: message.envid.as_deref(),
        arrival: SystemTime::UNIX_EPOCH + Duration::from_secs(message.created.max(0) as u64),
        recipients: &recipients,
        delayed,
        original_headers: header_section(&head),
        original_full: full.then_some(&head[..]),
    }
    .render();
    address_report(mail, router, sender, &report).await
}

async fn address_report(
    mail: &dyn Mail,
    router: &Router,
    sender: &str,
    report: &[u8],
) -> Result<Report, String> {
    let address = hermod_types::Address::parse(sender).map_err(|e| e.to_string())?;
    let route = router
        .resolve(&address, None)
        .await
        .map_err(|e| e.to_string())?;
    let mut content = Vec::with_capacity(report.len() + 32);
    if let RcptOutcome::Local(_) = route {
        // Final delivery adds the Return-Path; the relay of a queued copy adds none.
        content.extend_from_slice(return_path(None).as_bytes());
    }
    content.extend_from_slice(report);
    let writer = mail.blob_writer().map_err(|e| e.to_string())?;
    let (writer, _) = writer.append(content).await.map_err(|e| e.to_string())?;
    let blob = writer.seal_async().await.map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(match route {
        RcptOutcome::Local(recipients) => {
            let envelope = Envelope::to_local(&recipients, Folder::Inbox, now);
            let targets = pipeline::targets(mail, &envelope).await;
            Report {
                blob,
                targets: targets.map_err(|e| e.to_string())?,
                outbound: None,
            }
        }
        // The relay counts a list's bounces itself (see `lists::ListEngine::count_bounce`).
        RcptOutcome::List(_) => return Err(format!("{sender} is a mailing list's address")),
        RcptOutcome::Reject(_) | RcptOutcome::Forward(_) => Report {
            blob,
            targets: Vec::new(),
            outbound: Some(Outbound {
                sender: None,
                recipients: vec![OutboundRecipient {
                    // A bounce of a redirected message goes to the original sender.
                    address: match &route {
                        RcptOutcome::Forward(original) => original.clone(),
                        _ => sender.to_owned(),
                    },
                    notify: Some("NEVER".into()),
                    orcpt: None,
                }],
                envid: None,
                ret: None,
                smtputf8: false,
                held: None,
            }),
        },
    })
}

/// What [`delete_queued`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Removed without telling anyone.
    Quietly,
    /// Removed, and a report went to its sender in the same commit.
    SenderTold,
    /// A mailing list's copy (VERP sender) was removed: the list has nobody to tell.
    ListCopy,
    /// No such entry.
    Missing,
}

/// An administrator drops queue entry `id` (`hermod queue delete`, the web's queue page);
/// with `bounce`, its sender gets a failure report for every recipient left, committed with
/// the removal as when the relay gives up.
pub async fn delete_queued(
    store: &dyn hermod_store::Store,
    router: &Router,
    hostname: &str,
    id: i64,
    bounce: bool,
) -> Result<Deleted, String> {
    let Some(message) = store.queued(id).await.map_err(|e| e.to_string())? else {
        return Ok(Deleted::Missing);
    };
    let sender = match (&message.sender, bounce) {
        (Some(sender), true) => sender.clone(),
        _ => {
            let removed = store.queue_remove(id).await.map_err(|e| e.to_string())?;
            return Ok(if removed {
                Deleted::Quietly
            } else {
                Deleted::Missing
            });
        }
    };
    let address = hermod_types::Address::parse(&sender).map_err(|e| e.to_string())?;
    if let RcptOutcome::List(_) = router
        .resolve(&address, None)
        .await
        .map_err(|e| e.to_string())?
    {
        store.queue_remove(id).await.map_err(|e| e.to_string())?;
        return Ok(Deleted::ListCopy);
    }
    let reason = "550 5.3.0 deleted from the queue by the administrator";
    let failures: Vec<(String, String)> = message
        .recipients
        .iter()
        .map(|r| (r.address.clone(), reason.to_owned()))
        .collect();
    let report =
        bounce_report(store, router, hostname, &message, &sender, &failures, false).await?;
    store
        .queue_finish(id, Some(report))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Deleted::SenderTold)
}
