//! One delivery's run of the script chain: the interpreter's events answered from the store
//! and collected into a [`Verdict`].

use super::{Chain, Parsed, ScriptError, SieveEngine};
use crate::pipeline::Folder;
use hermod_store::{Flags, SpecialUse, Store, UserId, is_valid_keyword};
use hermod_types::MailboxName;
use sieve::runtime::RuntimeError;
use sieve::{Envelope, Event, Input, Mailbox, Recipient, Runtime, SpamStatus};
use std::collections::HashMap;
use std::sync::Arc;

/// One local copy as it arrives: the message and its envelope for one recipient.
pub struct Arrival<'a> {
    /// The whole message, parsed.
    pub message: &'a Parsed<'a>,
    /// The envelope sender (`None`: the null sender `<>`).
    pub sender: Option<&'a str>,
    /// The envelope recipient this copy is for.
    pub recipient: &'a str,
    pub user: UserId,
    /// The account's own address (vacation never answers mail it sent itself).
    pub user_address: &'a str,
    /// The user's active script (store id), if any.
    pub script: Option<i64>,
    /// Where the copy goes when no script says otherwise (INBOX, or Junk by the spam verdict).
    pub keep: Folder,
    /// The spam score and the Junk threshold, for `spamtest`.
    pub spam: Option<(f64, f64)>,
}

/// A message as `editheader` (RFC 5293) left it, shared by the actions that took it.
pub type Edited = Arc<Vec<u8>>;

/// A message a run wants sent: a redirect of the arrival, or a reply it made (vacation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// The arrival to `to` (as the script's header edits left it, when it made any),
    /// envelope sender rewritten by the caller (SRS).
    Redirect { to: String, edited: Option<Edited> },
    /// A new message to `to` from the null sender (RFC 5230 5.4 / RFC 3834).
    Reply { to: String, message: Vec<u8> },
}

/// What the scripts decided for one copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Where to file the copy (several: `fileinto :copy`, or `keep` plus `fileinto`), and
    /// the message as the script's header edits left it when it made any (`None`: as it
    /// arrived); empty means discarded, or rejected when `reject` is set.
    pub filed: Vec<(Folder, Flags, Option<Edited>)>,
    /// `reject`/`ereject`: refuse the message with this reason.
    pub reject: Option<String>,
    pub outgoing: Vec<Outgoing>,
    /// Why the scripts did not run to the end (the copy then went to `keep`).
    pub failure: Option<String>,
}

impl Verdict {
    fn kept(keep: &Folder, failure: Option<String>) -> Verdict {
        Verdict {
            filed: vec![(keep.clone(), Flags::default(), None)],
            failure,
            ..Verdict::default()
        }
    }
}

impl SieveEngine {
    /// Runs the chain for one copy. Never fails: a broken script, a store error or a limit
    /// keeps the message (RFC 5228 2.10.6) and says why in `failure`.
    pub async fn run(&self, store: &dyn Store, arrival: &Arrival<'_>) -> Verdict {
        let chain = self.chain(store, arrival.user, arrival.script).await;
        if chain.scripts.is_empty() {
            return Verdict::kept(&arrival.keep, None);
        }
        match self.run_chain(store, arrival, chain).await {
            Ok(verdict) => verdict,
            Err(failure) => Verdict::kept(&arrival.keep, Some(failure)),
        }
    }

    async fn run_chain(
        &self,
        store: &dyn Store,
        arrival: &Arrival<'_>,
        chain: Chain,
    ) -> Result<Verdict, String> {
        let mut verdict = Verdict::default();
        let mut kept = false;
        let message = arrival.message.message(chain.reads_trace);
        for (name, script) in chain.scripts {
            let mut host = Host {
                store,
                arrival,
                created: HashMap::new(),
                verdict: &mut verdict,
                kept: &mut kept,
            };
            host.run(&self.runtime, &self.compiler, message, name, script)
                .await?;
            if verdict.reject.is_some() {
                verdict.filed.clear();
                break;
            }
        }
        Ok(verdict)
    }
}

/// The interpreter's host for one script run.
struct Host<'a, 'b> {
    store: &'a dyn Store,
    arrival: &'a Arrival<'b>,
    /// Messages the interpreter built, by its id: vacation replies, and the arrival as
    /// `addheader`/`deleteheader` changed it (each action names the version it takes).
    created: HashMap<usize, Edited>,
    verdict: &'a mut Verdict,
    kept: &'a mut bool,
}

impl Host<'_, '_> {
    async fn run(
        &mut self,
        runtime: &Runtime,
        compiler: &sieve::Compiler,
        message: &mail_parser::Message<'_>,
        name: String,
        script: Arc<sieve::Sieve>,
    ) -> Result<(), String> {
        let arrival = self.arrival;
        // Each run edits its own copy (editheader), so the shared parse is cloned, not lent.
        let mut context = runtime
            .filter_parsed(message.clone())
            .with_envelope(Envelope::From, arrival.sender.unwrap_or(""))
            .with_envelope(Envelope::To, arrival.recipient)
            .with_user_address(arrival.user_address)
            .with_spam_status(spam_status(arrival.spam));
        let mut input = Input::script(name, script);
        while let Some(event) = context.run(input) {
            input = match event {
                Ok(event) => self.answer(compiler, event).await?,
                Err(e) => return Err(describe(e)),
            };
        }
        Ok(())
    }

    /// The interpreter's next input, after acting on `event`.
    async fn answer(&mut self, compiler: &sieve::Compiler, event: Event) -> Result<Input, String> {
        let user = self.arrival.user;
        Ok(match event {
            Event::IncludeScript { name, optional } => {
                let sieve::Script::Personal(script_name) = &name else {
                    // No global script store: :global includes exist only as optional.
                    return if optional {
                        Ok(Input::False)
                    } else {
                        Err(format!("include of global script {name:?}: none exist"))
                    };
                };
                match self.store.sieve_get(user, script_name).await {
                    Ok(Some(text)) => match compiler.compile(&text) {
                        Ok(script) => Input::script(name, script),
                        Err(e) => return Err(format!("included script {script_name}: {e}")),
                    },
                    Ok(None) if optional => Input::False,
                    Ok(None) => return Err(format!("included script {script_name} not found")),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Event::MailboxExists {
                mailboxes,
                special_use,
            } => self.mailboxes_exist(&mailboxes, &special_use).await?.into(),
            Event::DuplicateId { id, expiry, last } => {
                let now = hermod_message::unix_now();
                let expiry = i64::try_from(expiry).unwrap_or(i64::MAX);
                self.store
                    .sieve_seen(user, &id, now, expiry, last)
                    .await
                    .map_err(|e| e.to_string())?
                    .into()
            }
            Event::ListContains { .. } | Event::Function { .. } => Input::False,
            Event::SetEnvelope { .. } | Event::Notify { .. } => Input::True,
            Event::Keep { flags, message_id } => {
                if !*self.kept {
                    *self.kept = true;
                    let folder = self.arrival.keep.clone();
                    let edited = self.version(message_id);
                    self.file(folder, &flags, edited);
                }
                Input::True
            }
            Event::Discard => Input::True,
            Event::Reject { reason, .. } => {
                self.verdict.reject = Some(reason);
                Input::True
            }
            Event::FileInto {
                folder,
                flags,
                special_use,
                create,
                message_id,
                ..
            } => {
                let target = self
                    .folder_for(&folder, special_use.as_deref(), create)
                    .await?;
                let edited = self.version(message_id);
                self.file(target, &flags, edited);
                Input::True
            }
            Event::CreatedMessage {
                message_id,
                message,
            } => {
                self.created.insert(message_id, Arc::new(message));
                Input::True
            }
            Event::SendMessage {
                recipient,
                message_id,
                notify,
                ..
            } => {
                // sieve-rs marks vacation's replies `Notify::Never`; a redirect can say that
                // only with redirect-dsn (RFC 6009), which hermod does not offer.
                let reply = matches!(
                    notify,
                    sieve::compiler::grammar::actions::action_redirect::Notify::Never
                );
                self.send(recipient, message_id, reply);
                Input::True
            }
        })
    }

    /// The arrival as edited up to the action naming `message_id` (0: as it arrived).
    fn version(&self, message_id: usize) -> Option<Edited> {
        (message_id != 0)
            .then(|| self.created.get(&message_id).cloned())
            .flatten()
    }

    /// Files into `folder`; a second action for one folder replaces the first's flags and
    /// version (the message is stored there once).
    fn file(&mut self, folder: Folder, flags: &[String], edited: Option<Edited>) {
        let flags = flags_of(flags);
        let filed = &mut self.verdict.filed;
        if let Some(existing) = filed.iter_mut().find(|(f, _, _)| *f == folder) {
            existing.1 = flags;
            existing.2 = edited;
        } else {
            filed.push((folder, flags, edited));
        }
    }

    fn send(&mut self, recipient: Recipient, message_id: usize, reply: bool) {
        let to = match recipient {
            Recipient::Address(to) => to,
            // List and group recipients come only from extensions hermod does not enable.
            Recipient::List(_) | Recipient::Group(_) => return,
        };
        if !reply {
            let edited = self.version(message_id);
            self.verdict
                .outgoing
                .push(super::Outgoing::Redirect { to, edited });
        } else if let Some(message) = self.created.remove(&message_id) {
            let message = Arc::unwrap_or_clone(message);
            self.verdict
                .outgoing
                .push(super::Outgoing::Reply { to, message });
        }
    }

    /// `fileinto`: into an existing mailbox, or one made for it with `:create` (RFC 5490);
    /// `:specialuse` (RFC 8579) prefers the user's mailbox with that attribute. A missing
    /// mailbox without `:create` is an error (RFC 5228 4.1), which keeps the message.
    async fn folder_for(
        &self,
        name: &str,
        special_use: Option<&str>,
        create: bool,
    ) -> Result<Folder, String> {
        if let Some(folder) = special_use.and_then(special_folder) {
            return Ok(folder);
        }
        let mailbox = MailboxName::parse(name).map_err(|e| format!("fileinto {name:?}: {e}"))?;
        if mailbox == MailboxName::inbox() {
            return Ok(Folder::Inbox);
        }
        // With `:create` the answer is the same either way: no store trip.
        if create {
            return Ok(Folder::Named(mailbox));
        }
        let exists = self
            .store
            .mailbox(self.arrival.user, &mailbox)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        if exists {
            Ok(Folder::Named(mailbox))
        } else {
            Err(format!("fileinto {name:?}: no such mailbox"))
        }
    }

    async fn mailboxes_exist(
        &self,
        mailboxes: &[Mailbox],
        special_use: &[String],
    ) -> Result<bool, String> {
        let user = self.arrival.user;
        for mailbox in mailboxes {
            let Mailbox::Name(name) = mailbox else {
                return Ok(false);
            };
            let Ok(name) = MailboxName::parse(name) else {
                return Ok(false);
            };
            let found = self.store.mailbox(user, &name).await;
            let Some(info) = found.map_err(|e| e.to_string())? else {
                return Ok(false);
            };
            let has_all = special_use
                .iter()
                .all(|u| special_use_of(u).is_some_and(|u| info.special_use == Some(u)));
            if !has_all {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn special_use_of(attribute: &str) -> Option<SpecialUse> {
    SpecialUse::parse(attribute)
}

/// The pipeline folders that are found by special use; other attributes go by name.
fn special_folder(attribute: &str) -> Option<Folder> {
    match special_use_of(attribute)? {
        SpecialUse::Junk => Some(Folder::Junk),
        SpecialUse::Sent => Some(Folder::Sent),
        _ => None,
    }
}

/// imap4flags names (`\Seen`, `$Label`) as the store's flags; invalid keywords are dropped.
fn flags_of(names: &[String]) -> Flags {
    let mut flags = Flags::default();
    for name in names {
        let bit = match name.to_ascii_lowercase().as_str() {
            "\\seen" => Flags::SEEN,
            "\\answered" => Flags::ANSWERED,
            "\\flagged" => Flags::FLAGGED,
            "\\deleted" => Flags::DELETED,
            "\\draft" => Flags::DRAFT,
            _ => 0,
        };
        if bit != 0 {
            flags.bits |= bit;
        } else if is_valid_keyword(name) && !flags.keywords.contains(name) {
            flags.keywords.push(name.clone());
        }
    }
    flags
}

/// hermod's score against the Junk threshold, as RFC 5235's scale: 1 clearly not spam, 10
/// at or past the threshold, between them in proportion.
fn spam_status(spam: Option<(f64, f64)>) -> SpamStatus {
    match spam {
        None => SpamStatus::Unknown,
        Some((score, threshold)) if score >= threshold => SpamStatus::Spam,
        Some((score, _)) if score <= 0.0 => SpamStatus::Ham,
        Some((score, threshold)) => SpamStatus::MaybeSpam((score / threshold).clamp(0.2, 0.9)),
    }
}

fn describe(error: RuntimeError) -> String {
    match error {
        RuntimeError::CPULimitReached => "the script ran past max_cpu".into(),
        RuntimeError::CapabilityNotAllowed(c) => format!("extension {c} is not available"),
        RuntimeError::CapabilityNotSupported(c) => format!("extension {c} is not supported"),
        other => other.to_string(),
    }
}

/// Runs `script` on an empty message, answering every question with "no": enough to meet
/// its `require`s, which is what the caller wants to know.
pub(super) fn dry_run(runtime: &Runtime, script: Arc<sieve::Sieve>) -> Result<(), ScriptError> {
    let message = b"From: <a@example.invalid>\r\nSubject: check\r\n\r\n\r\n";
    let mut context = runtime.filter(message);
    let mut input = Input::script("check", script);
    while let Some(event) = context.run(input) {
        input = match event {
            Ok(_) => Input::False,
            Err(RuntimeError::CapabilityNotAllowed(c)) => {
                return Err(ScriptError {
                    message: format!("extension {c} is not available on this server"),
                });
            }
            Err(RuntimeError::CapabilityNotSupported(c)) => {
                return Err(ScriptError {
                    message: format!("unknown extension {c}"),
                });
            }
            Err(_) => return Ok(()),
        };
    }
    Ok(())
}
