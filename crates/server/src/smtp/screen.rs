//! Inbound spam defence in the SMTP session: the connection screen before the greeting, the
//! HELO check, greylisting at RCPT, and the verdict on the finished message (sender
//! authentication plus content), which decides the fields written on top, the folder, or a
//! refusal at the end of DATA.

use super::spool::{Hold, Spool};
use super::{Mode, Session, Transaction};
use crate::net::conn::Fill;
use crate::reply::{self, Reply};
use crate::spam::{Content, Envelope, RecentVerdict, thresholds};
use hermod_config::CheckAction;
use hermod_message::unix_now;
use hermod_spam::{Action, Bayes, Hit, Model, Verdict, verdict};
use hermod_store::{GreylistState, UserId};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// What the session learned about its client, for the verdicts of its messages.
#[derive(Debug, Default)]
pub(crate) struct Screening {
    /// Spam checks apply (the smtp listener, filter on, client not authenticated).
    pub active: bool,
    pub allowlisted: bool,
    pub hits: Vec<Hit>,
    pub helo_hits: Vec<Hit>,
    /// The client's forward-confirmed reverse DNS name.
    pub rdns: Option<String>,
    /// The session was refused at connect: only QUIT is answered normally.
    pub refused: Option<String>,
}

/// What becomes of a message, decided once its fields were written.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub action: Action,
    pub refusal: Option<Refusal>,
    pub summary: String,
    /// The score and the server's Junk threshold (Sieve's `spamtest`).
    pub score: Option<(f64, f64)>,
    /// Local recipients with their own lessons (moving mail into and out of Junk) or their
    /// own Junk threshold: the verdict on their copy.
    pub personal: Vec<Personal>,
}

/// One recipient's own verdict on a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Personal {
    pub user: UserId,
    pub action: Action,
    /// The score with the user's lessons, and the user's Junk threshold.
    pub score: (f64, f64),
}

impl Decision {
    /// Whether `user`'s copy is filed into Junk: by the user's own verdict where there is
    /// one, else by the message's. (A message refused outright never gets here; one only a
    /// user's lessons would refuse was accepted for the others, and is that user's Junk.)
    pub fn junk_for(&self, user: UserId) -> bool {
        let action = self.own(user).map_or(self.action, |p| p.action);
        action != Action::Inbox
    }

    /// The score and Junk threshold `user`'s own verdict used, when the user has one; the
    /// same that [`Decision::junk_for`] filed by, so the user's `spamtest` agrees with it.
    pub fn own_score(&self, user: UserId) -> Option<(f64, f64)> {
        self.own(user).map(|p| p.score)
    }

    fn own(&self, user: UserId) -> Option<&Personal> {
        self.personal.iter().find(|p| p.user == user)
    }
}

/// Why the filter refuses a message; `reply.rs` words it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// The author's domain publishes DMARC `p=reject` and the message fails it.
    Dmarc(String),
    /// The score reached the reject threshold.
    Spam(f64),
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Before the greeting: lists, DNS block lists, reverse DNS, and talking too early.
    pub(super) async fn screen_connection(&mut self) -> std::io::Result<()> {
        if self.mode != Mode::Mx {
            return Ok(());
        }
        let ctx = self.ctx.clone();
        let spam = &ctx.config.spam;
        let outcome = ctx.spam.check_connection(spam, self.peer.ip()).await;
        self.screen = Screening {
            active: spam.enabled,
            allowlisted: outcome.allowlisted,
            hits: outcome.hits,
            helo_hits: Vec::new(),
            rdns: outcome.rdns,
            refused: outcome.refusal,
        };
        let watch = spam.enabled && spam.pregreet != CheckAction::Off && !outcome.allowlisted;
        if watch && self.screen.refused.is_none() && self.talks_first(spam.greet_delay).await? {
            match spam.pregreet {
                CheckAction::Reject => {
                    self.screen.refused = Some("talking before the greeting".into())
                }
                _ => self.screen.hits.push(verdict::check("PREGREET")),
            }
        }
        if let Some(reason) = &self.screen.refused {
            tracing::info!(peer = %self.peer, reason, "connection refused");
            // The block list and DNS block lists word their refusals "... list..."; the
            // others are the reverse DNS and pregreet checks.
            let listed = reason.contains("block list") || reason.contains("is listed by");
            crate::count_refusal(if listed {
                "blocklist"
            } else {
                "connection_check"
            });
        }
        Ok(())
    }

    /// Whether the client sent something before our greeting (waiting up to `delay`).
    async fn talks_first(&mut self, delay: Duration) -> std::io::Result<bool> {
        Ok(matches!(self.conn.fill(delay, false).await?, Fill::Data))
    }

    /// The HELO check; `Some` refuses the name.
    pub(super) fn screen_helo(&mut self, name: &str) -> Option<Reply> {
        self.screen.helo_hits.clear();
        let action = self.ctx.config.spam.helo;
        if !self.screen.active || self.screen.allowlisted || action == CheckAction::Off {
            return None;
        }
        let rule = hermod_spam::checks::helo_problem(name)?;
        if action == CheckAction::Reject {
            tracing::info!(peer = %self.peer, helo = name, rule, "HELO refused");
            crate::count_refusal("connection_check");
            return Some(reply::helo_refused(rule));
        }
        self.screen.helo_hits.push(verdict::check(rule));
        None
    }

    /// Greylisting of (client network, sender, recipient); `Some` asks the client to wait.
    pub(super) async fn greylist(&self, sender: &str, recipient: &str) -> Option<Reply> {
        let spam = &self.ctx.config.spam;
        if !spam.greylisting || !self.screening() || self.screen.allowlisted {
            return None;
        }
        let network = match hermod_types::canonical_ip(self.peer.ip()) {
            std::net::IpAddr::V4(v4) => {
                format!("{}/24", std::net::Ipv4Addr::from(u32::from(v4) & !0xff))
            }
            std::net::IpAddr::V6(v6) => {
                format!(
                    "{}/64",
                    std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))
                )
            }
        };
        let key = format!(
            "{network} {} {}",
            sender.to_lowercase(),
            recipient.to_lowercase()
        );
        let delay = spam.greylist_delay.as_secs() as i64;
        let state = self.ctx.store.greylist(&key, unix_now(), delay).await;
        match state {
            Ok(GreylistState::Wait(seconds)) => {
                tracing::info!(peer = %self.peer, triplet = key, "greylisted");
                Some(reply::greylisted(seconds.max(1)))
            }
            Ok(GreylistState::Passed) => {
                tracing::info!(peer = %self.peer, triplet = key, "greylisting passed");
                None
            }
            Ok(GreylistState::Known) => None,
            // A store problem must not hold mail up: let it through.
            Err(e) => {
                tracing::warn!(error = %e, "greylist lookup failed; accepting");
                None
            }
        }
    }

    /// Whether this message gets the spam checks (inbound, unauthenticated).
    fn screening(&self) -> bool {
        self.mode == Mode::Mx && self.user.is_none() && self.screen.active
    }

    /// How the spool holds content: inbound mail whole up to the scan limit (or only its
    /// header, to drop forged results, when the filter is off).
    pub(super) fn spool_hold(&self) -> Hold {
        let config = &self.ctx.config;
        if self.user.is_some() {
            return Hold::Fixup(config.hostname.clone());
        }
        let limit = if self.screening() {
            config.spam.max_scan_size as usize
        } else {
            0
        };
        Hold::Scan {
            limit,
            authserv_id: config.hostname.clone(),
        }
    }

    /// Content beyond the scan limit: the verdict without it, and the fields written now.
    pub(super) async fn release_unscanned(&self, spool: &mut Spool, txn: &mut Transaction) {
        if !spool.over_scan_limit() {
            return;
        }
        if !self.screening() {
            spool.release("");
            return;
        }
        let (decision, fields) = self.judge(txn, None).await;
        spool.release(&fields);
        txn.decision = Some(decision);
    }

    /// The finished message: its verdict (unless already decided) and its fields written.
    pub(super) async fn decide(
        &self,
        spool: &mut Spool,
        txn: &mut Transaction,
    ) -> Option<Decision> {
        if let Some(decision) = txn.decision.clone() {
            return Some(decision);
        }
        if !self.screening() {
            spool.release("");
            return None;
        }
        let content = spool.held().map(<[u8]>::to_vec);
        let (decision, fields) = self.judge(txn, content).await;
        spool.release(&fields);
        Some(decision)
    }

    /// Sender authentication and content scan: the decision and the fields to add.
    async fn judge(&self, txn: &Transaction, content: Option<Vec<u8>>) -> (Decision, String) {
        let spam = &self.ctx.config.spam;
        let helo = self.helo.as_ref().map_or("", |h| h.name.as_str());
        let envelope = Envelope {
            ip: self.peer.ip(),
            helo,
            mail_from: txn.sender_str().unwrap_or_default(),
            hostname: &self.ctx.config.hostname,
        };
        let auth = self
            .ctx
            .spam
            .authenticate_in_time(&envelope, content.as_deref())
            .await;
        let local = txn.recipients();
        let users: Vec<UserId> = local.iter().map(|r| r.user).collect();
        let kept: Option<Arc<[u8]>> = content
            .as_deref()
            .filter(|c| c.len() <= crate::spam::recent::KEEP_MESSAGE_UP_TO)
            .map(Arc::from);
        let (mut verdict, read, own) = match content {
            Some(raw) => self.scan_content(raw, users).await,
            None => (skipped(), Content::default(), Vec::new()),
        };
        let recipients = local.iter().map(|r| r.address.clone()).collect();
        let now = self.ctx.sending.clock.now();
        let bulk = &self.ctx.config.bulk;
        let spam_filter = &self.ctx.spam;
        let duplicate = spam_filter.bulk_duplicate(bulk, &read, &auth.dkim_pass, recipients, now);
        verdict.hits.extend(duplicate.await);
        verdict.exempt = self.screen.allowlisted;
        verdict.hits.extend(self.screen.hits.iter().cloned());
        verdict.hits.extend(self.screen.helo_hits.iter().cloned());
        verdict.hits.extend(auth.hits);
        let limits = thresholds(spam);
        let action = verdict.action(limits);
        let known = self.known_to(auth.author.as_deref(), &local).await;
        let personal = personal_actions(&verdict, limits, &local, own, &known);
        hermod_types::metrics::metrics()
            .spam_verdicts
            .inc(match action {
                Action::Inbox => "ham",
                Action::Junk => "junk",
                Action::Reject => "reject",
            });
        let refusal = match (&auth.dmarc_reject, action) {
            (Some(why), _) if spam.dmarc_reject && !verdict.exempt => {
                Some(Refusal::Dmarc(why.clone()))
            }
            (_, Action::Reject) => Some(Refusal::Spam(verdict.score())),
            _ => None,
        };
        let summary = format!("score={} {}", verdict.score(), verdict.reasons());
        self.remember(txn, &verdict, refusal.is_some(), action, kept);
        let fields = auth.field + &verdict.header_fields(limits);
        (
            Decision {
                action,
                refusal,
                summary,
                score: Some((verdict.score(), limits.junk)),
                personal,
            },
            fields,
        )
    }

    /// Which local recipients have written to `author` (the authenticated `From:` address):
    /// their copies score `KNOWN_SENDER`. A store problem only loses the bonus.
    async fn known_to(
        &self,
        author: Option<&str>,
        recipients: &[hermod_core::LocalRecipient],
    ) -> Vec<UserId> {
        let Some(author) = author.filter(|_| self.ctx.config.spam.known_senders) else {
            return Vec::new();
        };
        let users: Vec<UserId> = recipients.iter().map(|r| r.user).collect();
        match self.ctx.store.correspondents_of(author, &users).await {
            Ok(known) => {
                if !known.is_empty() {
                    tracing::info!(author, recipients = known.len(), "known sender");
                }
                known
            }
            Err(e) => {
                tracing::warn!(error = %e, "known senders: lookup failed");
                Vec::new()
            }
        }
    }

    /// Keeps the verdict for the web interface's spam page.
    fn remember(
        &self,
        txn: &Transaction,
        verdict: &Verdict,
        refused: bool,
        action: Action,
        message: Option<Arc<[u8]>>,
    ) {
        self.ctx.spam.recent.record(RecentVerdict {
            id: 0,
            time: unix_now(),
            client: self.peer.ip().to_string(),
            sender: txn.sender_str().unwrap_or_default().to_owned(),
            recipients: txn
                .recipients()
                .iter()
                .map(|r| r.address.to_string())
                .collect(),
            score: verdict.score(),
            reasons: verdict.reasons(),
            action: match (refused, action) {
                (true, _) => "rejected",
                (false, Action::Inbox) => "inbox",
                (false, _) => "junk",
            },
            message,
        });
    }

    /// Rules and the classifier, off the async threads (parsing a large message takes a
    /// while); from the same parse, what the inbound bulk rule needs. Each of `users` who
    /// has taught the filter also gets the classifier's answer with their own lessons on top
    /// of the server's.
    async fn scan_content(
        &self,
        raw: Vec<u8>,
        users: Vec<UserId>,
    ) -> (Verdict, Content, Vec<(UserId, Option<f64>)>) {
        let model = self.ctx.spam.model().await;
        let personal = self.ctx.spam.personal_models(&users).await;
        let (users, models): (Vec<UserId>, Vec<Arc<Model>>) = users
            .into_iter()
            .zip(personal)
            .filter_map(|(user, model)| Some((user, model?)))
            .unzip();
        let now = unix_now();
        let scanned = tokio::task::spawn_blocking(move || {
            let models: Vec<&Model> = models.iter().map(|m| &**m).collect();
            let message = hermod_spam::parse(&raw);
            let (verdict, own) = hermod_spam::scan_message(message.as_ref(), &model, &models, now);
            let read = message.as_ref().map(Content::of).unwrap_or_default();
            (verdict, read, own)
        });
        match scanned.await {
            Ok((verdict, read, own)) => (verdict, read, users.into_iter().zip(own).collect()),
            Err(_) => (skipped(), Content::default(), Vec::new()),
        }
    }
}

/// Each local recipient with their own lessons (their Bayesian counts), their own Junk
/// threshold, or who wrote to the author (`known`): that recipient's verdict, whether or
/// not it differs from the server's.
fn personal_actions(
    verdict: &Verdict,
    limits: hermod_spam::Thresholds,
    recipients: &[hermod_core::LocalRecipient],
    own_bayes: Vec<(UserId, Option<f64>)>,
    known: &[UserId],
) -> Vec<Personal> {
    let mut personal = Vec::new();
    for recipient in recipients {
        let taught = own_bayes.iter().find(|(user, _)| *user == recipient.user);
        let knows_author = known.contains(&recipient.user);
        if taught.is_none() && recipient.junk_threshold.is_none() && !knows_author {
            continue;
        }
        let limits = limits.with_own_junk(recipient.junk_threshold);
        let mut relearned = None;
        if let Some(&(_, probability)) = taught {
            relearned = Some(verdict.with_bayes(probability));
        }
        if knows_author {
            let own = relearned.get_or_insert_with(|| verdict.clone());
            own.hits.push(hermod_spam::verdict::check("KNOWN_SENDER"));
        }
        let own = relearned.as_ref().unwrap_or(verdict);
        personal.push(Personal {
            user: recipient.user,
            action: own.action(limits),
            score: (own.score(), limits.junk),
        });
    }
    personal
}

fn skipped() -> Verdict {
    Verdict {
        hits: Vec::new(),
        bayes: Bayes::Skipped,
        exempt: false,
        calibration: Default::default(),
    }
}
