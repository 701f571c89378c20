//! MAIL and RCPT: building the envelope of a transaction.

use super::spool::Spool;
use super::{Mode, Session};
use crate::reply::{self, Reply};
use hermod_core::lists::ListRcpt;
use hermod_core::{LocalRecipient, RcptOutcome, RejectReason};
use hermod_proto::smtp::{Body, ForwardPath, MailParams, RcptParams, ReversePath};
use hermod_store::OutboundRecipient;
use hermod_types::{Address, LocalPart};
use tokio::io::{AsyncRead, AsyncWrite};

/// One accepted RCPT: the address as the client gave it, and where it goes.
pub(crate) struct AcceptedRcpt {
    pub address: String,
    pub target: RcptTarget,
}

pub(crate) enum RcptTarget {
    /// Local accounts (an alias may name several).
    Local(Vec<LocalRecipient>),
    /// Another domain: the outbound queue (authenticated senders only).
    Remote(OutboundRecipient),
    /// One of a mailing list's addresses: the list acts on the message.
    List(Box<ListRcpt>),
}

pub(crate) struct Transaction {
    /// The envelope sender as text (`None`: `<>`), written once when MAIL FROM is accepted:
    /// the log line, the trace fields, screening and delivery all read it.
    sender: Option<String>,
    pub params: MailParams,
    pub rcpts: Vec<AcceptedRcpt>,
    /// BDAT chunks received so far, when the client uses CHUNKING.
    pub chunks: Option<Spool>,
    /// The spam verdict, once made (early when the message outgrew the scan limit).
    pub decision: Option<super::screen::Decision>,
}

impl Transaction {
    /// The envelope sender (`None`: `<>`), borrowed.
    pub fn sender_str(&self) -> Option<&str> {
        self.sender.as_deref()
    }

    /// Every distinct local account the message goes to.
    pub fn recipients(&self) -> Vec<LocalRecipient> {
        let mut all: Vec<LocalRecipient> = Vec::new();
        for rcpt in &self.rcpts {
            let RcptTarget::Local(locals) = &rcpt.target else {
                continue;
            };
            for r in locals {
                if !all.iter().any(|a| a.user == r.user) {
                    all.push(r.clone());
                }
            }
        }
        all
    }

    pub fn remote_recipients(&self) -> Vec<OutboundRecipient> {
        let remote = self.rcpts.iter().filter_map(|r| match &r.target {
            RcptTarget::Remote(o) => Some(o.clone()),
            RcptTarget::Local(_) | RcptTarget::List(_) => None,
        });
        remote.collect()
    }

    /// The list addresses among the recipients, each once.
    pub fn list_recipients(&self) -> Vec<&ListRcpt> {
        let mut all: Vec<&ListRcpt> = Vec::new();
        for rcpt in &self.rcpts {
            if let RcptTarget::List(list) = &rcpt.target
                && !all.contains(&&**list)
            {
                all.push(list);
            }
        }
        all
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// `utf8`: the command line held UTF-8 (allowed only with SMTPUTF8).
    pub(super) async fn mail(
        &mut self,
        from: ReversePath,
        params: MailParams,
        utf8: bool,
    ) -> Reply {
        if self.helo.is_none() {
            return reply::NEED_HELO;
        }
        if self.txn.is_some() {
            return reply::NESTED_MAIL;
        }
        if self.mode == Mode::Submission && self.user.is_none() {
            return reply::AUTH_REQUIRED;
        }
        if params
            .size
            .is_some_and(|s| s > self.ctx.config.limits.max_message_size)
        {
            crate::count_refusal("too_large");
            return reply::TOO_BIG;
        }
        if matches!(params.body, Some(Body::BinaryMime)) {
            return reply::unknown_parameter("BODY=BINARYMIME");
        }
        if utf8 && !params.smtputf8 {
            return reply::NEED_SMTPUTF8;
        }
        if let Some(refusal) = self.check_authenticated_sender(&from).await {
            return refusal;
        }
        let sender = match &from {
            ReversePath::Null => None,
            ReversePath::Address(a) => Some(a.to_string()),
        };
        self.txn = Some(Transaction {
            sender,
            params,
            rcpts: Vec::new(),
            chunks: None,
            decision: None,
        });
        reply::SENDER_OK
    }

    /// An authenticated user sends only as itself (RFC 6409 8.1, our policy), only so many
    /// messages an hour and a day, and nothing while its account is frozen.
    async fn check_authenticated_sender(&self, from: &ReversePath) -> Option<Reply> {
        let user = self.user.clone()?;
        let ReversePath::Address(sender) = from else {
            crate::count_refusal("sender_not_allowed");
            return Some(reply::SENDER_NOT_ALLOWED);
        };
        if let Some(refusal) = self.check_sending(&user).await {
            return Some(refusal);
        }
        match self.may_send_as(user, sender.clone()).await {
            Ok(true) => None,
            Ok(false) => {
                crate::count_refusal("sender_not_allowed");
                Some(reply::SENDER_NOT_ALLOWED)
            }
            Err(reply) => Some(reply),
        }
    }

    pub(super) async fn may_send_as(
        &self,
        user: hermod_store::UserRecord,
        sender: Address,
    ) -> Result<bool, Reply> {
        let delimiter = self.ctx.config.recipient_delimiter;
        let directory = self.ctx.store.as_ref();
        let checked =
            hermod_core::submission::may_send_as(directory, &user, &sender, delimiter).await;
        checked.map_err(|e| {
            tracing::error!(error = %e, "sender check failed");
            reply::LOCAL_ERROR
        })
    }

    fn max_recipients(&self) -> usize {
        let limit = self.ctx.config.limits.max_recipients;
        match self.user {
            Some(_) => limit.min(self.ctx.config.submission.max_recipients),
            None => limit,
        }
    }

    pub(super) async fn rcpt(&mut self, to: ForwardPath, params: RcptParams, utf8: bool) -> Reply {
        let Some(txn) = &self.txn else {
            return reply::NEED_MAIL;
        };
        if txn.rcpts.len() >= self.max_recipients() {
            crate::count_refusal("too_many_recipients");
            return reply::TOO_MANY_RCPTS;
        }
        if let Some(refusal) = self.check_recipient_rate(txn.rcpts.len()) {
            return refusal;
        }
        if utf8 && !txn.params.smtputf8 {
            return reply::NEED_SMTPUTF8;
        }
        let (address, outcome) = match self.resolve(to).await {
            Ok(resolved) => resolved,
            Err(refusal) => return refusal,
        };
        let target = match outcome {
            RcptOutcome::Local(recipients) => {
                let sender = txn.sender_str().unwrap_or_default();
                if let Some(wait) = self.greylist(sender, &address).await {
                    crate::count_refusal("greylist");
                    return wait;
                }
                RcptTarget::Local(recipients)
            }
            RcptOutcome::List(list) => {
                let sender = txn.sender_str().unwrap_or_default();
                if let Some(wait) = self.greylist(sender, &address).await {
                    return wait;
                }
                RcptTarget::List(list)
            }
            // Relaying is for authenticated users only, never for anyone else.
            RcptOutcome::Reject(RejectReason::RelayDenied) if self.user.is_some() => {
                RcptTarget::Remote(OutboundRecipient {
                    address: address.clone(),
                    notify: notify_param(&params),
                    orcpt: params.orcpt,
                })
            }
            // hermod's own SRS address (its HMAC checked): on to the sender it stands for.
            RcptOutcome::Forward(original) => {
                tracing::info!(peer = %self.peer, rcpt = %address, original, "SRS address forwarded");
                RcptTarget::Remote(OutboundRecipient {
                    address: original,
                    notify: notify_param(&params),
                    orcpt: params.orcpt,
                })
            }
            RcptOutcome::Reject(reason) => {
                tracing::info!(peer = %self.peer, rcpt = %address, ?reason, "recipient rejected");
                crate::count_refusal(match reason {
                    RejectReason::RelayDenied => "relay_denied",
                    RejectReason::UnknownUser => "unknown_recipient",
                    RejectReason::OverQuota => "quota",
                    RejectReason::AliasLoop => "loop",
                    RejectReason::NoPostmasterMailbox => "temporary_failure",
                });
                return reply::reject(&reason);
            }
        };
        if let Some(txn) = &mut self.txn {
            txn.rcpts.push(AcceptedRcpt { address, target });
        }
        reply::RCPT_OK
    }

    async fn resolve(&self, to: ForwardPath) -> Result<(String, RcptOutcome), Reply> {
        let declared = self.txn.as_ref().and_then(|t| t.params.size);
        let router = &self.ctx.router;
        let (address, lookup) = match to {
            ForwardPath::Address(a) => (a.to_string(), router.resolve(&a, declared).await),
            ForwardPath::Postmaster => {
                let own = LocalPart::parse("postmaster")
                    .ok()
                    .zip(self.ctx.hostname_domain.clone());
                let own = own.map(|(l, d)| Address::new(l, d));
                let lookup = router.resolve_bare_postmaster(own.as_ref()).await;
                ("Postmaster".to_owned(), lookup)
            }
        };
        match lookup {
            Ok(outcome) => Ok((address, outcome)),
            Err(e) => {
                tracing::error!(peer = %self.peer, rcpt = %address, error = %e, "recipient lookup failed");
                Err(reply::LOCAL_ERROR)
            }
        }
    }
}

/// NOTIFY as the DSN extension spells it, to pass on with the queued recipient.
fn notify_param(params: &RcptParams) -> Option<String> {
    use hermod_proto::smtp::Notify;
    let notify = params.notify.as_ref()?;
    if notify.is_empty() {
        return Some("NEVER".into());
    }
    let names: Vec<&str> = notify
        .iter()
        .map(|n| match n {
            Notify::Success => "SUCCESS",
            Notify::Failure => "FAILURE",
            Notify::Delay => "DELAY",
        })
        .collect();
    Some(names.join(","))
}
