//! MAIL and RCPT: building the envelope of a transaction.

use super::Session;
use super::data::Spool;
use crate::reply::{self, Reply};
use hermod_core::{LocalRecipient, RcptOutcome};
use hermod_proto::smtp::{Body, ForwardPath, MailParams, ReversePath};
use hermod_types::{Address, LocalPart};
use tokio::io::{AsyncRead, AsyncWrite};

/// One accepted RCPT: the address as the client gave it, and the accounts it resolved to.
pub(crate) struct AcceptedRcpt {
    pub address: String,
    pub recipients: Vec<LocalRecipient>,
}

pub(crate) struct Transaction {
    pub from: ReversePath,
    pub params: MailParams,
    pub rcpts: Vec<AcceptedRcpt>,
    /// BDAT chunks received so far, when the client uses CHUNKING.
    pub chunks: Option<Spool>,
}

impl Transaction {
    pub fn sender(&self) -> Option<String> {
        match &self.from {
            ReversePath::Null => None,
            ReversePath::Address(a) => Some(a.to_string()),
        }
    }

    /// Every distinct account the message goes to.
    pub fn recipients(&self) -> Vec<LocalRecipient> {
        let mut all: Vec<LocalRecipient> = Vec::new();
        for r in self.rcpts.iter().flat_map(|r| &r.recipients) {
            if !all.iter().any(|a| a.user == r.user) {
                all.push(r.clone());
            }
        }
        all
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) fn mail(&mut self, from: ReversePath, params: MailParams) -> Reply {
        if self.helo.is_none() {
            return reply::NEED_HELO;
        }
        if self.txn.is_some() {
            return reply::NESTED_MAIL;
        }
        if params
            .size
            .is_some_and(|s| s > self.ctx.config.limits.max_message_size)
        {
            return reply::TOO_BIG;
        }
        if matches!(params.body, Some(Body::BinaryMime)) {
            return reply::unknown_parameter("BODY=BINARYMIME");
        }
        if let ReversePath::Address(a) = &from
            && !a.is_ascii()
            && !params.smtputf8
        {
            return reply::NEED_SMTPUTF8;
        }
        self.txn = Some(Transaction {
            from,
            params,
            rcpts: Vec::new(),
            chunks: None,
        });
        reply::SENDER_OK
    }

    pub(super) async fn rcpt(&mut self, to: ForwardPath) -> Reply {
        let Some(txn) = &self.txn else {
            return reply::NEED_MAIL;
        };
        if txn.rcpts.len() >= self.ctx.config.limits.max_recipients {
            return reply::TOO_MANY_RCPTS;
        }
        if let ForwardPath::Address(a) = &to
            && !a.is_ascii()
            && !txn.params.smtputf8
        {
            return reply::NEED_SMTPUTF8;
        }
        let declared = txn.params.size;
        let ctx = self.ctx.clone();
        let (address, lookup) = match to {
            ForwardPath::Address(a) => (
                a.to_string(),
                tokio::task::spawn_blocking(move || ctx.router.resolve(&a, declared)),
            ),
            ForwardPath::Postmaster => {
                let own = LocalPart::parse("postmaster")
                    .ok()
                    .zip(ctx.hostname_domain.clone());
                let own = own.map(|(l, d)| Address::new(l, d));
                let lookup = tokio::task::spawn_blocking(move || {
                    ctx.router.resolve_bare_postmaster(own.as_ref())
                });
                ("Postmaster".to_owned(), lookup)
            }
        };
        let outcome = match lookup.await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => {
                tracing::error!(peer = %self.peer, rcpt = %address, error = %e, "recipient lookup failed");
                return reply::LOCAL_ERROR;
            }
            Err(e) => {
                tracing::error!(error = %e, "recipient lookup task failed");
                return reply::LOCAL_ERROR;
            }
        };
        match outcome {
            RcptOutcome::Local(recipients) => {
                if let Some(txn) = &mut self.txn {
                    txn.rcpts.push(AcceptedRcpt {
                        address,
                        recipients,
                    });
                }
                reply::RCPT_OK
            }
            RcptOutcome::Reject(reason) => {
                tracing::info!(peer = %self.peer, rcpt = %address, ?reason, "recipient rejected");
                reply::reject(&reason)
            }
        }
    }
}
