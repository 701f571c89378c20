//! The delivery pipeline: every way a message enters hermod (mail from other servers,
//! submission, bounces and delay notices, `hermod import`) ends here. It decides which
//! mailbox each local copy goes to and hands the body, the copies and the remote recipients
//! to the store in one commit, so a message is kept for every recipient or for none.
//!
//! This is where per-recipient decisions plug in: a Sieve script picks the folder and the
//! flags of its user's copy, a mailing list turns one recipient into its members, the bulk
//! guard holds what an account blasts. Each step sees the typed envelope, never SMTP.

use crate::LocalRecipient;
use crate::sieve::{Arrival, Edited, Outgoing, Parsed, SieveEngine, Verdict};
use hermod_store::{
    Delivered, DeliveryTarget, Flags, Mail, Outbound, OutboundRecipient, Result, SealedBlob,
    SpecialUse, Store, StoreError, UserId, UserRecord,
};
use hermod_types::{Address, MailboxName};
use std::sync::Arc;

/// Which of a user's mailboxes a copy goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folder {
    Inbox,
    /// The user's Junk mailbox (found by its special use, RFC 6154), for spam.
    Junk,
    /// The user's Sent mailbox, for the copy of what the user submitted.
    Sent,
    /// A mailbox by name (import, and later Sieve's `fileinto`); made if missing.
    Named(MailboxName),
}

/// One local copy: whose, where, with which flags.
#[derive(Debug, Clone)]
pub struct Copy {
    pub user: UserId,
    pub folder: Folder,
    pub flags: Flags,
    /// Set when the copy arrived as mail for the user: the user's Sieve filters decide it.
    pub filter: Option<Filter>,
}

/// What a user's filters need to know of the copy they decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The account's address (Sieve's envelope "to", and vacation's own address).
    pub address: String,
    /// The account's active script (store id).
    pub script: Option<i64>,
    /// The spam score and Junk threshold this recipient's copy was judged by, when the
    /// recipient's own lessons or own threshold judge it (`spamtest` must agree with the
    /// folder the copy went to); `None`: the message's, [`Arrived::spam`].
    pub spam: Option<(f64, f64)>,
}

/// A message and its envelope, as the pipeline takes it.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Local copies; two for one user in one mailbox are filed once.
    pub copies: Vec<Copy>,
    /// Recipients in other domains, for the outbound queue.
    pub outbound: Option<Outbound>,
    /// Seconds since the Unix epoch.
    pub internal_date: i64,
}

impl Envelope {
    /// A copy in `folder` for each local recipient (the usual inbound case).
    pub fn to_local(recipients: &[LocalRecipient], folder: Folder, internal_date: i64) -> Envelope {
        let copies = recipients
            .iter()
            .map(|r| Copy {
                user: r.user,
                folder: folder.clone(),
                flags: Flags::default(),
                filter: Some(Filter {
                    address: r.address.clone(),
                    script: r.sieve,
                    spam: None,
                }),
            })
            .collect();
        Envelope {
            copies,
            outbound: None,
            internal_date,
        }
    }
}

/// What the pipeline did: each local copy, and the queue entry of the remote recipients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub filed: Vec<Delivered>,
    pub queue_id: Option<i64>,
    /// Messages the filters queued (redirects, vacation replies).
    pub sent: usize,
}

/// Files `blob` for every local copy and queues it for the remote recipients, in one
/// commit. Returns once it is durable. Fails as a whole (e.g. `OverQuota`): nobody got it.
pub async fn deliver(mail: &dyn Mail, blob: SealedBlob, envelope: &Envelope) -> Result<Delivery> {
    let targets = targets(mail, envelope).await?;
    let submitted = mail
        .submit(blob, &targets, envelope.outbound.as_ref())
        .await?;
    Ok(Delivery {
        filed: submitted.delivered,
        queue_id: submitted.queue_id,
        sent: 0,
    })
}

/// How much of a message the filters read: larger ones are filtered on their beginning
/// (headers and the first of the body) and never redirected.
const FILTER_READ_MAX: usize = 8 * 1024 * 1024;

/// What the filters are told of how a message arrived.
#[derive(Debug, Clone, Default)]
pub struct Arrived<'a> {
    /// The envelope sender (`None`: `<>`).
    pub sender: Option<&'a str>,
    /// The spam score and the server's Junk threshold, when the filter scored the message
    /// (a recipient judged by their own has it in [`Filter::spam`]).
    pub spam: Option<(f64, f64)>,
}

/// Why a filtered delivery stored nothing.
#[derive(Debug)]
pub enum FilterRefusal {
    /// Every recipient's script rejected the message (`reject`, RFC 5429): the reason.
    Rejected(String),
    Store(StoreError),
}

impl From<StoreError> for FilterRefusal {
    fn from(e: StoreError) -> FilterRefusal {
        FilterRefusal::Store(e)
    }
}

/// [`deliver`], with each copy that arrived for a user first decided by the user's Sieve
/// filters (see [`crate::sieve`]): filed elsewhere or several times, flagged, discarded,
/// rejected, redirected, answered. What the filters send (redirects, vacation replies) is
/// queued before the copies are filed: a crash between the two can repeat a reply when the
/// client retries, never lose the message.
pub async fn deliver_filtered(
    store: &dyn Store,
    engine: &SieveEngine,
    blob: SealedBlob,
    envelope: &Envelope,
    arrived: &Arrived<'_>,
) -> Result<Delivery, FilterRefusal> {
    let filtered = |c: &Copy| c.filter.as_ref().is_some_and(|f| engine.applies(f.script));
    if !envelope.copies.iter().any(filtered) {
        return Ok(deliver(store, blob, envelope).await?);
    }
    let message = blob
        .read_head(FILTER_READ_MAX)
        .await
        .map_err(|e| StoreError::Io {
            path: "message body".into(),
            source: e,
        })?;
    let whole = message.len() as u64 == blob.size();
    let parsed = Parsed::new(&message);
    let mut decided = Envelope {
        copies: Vec::with_capacity(envelope.copies.len()),
        outbound: envelope.outbound.clone(),
        internal_date: envelope.internal_date,
    };
    let mut rejected = Vec::new();
    let mut outgoing = Vec::new();
    // Copies whose scripts edited the header (editheader): each version is a body of its own.
    let mut edited: Vec<(Edited, Vec<Copy>)> = Vec::new();
    for copy in &envelope.copies {
        let Some(filter) = copy.filter.as_ref().filter(|_| filtered(copy)) else {
            decided.copies.push(copy.clone());
            continue;
        };
        let arrival = Arrival {
            message: &parsed,
            sender: arrived.sender,
            recipient: &filter.address,
            user: copy.user,
            user_address: &filter.address,
            script: filter.script,
            keep: copy.folder.clone(),
            spam: filter.spam.or(arrived.spam),
        };
        let verdict = engine.run(store, &arrival).await;
        log_verdict(&filter.address, &verdict);
        if let Some(reason) = verdict.reject {
            rejected.push((filter.address.clone(), reason));
            continue;
        }
        for (folder, flags, version) in verdict.filed {
            let decided_copy = Copy {
                user: copy.user,
                folder,
                flags: merged(&copy.flags, flags),
                filter: None,
            };
            match version.filter(|_| whole) {
                Some(version) => match edited.iter_mut().find(|(v, _)| Arc::ptr_eq(v, &version)) {
                    Some((_, copies)) => copies.push(decided_copy),
                    None => edited.push((version, vec![decided_copy])),
                },
                None => decided.copies.push(decided_copy),
            }
        }
        outgoing.extend(
            verdict
                .outgoing
                .into_iter()
                .map(|o| (filter.address.clone(), o)),
        );
    }
    if !whole && !edited.is_empty() {
        tracing::info!("Sieve header edits ignored: the message is larger than the filters read");
    }
    let nothing_kept = decided.copies.is_empty() && decided.outbound.is_none() && edited.is_empty();
    if nothing_kept && let Some((_, reason)) = rejected.first() {
        return Err(FilterRefusal::Rejected(reason.clone()));
    }
    let mut sent = 0;
    if !rejected.is_empty() {
        sent += report_rejections(store, engine, &message, arrived, &rejected).await? as usize;
    }
    for (user_address, out) in outgoing {
        let sender = match &out {
            Outgoing::Reply { .. } => None,
            Outgoing::Redirect { .. } => engine.redirect_sender(arrived.sender, &user_address),
        };
        sent += send(store, &message, whole, sender, &user_address, out).await? as usize;
    }
    if nothing_kept {
        // Discarded by every script: nothing to store (the body goes with `blob`).
        return Ok(Delivery {
            sent,
            ..Delivery::default()
        });
    }
    let delivery = if edited.is_empty() {
        deliver(store, blob, &decided).await?
    } else {
        deliver_versions(store, blob, &decided, edited).await?
    };
    Ok(Delivery { sent, ..delivery })
}

/// [`deliver`] when some users' scripts edited the header: the arrival for the copies that
/// kept it as it came (and the remote recipients), each edited version for its copies, all
/// in one commit, so the message is still kept for every recipient or none.
async fn deliver_versions(
    store: &dyn Store,
    blob: SealedBlob,
    decided: &Envelope,
    edited: Vec<(Edited, Vec<Copy>)>,
) -> Result<Delivery> {
    let mut bodies = Vec::with_capacity(edited.len() + 1);
    if !decided.copies.is_empty() || decided.outbound.is_some() {
        bodies.push((blob, targets(store, decided).await?));
    }
    for (version, copies) in edited {
        let envelope = Envelope {
            copies,
            outbound: None,
            internal_date: decided.internal_date,
        };
        let (writer, _) = store.blob_writer()?.append(version.to_vec()).await?;
        bodies.push((writer.seal_async().await?, targets(store, &envelope).await?));
    }
    // Queued with the first body, which is the arrival whenever there is an outbound part.
    let submitted = store.submit_all(bodies, decided.outbound.as_ref()).await?;
    Ok(Delivery {
        filed: submitted.delivered,
        queue_id: submitted.queue_id,
        sent: 0,
    })
}

fn log_verdict(address: &str, verdict: &Verdict) {
    if let Some(failure) = &verdict.failure {
        tracing::warn!(user = address, failure, "Sieve failed; the message is kept");
    }
    // The folders' names are formatted only for a log that shows them.
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let folders: Vec<String> = verdict
        .filed
        .iter()
        .map(|(f, _, edited)| match edited {
            Some(_) => format!("{f:?} (edited)"),
            None => format!("{f:?}"),
        })
        .collect();
    tracing::debug!(
        user = address,
        ?folders,
        rejected = verdict.reject.is_some(),
        sent = verdict.outgoing.len(),
        "Sieve verdict"
    );
}

fn merged(base: &Flags, more: Flags) -> Flags {
    let mut flags = base.clone();
    flags.bits |= more.bits;
    for k in more.keywords {
        if !flags.keywords.contains(&k) {
            flags.keywords.push(k);
        }
    }
    flags
}

/// Queues one message a filter sends from `sender`: a redirect (the message with a
/// `Delivered-To:` that stops loops; skipped when this user already redirected it, or only
/// its beginning was read), or a vacation reply (from the null sender).
async fn send(
    store: &dyn Store,
    message: &[u8],
    whole: bool,
    sender: Option<String>,
    user_address: &str,
    out: Outgoing,
) -> Result<bool, StoreError> {
    let (to, content) = match out {
        Outgoing::Reply { to, message } => (to, message),
        Outgoing::Redirect { to, edited } => {
            let marker = format!("Delivered-To: {user_address}\r\n");
            if !whole || contains_header_line(message, &marker) {
                tracing::info!(
                    user = user_address,
                    to,
                    "Sieve redirect skipped (loop or size)"
                );
                return Ok(false);
            }
            let mut content = marker.into_bytes();
            content.extend_from_slice(edited.as_deref().map_or(message, |m| m.as_slice()));
            (to, content)
        }
    };
    let recipient = OutboundRecipient {
        address: to,
        notify: None,
        orcpt: None,
    };
    queue_one(store, sender, recipient, content).await?;
    Ok(true)
}

/// Some recipients' scripts rejected a message the others accepted, so the SMTP reply could
/// not say so: the sender gets a report (RFC 5429 2.1), but only for mail the spam filter
/// scored as clean, so a forged sender of spam never gets backscatter.
async fn report_rejections(
    store: &dyn Store,
    engine: &SieveEngine,
    message: &[u8],
    arrived: &Arrived<'_>,
    rejected: &[(String, String)],
) -> Result<bool, StoreError> {
    let clean = arrived.spam.is_some_and(|(score, junk)| score < junk);
    let Some(to) = arrived.sender.filter(|_| clean) else {
        tracing::info!(
            ?rejected,
            "Sieve rejects not reported (null sender or unscored mail)"
        );
        return Ok(false);
    };
    let diagnostics: Vec<String> = rejected
        .iter()
        .map(|(_, reason)| format!("550 5.7.1 Rejected by the recipient: {reason}"))
        .collect();
    let recipients: Vec<hermod_message::FailedRecipient<'_>> = rejected
        .iter()
        .zip(&diagnostics)
        .map(
            |((address, _), diagnostic)| hermod_message::FailedRecipient {
                address,
                orcpt: None,
                diagnostic,
                remote_mta: None,
            },
        )
        .collect();
    let report = hermod_message::Bounce {
        hostname: engine.hostname(),
        to,
        id: "sieve",
        envid: None,
        arrival: std::time::SystemTime::now(),
        recipients: &recipients,
        delayed: false,
        original_headers: hermod_message::header_section(message),
        original_full: None,
    }
    .render();
    // NOTIFY=NEVER: a report about a report is never sent.
    let recipient = OutboundRecipient {
        address: to.to_owned(),
        notify: Some("NEVER".into()),
        orcpt: None,
    };
    queue_one(store, None, recipient, report).await?;
    Ok(true)
}

/// Sends `content` to one recipient in its own commit: straight into the INBOX of a local
/// account (the relay would look up our own MX, and a machine without DNS for its domain
/// would keep a local sender's vacation reply deferred), else into the outbound queue.
async fn queue_one(
    store: &dyn Store,
    sender: Option<String>,
    recipient: OutboundRecipient,
    content: Vec<u8>,
) -> Result<(), StoreError> {
    let writer = store.blob_writer()?;
    let (writer, _) = writer.append(content).await?;
    let blob = writer.seal_async().await?;
    if let Some(user) = local_account(store, &recipient.address).await? {
        let target = DeliveryTarget {
            user: user.id,
            mailbox: MailboxName::inbox(),
            flags: Flags::default(),
            internal_date: hermod_message::unix_now(),
        };
        return match store.submit(blob, &[target], None).await {
            // A full mailbox refuses an automatic message; the mail that caused it stays.
            Err(StoreError::OverQuota(user)) => {
                tracing::info!(user, "a filter's message not filed: over quota");
                Ok(())
            }
            other => other.map(drop),
        };
    }
    let outbound = Outbound {
        sender,
        recipients: vec![recipient],
        envid: None,
        ret: None,
        smtputf8: false,
        held: None,
    };
    store.submit(blob, &[], Some(&outbound)).await?;
    Ok(())
}

/// The local account `address` names exactly, if any (aliases and plus-addresses go the
/// relay's way).
async fn local_account(store: &dyn Store, address: &str) -> Result<Option<UserRecord>, StoreError> {
    let Ok(address) = Address::parse(address) else {
        return Ok(None);
    };
    let lookup = store.lookup_address(&address).await?;
    Ok(lookup.user.filter(|_| lookup.local_domain))
}

/// Whether the header section holds exactly `line` (case-insensitive).
fn contains_header_line(message: &[u8], line: &str) -> bool {
    let head = hermod_message::header_section(message);
    head.split(|&b| b == b'\n')
        .any(|l| l.len() + 1 == line.len() && line.as_bytes()[..l.len()].eq_ignore_ascii_case(l))
}

/// The store's targets for the envelope's copies, each mailbox resolved.
pub async fn targets(mail: &dyn Mail, envelope: &Envelope) -> Result<Vec<DeliveryTarget>> {
    let mut targets: Vec<DeliveryTarget> = Vec::with_capacity(envelope.copies.len());
    for copy in &envelope.copies {
        let mailbox = mailbox_of(mail, copy.user, &copy.folder).await?;
        if targets
            .iter()
            .any(|t| t.user == copy.user && t.mailbox == mailbox)
        {
            continue;
        }
        targets.push(DeliveryTarget {
            user: copy.user,
            mailbox,
            flags: copy.flags.clone(),
            internal_date: envelope.internal_date,
        });
    }
    Ok(targets)
}

/// The mailbox a folder means for `user`. Junk and Sent are found by their special use,
/// never by name; a user without one gets it made under the usual name.
async fn mailbox_of(mail: &dyn Mail, user: UserId, folder: &Folder) -> Result<MailboxName> {
    let (special, fallback) = match folder {
        Folder::Inbox => return Ok(MailboxName::inbox()),
        Folder::Named(name) => return Ok(name.clone()),
        Folder::Junk => (SpecialUse::Junk, "Junk"),
        Folder::Sent => (SpecialUse::Sent, "Sent"),
    };
    if let Some(found) = mail.mailbox_by_special_use(user, special).await? {
        return Ok(found.name);
    }
    let name = MailboxName::parse(fallback).unwrap_or_else(|_| MailboxName::inbox());
    if mail.mailbox(user, &name).await?.is_none() {
        match mail.create_mailbox(user, &name, Some(special)).await {
            // Another delivery made it first.
            Ok(_) | Err(hermod_store::StoreError::MailboxExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermod_store::{BlockingStore, EmbeddedStore, MailStore};
    use hermod_types::{Address, Domain};

    fn body(store: &EmbeddedStore) -> SealedBlob {
        use std::io::Write;
        let mut writer = store.blob_writer().unwrap();
        writer.write_all(b"Subject: x\r\n\r\nx\r\n").unwrap();
        writer.seal().unwrap()
    }

    fn name(s: &str) -> MailboxName {
        MailboxName::parse(s).unwrap()
    }

    /// Junk is the mailbox with the Junk attribute, whatever it is called; without one, a
    /// Junk mailbox is made (with the attribute). One user's two copies in one mailbox are
    /// one.
    #[tokio::test]
    async fn junk_and_sent_are_found_by_attribute() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let sqlite = store.blocking();
        sqlite
            .add_domain(&Domain::parse("example.test").unwrap())
            .unwrap();
        let alice = sqlite
            .add_user(&Address::parse("alice@example.test").unwrap(), "h", None)
            .unwrap();
        let bob = sqlite
            .add_user(&Address::parse("bob@example.test").unwrap(), "h", None)
            .unwrap();
        sqlite
            .mailbox_rename(alice, &name("Junk"), &name("Pourriel"))
            .unwrap();
        sqlite.mailbox_delete(bob, &name("Junk")).unwrap();
        let copy = |user, folder| Copy {
            user,
            folder,
            flags: Flags::default(),
            filter: None,
        };
        let envelope = Envelope {
            copies: vec![
                copy(alice, Folder::Junk),
                copy(alice, Folder::Junk),
                copy(bob, Folder::Junk),
                copy(bob, Folder::Sent),
            ],
            outbound: None,
            internal_date: 1,
        };
        let delivery = deliver(&store, body(&store), &envelope).await.unwrap();
        assert_eq!(delivery.filed.len(), 3, "{delivery:?}");
        let count = |user, mailbox: &str| {
            let info = sqlite.mailbox_get(user, &name(mailbox)).unwrap().unwrap();
            sqlite.messages(info.id).unwrap().len()
        };
        assert_eq!(count(alice, "Pourriel"), 1);
        assert_eq!(count(bob, "Junk"), 1);
        assert_eq!(count(bob, "Sent"), 1);
        let junk = sqlite
            .mailbox_by_special_use(bob, SpecialUse::Junk)
            .unwrap()
            .unwrap();
        assert_eq!(junk.name, name("Junk"), "made with its attribute");
    }
}
