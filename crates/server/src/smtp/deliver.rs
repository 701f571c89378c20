//! The end of a transaction: the submission checks on the finished message, then durable
//! delivery to local mailboxes and hand-off to the outbound queue, in one store commit.

use super::screen::Decision;
use super::spool::{Sealed, Spool, SpoolFailure};
use super::{Session, Transaction};
use crate::reply::{self, Reply};
use hermod_core::lists::{ListArrival, ListDeps, ListOutcome};
use hermod_core::pipeline::{self, Copy, FilterRefusal, Folder};
use hermod_message::{AuthorError, author_addresses, header_section};
use hermod_proto::smtp::Ret;
use hermod_store::{Flags, Outbound, StoreError};
use hermod_types::Address;
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
    /// `decision`: the spam verdict, which files local copies into recipients' Junk folders.
    pub(super) async fn deliver(
        &self,
        spool: Spool,
        txn: &Transaction,
        decision: Option<&Decision>,
    ) -> Reply {
        let id = spool.id.clone();
        // Sealed first: a message refused for its NULs must not count for the bulk guard.
        let Sealed { blob: sealed, head } = match spool.seal().await {
            Ok(sealed) => sealed,
            Err(SpoolFailure::HeaderTooBig) => return reply::HEADER_TOO_BIG,
            Err(SpoolFailure::Nul) => {
                crate::count_refusal("bad_message");
                return reply::DATA_NUL;
            }
            Err(SpoolFailure::Io(e)) => {
                tracing::error!(id, error = e, "writing the message body failed");
                return reply::LOCAL_ERROR;
            }
        };
        let guarded = match self.guard(head, txn).await {
            Ok(guarded) => guarded,
            Err(refusal) => return refusal,
        };
        // A post the spam filter files as junk is held for the list's moderators.
        let junk = decision.is_some_and(|d| d.action == hermod_spam::Action::Junk);
        let spam = decision.and_then(|d| d.score);
        match self.deliver_to_lists(&sealed, txn, junk, spam).await {
            // Lists were the only recipients and refused it: nothing is kept, not even the
            // sender's Sent copy (the client is told it failed).
            Ok(Some(refusal)) => return reply::list_refused(&refusal),
            Ok(None) => {}
            Err(reply) => return reply,
        }
        let mut envelope = self.envelope(txn, decision);
        if envelope.copies.is_empty() && envelope.outbound.is_none() {
            // Only list addresses: what they do is stored; the body goes with `sealed`.
            self.ctx.outbound_wake.notify_one();
            self.after_sending(txn, guarded).await;
            return self.accepted(&id);
        }
        let held = guarded.as_ref().and_then(|g| g.held.clone());
        if let Some(outbound) = envelope.outbound.as_mut() {
            outbound.held = held.clone();
        }
        let arrived = pipeline::Arrived {
            sender: txn.sender_str(),
            spam: decision.and_then(|d| d.score),
        };
        let store = self.ctx.store.as_ref();
        let delivered =
            pipeline::deliver_filtered(store, &self.ctx.sieve, sealed, &envelope, &arrived).await;
        match delivered {
            Ok(delivery) => {
                match (delivery.queue_id, &held) {
                    (Some(queue_id), Some(reason)) => {
                        tracing::warn!(id, queue_id, reason, "bulk guard: external copy held");
                    }
                    (Some(_), None) => self.ctx.outbound_wake.notify_one(),
                    (None, _) => {}
                }
                // What the recipients' filters sent (redirects, vacation replies) is due now.
                if delivery.sent > 0 {
                    self.ctx.outbound_wake.notify_one();
                }
                self.after_sending(txn, guarded).await;
                self.accepted(&id)
            }
            Err(FilterRefusal::Rejected(reason)) => {
                tracing::info!(id, reason, "rejected by the recipient's Sieve script");
                reply::sieve_rejected(&reason)
            }
            Err(FilterRefusal::Store(StoreError::OverQuota(user))) => {
                tracing::info!(id, user, "over quota at delivery");
                crate::count_refusal("quota");
                reply::OVER_QUOTA
            }
            Err(FilterRefusal::Store(e)) => {
                tracing::error!(id, error = %e, "delivery failed");
                crate::count_refusal("temporary_failure");
                reply::LOCAL_ERROR
            }
        }
    }

    /// Hands the message to each list it was addressed to (posts, commands, bounces; see
    /// `hermod_core::lists`), before the other recipients get it: a failure here loses
    /// nothing (the client retries). Returns a list's refusal when lists were the only
    /// recipients and every one refused.
    async fn deliver_to_lists(
        &self,
        sealed: &hermod_store::SealedBlob,
        txn: &Transaction,
        junk: bool,
        spam: Option<(f64, f64)>,
    ) -> Result<Option<String>, Reply> {
        let lists = txn.list_recipients();
        if lists.is_empty() {
            return Ok(None);
        }
        let limit = usize::try_from(self.ctx.config.limits.max_message_size).unwrap_or(usize::MAX);
        let message = sealed.read_head(limit).await.map_err(|e| {
            tracing::error!(error = %e, "reading the message for a list failed");
            reply::LOCAL_ERROR
        })?;
        let arrival = ListArrival {
            message: &message,
            sender: txn.sender_str(),
            authenticated: self.user.as_ref().map(|u| u.address.as_str()),
            junk,
            spam,
        };
        let ctx = &self.ctx;
        let deps = ListDeps {
            store: ctx.store.as_ref(),
            sieve: &ctx.sieve,
            router: &ctx.router,
        };
        let mut refusals = Vec::new();
        for rcpt in &lists {
            match ctx.lists.receive(deps, rcpt, &arrival).await {
                Ok(ListOutcome::Refused(reason)) => {
                    tracing::info!(list = rcpt.list.address, reason, "post refused");
                    refusals.push(reason);
                }
                // Before the other recipients have it: the retry brings it to them once.
                Ok(ListOutcome::Deferred(reason)) => {
                    crate::count_refusal("rate_limit");
                    return Err(reply::list_rate(&reason));
                }
                Ok(outcome) => tracing::info!(list = rcpt.list.address, ?outcome, "list mail"),
                Err(e) => {
                    tracing::error!(list = rcpt.list.address, error = %e, "list delivery failed");
                    return Err(reply::LOCAL_ERROR);
                }
            }
        }
        let only_lists = lists.len() == txn.rcpts.len();
        Ok(refusals
            .pop()
            .filter(|_| only_lists && refusals.len() + 1 == lists.len()))
    }

    /// The receipt, counted by service.
    fn accepted(&self, id: &str) -> Reply {
        let service = match self.user {
            Some(_) => "submission",
            None => "smtp",
        };
        hermod_types::metrics::metrics()
            .messages_accepted
            .inc(service);
        reply::accepted(id)
    }

    /// The pipeline's view of the transaction: each local account's copy (Junk by the spam
    /// verdict, the recipient's own where their lessons changed it), the sender's copy in
    /// Sent when configured, the remote recipients.
    fn envelope(&self, txn: &Transaction, decision: Option<&Decision>) -> pipeline::Envelope {
        let now = hermod_message::unix_now();
        let mut envelope = pipeline::Envelope::to_local(&txn.recipients(), Folder::Inbox, now);
        // Each copy is filed, and its Sieve `spamtest` answered, by its user's own verdict.
        if let Some(decision) = decision {
            for copy in &mut envelope.copies {
                if decision.junk_for(copy.user) {
                    copy.folder = Folder::Junk;
                }
                if let Some(filter) = &mut copy.filter {
                    filter.spam = decision.own_score(copy.user);
                }
            }
        }
        if let Some(user) = self
            .user
            .as_ref()
            .filter(|_| self.ctx.config.submission.save_to_sent)
        {
            envelope.copies.push(Copy {
                user: user.id,
                folder: Folder::Sent,
                flags: Flags {
                    bits: Flags::SEEN,
                    keywords: Vec::new(),
                },
                filter: None,
            });
        }
        envelope.outbound = self.outbound(txn);
        envelope
    }

    fn outbound(&self, txn: &Transaction) -> Option<Outbound> {
        let recipients = txn.remote_recipients();
        if recipients.is_empty() {
            return None;
        }
        let sender = txn.sender_str().map(str::to_owned);
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
            held: None,
        })
    }
}
