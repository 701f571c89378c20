//! What limits an account's sending: a frozen account, the per-hour and per-day limits of
//! messages and recipients, and the bulk guard on the finished message (which holds copies
//! of one text sent to too many addresses, and freezes the account past a second threshold).

use super::{Session, Transaction};
use crate::reply::{self, Reply};
use hermod_config::Config;
use hermod_core::bulk::{self, ContentPrint, GuardPolicy, Verdict};
use hermod_core::rates::{Clock, RateLimits, SendRates, SystemClock};
use hermod_spam::fingerprint::{Fingerprint, MIN_EQUAL};
use hermod_store::UserRecord;
use hermod_types::Address;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// The sending limits every session shares.
pub(crate) struct Sending {
    pub rates: SendRates,
    /// `None`: the guard is off (`[bulk] guard = false`).
    pub guard: Option<GuardPolicy>,
    /// What the limits and the guard take as now; tests move it.
    pub clock: Arc<dyn Clock>,
}

impl Sending {
    pub fn new(config: &Config) -> Sending {
        let sub = &config.submission;
        let bulk = &config.bulk;
        Sending {
            rates: SendRates::new(RateLimits {
                messages_per_hour: sub.max_messages_per_hour,
                messages_per_day: sub.max_messages_per_day,
                recipients_per_hour: sub.max_recipients_per_hour,
                recipients_per_day: sub.max_recipients_per_day,
            }),
            guard: bulk.guard.then_some(GuardPolicy {
                hold_after: bulk.hold_after,
                freeze_after: bulk.freeze_after,
                window: bulk.window.as_secs() as i64,
            }),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What the guard decided for a finished message, to act on once it is stored.
pub(super) struct Guarded {
    /// The reason the external copy is queued held, if it is.
    pub held: Option<String>,
    /// The account and postmaster are to be told this.
    pub notice: Option<String>,
    /// The account is to be frozen with this reason.
    pub freeze: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// At MAIL: a frozen account sends nothing; then the message limits. The account is
    /// read again (a freeze from another session or the CLI applies at once).
    pub(super) async fn check_sending(&self, user: &UserRecord) -> Option<Reply> {
        let fresh = match Address::parse(&user.address) {
            Ok(address) => self.ctx.store.user(&address).await,
            Err(_) => return Some(reply::LOCAL_ERROR),
        };
        match fresh {
            Ok(Some(record)) if record.frozen.is_some() => {
                let reason = record.frozen.unwrap_or_default();
                tracing::warn!(
                    user = user.address,
                    reason,
                    "submission refused: account frozen"
                );
                crate::count_refusal("bulk");
                return Some(reply::ACCOUNT_FROZEN);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                return Some(reply::LOCAL_ERROR);
            }
        }
        let now = self.ctx.sending.clock.now();
        if let Err(limit) = self.ctx.sending.rates.check_message(user.id, now) {
            tracing::warn!(user = user.address, %limit, key = limit.key(), "sending limit reached");
            crate::count_refusal("rate_limit");
            return Some(reply::rate_limited(&limit));
        }
        None
    }

    /// At RCPT: whether one more recipient keeps the account within its recipient limits.
    pub(super) fn check_recipient_rate(&self, accepted: usize) -> Option<Reply> {
        let user = self.user.as_ref()?;
        let now = self.ctx.sending.clock.now();
        let wanted = u32::try_from(accepted + 1).unwrap_or(u32::MAX);
        let limit = self
            .ctx
            .sending
            .rates
            .check_recipients(user.id, now, wanted)
            .err()?;
        tracing::warn!(user = user.address, %limit, key = limit.key(), "sending limit reached");
        crate::count_refusal("rate_limit");
        Some(reply::rate_limited(&limit))
    }

    /// The bulk guard on a finished submission (`head`: the start of its content as the
    /// client sent it). `None` for mail that is not an account's, or when the guard is off.
    pub(super) async fn guard(
        &self,
        head: Vec<u8>,
        txn: &Transaction,
    ) -> Result<Option<Guarded>, Reply> {
        let (Some(user), Some(policy)) = (&self.user, &self.ctx.sending.guard) else {
            return Ok(None);
        };
        let external: Vec<String> = txn
            .remote_recipients()
            .into_iter()
            .map(|r| r.address.to_lowercase())
            .collect();
        if external.is_empty() {
            return Ok(None);
        }
        let print = tokio::task::spawn_blocking(move || Fingerprint::of(&head))
            .await
            .ok()
            .flatten()
            .map(|f| ContentPrint {
                signature: f.to_bytes(),
                bands: f.bands(),
                min_equal: MIN_EQUAL,
                label: f.label(),
            });
        let now = self.ctx.sending.clock.now();
        let store = self.ctx.store.as_ref();
        let verdict = bulk::judge(store, policy, user, print.as_ref(), &external, now).await;
        let verdict = verdict.map_err(|e| {
            tracing::error!(error = %e, "bulk guard: counting failed");
            reply::LOCAL_ERROR
        })?;
        Ok(Some(match verdict {
            Verdict::Pass => Guarded {
                held: None,
                notice: None,
                freeze: None,
            },
            Verdict::Hold { reason, first } => Guarded {
                notice: first.then(|| format!("Outgoing mail was held: {reason}.")),
                held: Some(reason),
                freeze: None,
            },
            Verdict::Freeze { reason } => Guarded {
                held: Some(reason.clone()),
                notice: None,
                freeze: Some(reason),
            },
        }))
    }

    /// Remembers whom the account wrote to outside (`[spam] known_senders`): their mail to
    /// it scores `KNOWN_SENDER`. Not for mail the bulk guard held: a blast's addresses are
    /// no one's correspondents.
    fn note_correspondents(&self, user: &UserRecord, txn: &Transaction, now: i64) {
        if !self.ctx.config.spam.known_senders {
            return;
        }
        let mut remote: Vec<String> = (txn.remote_recipients().into_iter())
            .map(|r| r.address.to_lowercase())
            .collect();
        if remote.is_empty() {
            return;
        }
        remote.sort_unstable();
        remote.dedup();
        // Not awaited: the client's 250 does not wait for a write that only helps later
        // mail (a crash in between forgets these correspondents, nothing else).
        let (store, id, address) = (self.ctx.store.clone(), user.id, user.address.clone());
        tokio::spawn(async move {
            if let Err(e) = store.correspondents_note(id, &remote, now).await {
                tracing::warn!(user = address, error = %e, "known senders: not recorded");
            }
        });
    }

    /// After the message is stored: counts it against the limits, freezes the account and
    /// sends the notices the guard asked for. Failures here are logged: the mail is safe.
    pub(super) async fn after_sending(&self, txn: &Transaction, guarded: Option<Guarded>) {
        let Some(user) = &self.user else {
            return;
        };
        let now = self.ctx.sending.clock.now();
        let recipients = u32::try_from(txn.rcpts.len()).unwrap_or(u32::MAX);
        self.ctx.sending.rates.record(user.id, now, recipients);
        if guarded.as_ref().is_none_or(|g| g.held.is_none()) {
            self.note_correspondents(user, txn, now);
        }
        let Some(guarded) = guarded else {
            return;
        };
        let mut notice = guarded.notice;
        if let Some(reason) = guarded.freeze {
            let frozen = match Address::parse(&user.address) {
                Ok(address) => self.ctx.store.set_frozen(&address, Some(&reason)).await,
                Err(e) => Err(hermod_store::StoreError::Corrupt(e.to_string())),
            };
            match frozen {
                Ok(true) => {
                    tracing::warn!(user = user.address, reason, "bulk guard: account frozen");
                    notice = Some(format!(
                        "The account's submission is frozen until an administrator runs \
                         `hermod user unfreeze {}`: {reason}.",
                        user.address
                    ));
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "bulk guard: freezing failed"),
            }
        }
        let Some(what) = notice else {
            return;
        };
        let (hostname, router) = (&self.ctx.config.hostname, &self.ctx.router);
        let mail = self.ctx.store.as_ref();
        if let Err(e) = bulk::notify(mail, router, hostname, user, &what, now).await {
            tracing::error!(
                user = user.address,
                error = e,
                "bulk guard: the notice was not filed"
            );
        }
    }
}
