//! Mailing lists: which recipient addresses belong to a list, and what mail to them does.
//!
//! A list `team@d` answers at `team@d` (posts), `team-request@d` (commands in the subject or
//! first body line), `team+subscribe@d`, `team+unsubscribe@d`, `team+confirm-TOKEN@d`
//! (answers to confirmations) and `team+bounce-MEMBER@d` (the VERP envelope sender of each
//! remote member's copy, so a bounce names who bounced). Routing finds them
//! ([`ListRcpt`]); [`ListEngine::receive`] acts once the message is on hand.
//!
//! A post's local copies go through the delivery pipeline (so members' Sieve scripts and
//! the Junk verdict apply); each remote member gets its own queue entry with a VERP sender.
//! None of it passes through submission, so the bulk guard never counts it.

mod commands;
mod oneclick;
mod post;
mod rate;
mod suspended;
mod text;

use crate::pipeline;
use crate::sieve::SieveEngine;
use crate::{RcptOutcome, RejectReason, Router};
use hermod_store::{ListPost, ListRecord, Outbound, OutboundRecipient, Result, Store};
use hermod_types::Address;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use oneclick::{ONE_CLICK_PATH, OneClick, OneClickOutcome};
pub use post::author_of;
pub use rate::PostingRate;

/// A recipient that is one of a list's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRcpt {
    pub list: ListRecord,
    pub kind: ListKind,
}

/// Which of a list's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    Post,
    /// `LIST-request@`: `subscribe`, `unsubscribe`, `help`, `confirm TOKEN`.
    Request,
    Subscribe,
    Unsubscribe,
    Confirm(String),
    /// A bounce of the copy sent to this member (normalized address; empty: the local
    /// copies' bounce address, which names nobody).
    Bounce(String),
}

/// The list addresses `address` (normalized) could be, most specific last: the list itself,
/// `-request`, and `+command` forms. Routing asks the store for each.
pub fn candidates(address: &str) -> Vec<(String, ListKind)> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Vec::new();
    };
    let mut out = vec![(address.to_owned(), ListKind::Post)];
    if let Some(base) = local.strip_suffix("-request") {
        out.push((format!("{base}@{domain}"), ListKind::Request));
    }
    if let Some((base, detail)) = local.split_once('+') {
        let kind = match detail {
            "subscribe" => Some(ListKind::Subscribe),
            "unsubscribe" => Some(ListKind::Unsubscribe),
            // The Return-Path of local copies: what comes back there names nobody.
            "bounce" => Some(ListKind::Bounce(String::new())),
            _ => detail
                .strip_prefix("confirm-")
                .map(|t| ListKind::Confirm(t.to_owned()))
                .or_else(|| detail.strip_prefix("bounce-").and_then(verp_member)),
        };
        if let Some(kind) = kind {
            out.push((format!("{base}@{domain}"), kind));
        }
    }
    out
}

fn verp_member(encoded: &str) -> Option<ListKind> {
    let (local, domain) = encoded.rsplit_once('=')?;
    let member = Address::parse(&format!("{local}@{domain}")).ok()?;
    Some(ListKind::Bounce(member.normalized()))
}

/// The envelope sender of `member`'s copy: `team+bounce-bob=remote.test@d`. A member whose
/// address cannot be spelled so (a quoted local part) gets the plain list address's bounce
/// address, which counts nothing.
pub fn verp_sender(list: &ListRecord, member: &str) -> String {
    let plain = format!("{}+bounce@{}", list.local(), list.domain());
    let Some((local, domain)) = member.rsplit_once('@') else {
        return plain;
    };
    let verp = format!("{}+bounce-{local}={domain}@{}", list.local(), list.domain());
    match Address::parse(&verp) {
        Ok(a) if a.local().as_str().len() <= 64 && !verp.contains('"') => verp,
        _ => plain,
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether a domain asks receivers to quarantine or reject mail failing DMARC (then a post's
/// `From:` in that domain is rewritten to the list's, since the list's copies cannot pass).
pub trait DmarcPolicy: Send + Sync {
    fn strict<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, bool>;
}

/// What lists need from the configuration, and the DNS the DMARC rewrite asks.
pub struct ListEngine {
    pub hostname: String,
    /// Bounces after which a member is suspended.
    pub suspend_after: u32,
    /// Seconds a member stays suspended before it is removed (0: until the owner acts).
    pub remove_suspended_after: i64,
    /// Seconds a confirmation token stays valid.
    pub confirm_expiry: i64,
    pub dmarc: Option<Arc<dyn DmarcPolicy>>,
    /// One-click unsubscribe links in members' copies (`None`: the mailto address only).
    pub one_click: Option<OneClick>,
    /// Each list's posts per hour and day.
    pub posting: PostingRate,
}

/// How a message reached a list address.
#[derive(Debug, Clone, Copy)]
pub struct ListArrival<'a> {
    /// The whole message.
    pub message: &'a [u8],
    /// The envelope sender (`None`: `<>`).
    pub sender: Option<&'a str>,
    /// The local account that submitted it, when it came by authenticated submission.
    pub authenticated: Option<&'a str>,
    /// The spam verdict said Junk: a post is held for the moderators instead of sent.
    pub junk: bool,
    /// The spam score and the Junk threshold, for members' Sieve scripts.
    pub spam: Option<(f64, f64)>,
}

/// What became of a message to a list address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOutcome {
    /// Distributed to this many members' copies.
    Distributed(usize),
    /// Held for the moderators (the id of the held post).
    Held(i64),
    /// Dropped on purpose (a loop, an auto-reply, a stray bounce): why.
    Dropped(&'static str),
    /// A command done (subscribe, confirm, ...), or a bounce counted.
    Handled,
    /// The list refuses the post (non-member, per setting): the reason, for the SMTP reply.
    Refused(String),
    /// Not now: the list reached its posting rate (which one); the sender retries later.
    Deferred(String),
}

/// The store, the filters and the router a list delivers through.
#[derive(Clone, Copy)]
pub struct ListDeps<'a> {
    pub store: &'a dyn Store,
    pub sieve: &'a SieveEngine,
    pub router: &'a Router,
}

impl ListEngine {
    /// Acts on a message that arrived for one of a list's addresses. Everything it sends or
    /// files is durable when it returns.
    pub async fn receive(
        &self,
        deps: ListDeps<'_>,
        rcpt: &ListRcpt,
        arrival: &ListArrival<'_>,
    ) -> Result<ListOutcome> {
        let list = &rcpt.list;
        match &rcpt.kind {
            ListKind::Post => self.post(deps, list, arrival).await,
            ListKind::Request => self.request(deps, list, arrival).await,
            ListKind::Subscribe => {
                let command = commands::Command::Subscribe;
                self.command(deps, list, arrival, command).await
            }
            ListKind::Unsubscribe => {
                let command = commands::Command::Unsubscribe;
                self.command(deps, list, arrival, command).await
            }
            ListKind::Confirm(token) => self.confirm(deps, list, token, arrival).await,
            ListKind::Bounce(member) => self.bounce(deps, list, member, arrival).await,
        }
    }
}

/// Moderation (`hermod list approve|reject`).
impl ListEngine {
    /// A moderator's approval: the held post goes to the members as a post allowed on
    /// arrival would. It is distributed before it leaves the held posts, so a crash in
    /// between can send it twice, never lose it. `None`: no such held post.
    pub async fn approve(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        id: i64,
    ) -> Result<Option<usize>> {
        let held = deps.store.list_held(list.id, true).await?;
        let Some(post) = held.into_iter().find(|p| p.id == id) else {
            return Ok(None);
        };
        let copies = self.distribute(deps, list, &post.content, None).await?;
        deps.store.list_take_held(list.id, id).await?;
        tracing::info!(list = list.address, id, copies, "held post approved");
        Ok(Some(copies))
    }

    /// A moderator's rejection. With a reason, the post's sender is told (without one,
    /// nothing is sent: a held post is often spam, whose sender is forged). `None`: no such
    /// held post.
    pub async fn reject(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        id: i64,
        reason: Option<&str>,
    ) -> Result<Option<ListPost>> {
        let store = deps.store;
        let Some(post) = store.list_take_held(list.id, id).await? else {
            return Ok(None);
        };
        if let (Some(reason), Some(sender)) = (reason, post.sender.as_deref()) {
            let subject = format!("{}: your post was not accepted", list.address);
            let body = format!(
                "Your post to {} (\"{}\") was rejected by a moderator:\n\n{reason}\n",
                list.address, post.subject
            );
            let notice = text::notice(&self.hostname, list, sender, &subject, &[], &body);
            send(deps, sender, notice).await?;
        }
        tracing::info!(list = list.address, id, "held post rejected");
        Ok(Some(post))
    }
}

/// Sends a message the list wrote (a notice, a confirmation) from the null sender: filed
/// at once for a local account, queued for anyone else. Never to a list (no list writes
/// to another).
pub(crate) async fn send(deps: ListDeps<'_>, to: &str, content: Vec<u8>) -> Result<()> {
    let Ok(address) = Address::parse(to) else {
        tracing::warn!(to, "list notice to an invalid address dropped");
        return Ok(());
    };
    match deps.router.resolve(&address, None).await? {
        RcptOutcome::Local(recipients) => {
            let now = hermod_message::unix_now();
            let envelope = pipeline::Envelope::to_local(&recipients, pipeline::Folder::Inbox, now);
            let (writer, _) = deps.store.blob_writer()?.append(content).await?;
            let blob = writer.seal_async().await?;
            pipeline::deliver(deps.store, blob, &envelope).await?;
        }
        RcptOutcome::Reject(RejectReason::RelayDenied) => {
            queue_one(deps.store, None, to, content).await?;
        }
        RcptOutcome::Forward(original) => {
            queue_one(deps.store, None, &original, content).await?;
        }
        other => tracing::warn!(to, ?other, "list notice not deliverable; dropped"),
    }
    Ok(())
}

/// Queues `content` for one recipient from `sender` (`None`: the null sender) in a commit of
/// its own.
pub(crate) async fn queue_one(
    store: &dyn Store,
    sender: Option<String>,
    to: &str,
    content: Vec<u8>,
) -> Result<i64> {
    let (writer, _) = store.blob_writer()?.append(content).await?;
    let blob = writer.seal_async().await?;
    let outbound = Outbound {
        sender,
        recipients: vec![OutboundRecipient {
            address: to.to_owned(),
            notify: None,
            orcpt: None,
        }],
        envid: None,
        ret: None,
        smtputf8: false,
        held: None,
    };
    let submitted = store.submit(blob, &[], Some(&outbound)).await?;
    Ok(submitted.queue_id.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermod_store::{ListMode, ListSettings};

    fn team() -> ListRecord {
        ListRecord {
            id: 1,
            address: "team@example.test".into(),
            settings: ListSettings {
                owner: "o@example.test".into(),
                mode: ListMode::Discussion,
                moderated: false,
                refuse_non_members: false,
                archive: false,
            },
        }
    }

    #[test]
    fn list_addresses_are_recognised() {
        let kinds = |a: &str| -> Vec<(String, ListKind)> { candidates(a) };
        assert_eq!(kinds("team@example.test")[0].1, ListKind::Post);
        assert_eq!(
            kinds("team-request@example.test")[1],
            ("team@example.test".into(), ListKind::Request)
        );
        assert_eq!(
            kinds("team+confirm-abc@example.test")[1],
            ("team@example.test".into(), ListKind::Confirm("abc".into()))
        );
        assert_eq!(
            kinds("team+bounce-bob=remote.test@example.test")[1].1,
            ListKind::Bounce("bob@remote.test".into())
        );
        assert_eq!(kinds("team+other@example.test").len(), 1);
    }

    #[test]
    fn verp_round_trips() {
        let sender = verp_sender(&team(), "bob.x+y@remote.test");
        assert_eq!(sender, "team+bounce-bob.x+y=remote.test@example.test");
        let back = candidates(&sender);
        assert_eq!(back[1].1, ListKind::Bounce("bob.x+y@remote.test".into()));
        assert_eq!(
            verp_sender(&team(), "\"a b\"@remote.test"),
            "team+bounce@example.test"
        );
    }
}
