//! The end of a transaction: the submission checks on the finished message, then durable
//! delivery to local mailboxes and hand-off to the outbound queue, in one store commit.

use super::spool::{Spool, SpoolFailure};
use super::{Session, Transaction};
use crate::reply::{self, Reply};
use hermod_message::{AuthorError, author_addresses, header_section};
use hermod_proto::smtp::{Ret, ReversePath};
use hermod_store::{DeliveryTarget, Flags, Outbound, StoreError};
use hermod_types::{Address, MailboxName};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// An authenticated user's `From:`, `Sender:` and `Resent-*` mailboxes must all be its
    /// own (RFC 6409 8.1 lets the server check; we do, so accounts cannot be used to forge
    /// others' mail, and what we DKIM-sign is what the account may say).
    pub(super) async fn check_from(&self, head: &[u8]) -> Option<Reply> {
        let user = self.user.clone()?;
        let found = match author_addresses(header_section(head)) {
            Ok(found) => found,
            Err(AuthorError::Repeated(_)) => return Some(reply::REPEATED_AUTHOR),
            Err(_) => return Some(reply::NO_FROM),
        };
        for address in found {
            let Ok(address) = Address::parse(&address) else {
                return Some(reply::FROM_NOT_ALLOWED);
            };
            match self.may_send_as(user.clone(), address).await {
                Ok(true) => {}
                Ok(false) => return Some(reply::FROM_NOT_ALLOWED),
                Err(refusal) => return Some(refusal),
            }
        }
        None
    }

    /// Local copies and the queue entry are committed together: every accepted recipient
    /// gets the message, or none does and the client retries.
    /// `junk`: the spam verdict files the local copies into each recipient's Junk folder.
    pub(super) async fn deliver(&self, spool: Spool, txn: &Transaction, junk: bool) -> Reply {
        let id = spool.id.clone();
        let sealed = match spool.seal().await {
            Ok(sealed) => sealed,
            Err(SpoolFailure::HeaderTooBig) => return reply::HEADER_TOO_BIG,
            Err(SpoolFailure::Io(e)) => {
                tracing::error!(id, error = e, "writing the message body failed");
                return reply::LOCAL_ERROR;
            }
        };
        let now = hermod_message::unix_now();
        let targets = self.targets(txn, now, junk);
        let outbound = self.outbound(txn);
        let submitted = self
            .ctx
            .store
            .submit(sealed, &targets, outbound.as_ref())
            .await;
        match submitted {
            Ok(submitted) => {
                if submitted.queue_id.is_some() {
                    self.ctx.outbound_wake.notify_one();
                }
                if let Some(user) = &self.user {
                    self.ctx.send_rate.record(user.id, Instant::now());
                }
                reply::accepted(&id)
            }
            Err(StoreError::OverQuota(user)) => {
                tracing::info!(id, user, "over quota at delivery");
                reply::OVER_QUOTA
            }
            Err(e) => {
                tracing::error!(id, error = %e, "delivery failed");
                reply::LOCAL_ERROR
            }
        }
    }

    /// Each local account's INBOX (or Junk) once, and the sender's Sent folder when
    /// configured.
    fn targets(&self, txn: &Transaction, now: i64, junk: bool) -> Vec<DeliveryTarget> {
        let folder = match junk {
            true => MailboxName::parse("Junk").unwrap_or_else(|_| MailboxName::inbox()),
            false => MailboxName::inbox(),
        };
        let inbox = |user| DeliveryTarget {
            user,
            mailbox: folder.clone(),
            flags: Flags::default(),
            internal_date: now,
        };
        let mut targets: Vec<DeliveryTarget> =
            txn.recipients().iter().map(|r| inbox(r.user)).collect();
        if let Some(user) = self
            .user
            .as_ref()
            .filter(|_| self.ctx.config.submission.save_to_sent)
            && let Ok(sent) = MailboxName::parse("Sent")
        {
            let flags = Flags {
                bits: Flags::SEEN,
                keywords: Vec::new(),
            };
            targets.push(DeliveryTarget {
                user: user.id,
                mailbox: sent,
                flags,
                internal_date: now,
            });
        }
        targets
    }

    fn outbound(&self, txn: &Transaction) -> Option<Outbound> {
        let recipients = txn.remote_recipients();
        if recipients.is_empty() {
            return None;
        }
        let sender = match &txn.from {
            ReversePath::Null => None,
            ReversePath::Address(a) => Some(a.to_string()),
        };
        let ret = txn.params.ret.map(|r| match r {
            Ret::Full => "FULL".to_owned(),
            Ret::Hdrs => "HDRS".to_owned(),
        });
        Some(Outbound {
            sender,
            recipients,
            envid: txn.params.envid.clone(),
            ret,
            smtputf8: txn.params.smtputf8,
        })
    }
}
