//! Bounces: the RFC 3464 report for recipients that could not be reached, sent to the
//! envelope sender with the null sender (so a bounce never bounces).

use crate::{RcptOutcome, Router};
use hermod_message::{Bounce, FailedRecipient, header_section, return_path};
use hermod_store::{Outbound, OutboundRecipient, QueuedMessage, Store};
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

/// Messages up to this size are returned whole in a bounce.
const RETURN_FULL_UP_TO: u64 = 128 * 1024;
/// How much of a larger message is read to find its header section.
const HEADERS_UP_TO: u64 = 64 * 1024;

/// Where the report went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceSent {
    /// Into a local mailbox.
    Delivered,
    /// Into the outbound queue: wake the runner.
    Queued,
}

/// Writes a report about `failures` (recipient, diagnostic) of `message` for its sender.
pub fn send_bounce(
    store: &dyn Store,
    router: &Router,
    hostname: &str,
    message: &QueuedMessage,
    sender: &str,
    failures: &[(String, String)],
    delayed: bool,
) -> Result<BounceSent, String> {
    // The whole message goes back when it is small or the sender asked (RET=FULL, RFC 3461
    // 4.3); otherwise its headers, which identify it without resending a large body.
    let asked = message
        .ret
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("FULL"));
    let full = asked || message.size <= RETURN_FULL_UP_TO;
    let limit = if full { message.size } else { HEADERS_UP_TO };
    let mut head = Vec::new();
    let body = store.open_blob(&message.blob).map_err(|e| e.to_string())?;
    body.take(limit)
        .read_to_end(&mut head)
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
    deliver_report(store, router, sender, &report)
}

fn deliver_report(
    store: &dyn Store,
    router: &Router,
    sender: &str,
    report: &[u8],
) -> Result<BounceSent, String> {
    let address = hermod_types::Address::parse(sender).map_err(|e| e.to_string())?;
    let route = router.resolve(&address, None).map_err(|e| e.to_string())?;
    let mut writer = store.blob_writer().map_err(|e| e.to_string())?;
    if let RcptOutcome::Local(_) = route {
        // Final delivery adds the Return-Path; the relay of a queued copy adds none.
        writer
            .write_all(return_path(None).as_bytes())
            .map_err(|e| e.to_string())?;
    }
    writer.write_all(report).map_err(|e| e.to_string())?;
    let sealed = writer.seal().map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match route {
        RcptOutcome::Local(recipients) => {
            crate::deliver_local(store, sealed, &recipients, now).map_err(|e| e.to_string())?;
            Ok(BounceSent::Delivered)
        }
        RcptOutcome::Reject(_) => {
            let recipient = OutboundRecipient {
                address: sender.to_owned(),
                notify: Some("NEVER".into()),
                orcpt: None,
            };
            let outbound = Outbound {
                sender: None,
                recipients: vec![recipient],
                envid: None,
                ret: None,
                smtputf8: false,
            };
            store
                .submit(sealed, &[], Some(&outbound))
                .map_err(|e| e.to_string())?;
            Ok(BounceSent::Queued)
        }
    }
}
