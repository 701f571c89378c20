//! Posts: who may post, what is held or dropped, the list's header fields, the DMARC
//! rewrite of the author, and the distribution to members.

use super::oneclick::unsubscribe_fields;
use super::text::{self, command_address, list_id, quoted};
use super::{
    BoxFuture, ListArrival, ListDeps, ListEngine, ListOutcome, queue_one, send, verp_sender,
};
use crate::RcptOutcome;
use crate::pipeline::{self, Arrived, Envelope, FilterRefusal, Folder};
use hermod_message::{author_addresses, header_section};
use hermod_message::{field_value, fields, remove_fields};
use hermod_store::{ListMode, ListRecord, MemberState, Result, Store, StoreError, TokenAction};
use hermod_types::Address;

/// Fields a post loses on its way through the list: the list sets its own, and the final
/// delivery adds the Return-Path.
const REPLACED: [&str; 9] = [
    "Return-Path",
    "List-Id",
    "List-Post",
    "List-Help",
    "List-Subscribe",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Archive",
    "Precedence",
];

/// The first `From:` mailbox (normalized) and its display name, if any.
pub fn author_of(head: &[u8]) -> Option<(String, Option<String>)> {
    let field = fields(head)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case("From"))?;
    let only = &head[field.range];
    let first = author_addresses(only).ok()?.into_iter().next()?;
    let address = Address::parse(&first).ok()?.normalized();
    let value = field_value(only, "From").unwrap_or_default();
    let display = value
        .split_once('<')
        .map(|(name, _)| name.trim().trim_matches('"').trim().to_owned())
        .filter(|name| !name.is_empty());
    Some((address, display))
}

/// RFC 3834 and list practice: mail that says it was generated automatically.
fn is_automatic(head: &[u8]) -> bool {
    let auto = field_value(head, "Auto-Submitted").is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        let keyword = v.split(|c: char| c == ';' || c.is_whitespace()).next();
        keyword != Some("no")
    });
    let precedence = field_value(head, "Precedence").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "bulk" | "junk" | "list"
        )
    });
    auto || precedence
}

/// What a post gets.
enum Verdict {
    Distribute,
    Hold(&'static str),
    Refuse,
    Drop(&'static str),
}

impl ListEngine {
    pub(super) async fn post(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        arrival: &ListArrival<'_>,
    ) -> Result<ListOutcome> {
        let head = header_section(arrival.message);
        match decide(deps.store, list, head, arrival.sender).await? {
            Verdict::Drop(why) => {
                tracing::info!(list = list.address, why, "post dropped");
                Ok(ListOutcome::Dropped(why))
            }
            Verdict::Refuse => Ok(ListOutcome::Refused(format!(
                "only members may post to {}",
                list.address
            ))),
            Verdict::Hold(why) => self.hold(deps, list, arrival, why).await,
            // Spam that passed as a member's post (forged senders are common) would reach
            // every member, remote ones too: a moderator looks first.
            Verdict::Distribute if arrival.junk => {
                self.hold(deps, list, arrival, "scored as spam").await
            }
            Verdict::Distribute => {
                if let Err(limit) = self.posting.admit(list.id) {
                    tracing::info!(list = list.address, limit, "post deferred: posting rate");
                    return Ok(ListOutcome::Deferred(format!(
                        "{} distributes at most {limit}; try again later",
                        list.address
                    )));
                }
                let copies = self
                    .distribute(deps, list, arrival.message, arrival.spam)
                    .await?;
                Ok(ListOutcome::Distributed(copies))
            }
        }
    }

    async fn hold(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        arrival: &ListArrival<'_>,
        why: &str,
    ) -> Result<ListOutcome> {
        let store = deps.store;
        let head = header_section(arrival.message);
        let subject = field_value(head, "Subject").unwrap_or_default();
        let author = author_of(head).map(|(a, _)| a);
        let from = author.as_deref().or(arrival.sender).unwrap_or("<>");
        let id = store
            .list_hold(list.id, arrival.sender, &subject, arrival.message)
            .await?;
        tracing::info!(
            list = list.address,
            id,
            from,
            why,
            "post held for moderation"
        );
        let mut moderators = store.list_moderators(list.id).await?;
        if !moderators.contains(&list.settings.owner) {
            moderators.push(list.settings.owner.clone());
        }
        let expires = hermod_message::unix_now() + self.confirm_expiry;
        let mut addresses = Vec::new();
        for action in [TokenAction::Approve, TokenAction::Reject] {
            let token = store
                .list_new_token(list.id, &id.to_string(), action, expires)
                .await?;
            addresses.push(command_address(list, &format!("confirm-{token}")));
        }
        let body = format!(
            "A post to {list} from {from} waits for a moderator ({why}).\n\n\
             Held post: {id}\nSubject: {subject}\n\n\
             To approve it, reply to this message (it goes to {approve}).\n\
             To reject it, send any message to {reject}.\n\
             Or on the server: hermod list approve {list} {id}\n\
             or: hermod list reject {list} {id} --reason TEXT\n",
            list = list.address,
            approve = addresses[0],
            reject = addresses[1],
        );
        let title = format!("{}: post {id} held for moderation", list.address);
        let extra = [("Reply-To", format!("<{}>", addresses[0]))];
        for moderator in moderators {
            let notice = text::notice(&self.hostname, list, &moderator, &title, &extra, &body);
            send(deps, &moderator, notice).await?;
        }
        Ok(ListOutcome::Held(id))
    }

    /// Sends `message` (a post already allowed) to every active member: local members'
    /// copies through the delivery pipeline, remote members one queue entry each with a VERP
    /// sender. With one-click links every member's copy is its own (the link names the
    /// member); without, local members share one body filed in one commit. Returns how many
    /// copies were filed or queued.
    pub(super) async fn distribute(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        message: &[u8],
        spam: Option<(f64, f64)>,
    ) -> Result<usize> {
        let store = deps.store;
        let rewrite = self.author_rewrite(list, header_section(message)).await;
        let post = build_post(list, message, rewrite.as_ref());
        if list.settings.archive {
            let archived = with_fields(&post, &unsubscribe_fields(None, list, None));
            archive(store, list, &archived).await?;
        }
        let mut locals: Vec<(Option<String>, Vec<crate::LocalRecipient>)> = Vec::new();
        let mut remote = Vec::new();
        for member in store.list_members(list.id).await? {
            if member.state != MemberState::Active {
                continue;
            }
            let Ok(address) = Address::parse(&member.address) else {
                continue;
            };
            if !store.is_local_domain(address.domain()).await? {
                remote.push(member.address);
                continue;
            }
            match deps.router.resolve(&address, None).await? {
                RcptOutcome::Local(found) => match (&self.one_click, locals.first_mut()) {
                    (None, Some((_, shared))) => shared.extend(found),
                    (None, None) => locals.push((None, found)),
                    (Some(_), _) => locals.push((Some(member.address), found)),
                },
                other => {
                    tracing::warn!(
                        list = list.address,
                        member = member.address,
                        ?other,
                        "local member not delivered"
                    )
                }
            }
        }
        let local_count: usize = locals.iter().map(|(_, r)| r.len()).sum();
        let mut copies = self.deliver_locals(deps, list, &post, locals, spam).await?;
        let copy_for = |member: &str| {
            let fields = unsubscribe_fields(self.one_click.as_ref(), list, Some(member));
            with_fields(&post, &fields)
        };
        copies += queue_remote(store, list, &copy_for, &remote).await?;
        tracing::info!(
            list = list.address,
            local = local_count,
            remote = remote.len(),
            rewritten = rewrite.is_some(),
            "post distributed"
        );
        Ok(copies)
    }

    /// Files each group's copy (its member's, or everyone's when the member is `None`),
    /// groups written concurrently so they share the store's group commits.
    async fn deliver_locals(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        post: &[u8],
        groups: Vec<(Option<String>, Vec<crate::LocalRecipient>)>,
        spam: Option<(f64, f64)>,
    ) -> Result<usize> {
        let mut filed = 0;
        for batch in groups.chunks(QUEUE_CONCURRENCY) {
            let writes = batch
                .iter()
                .map(|(member, recipients)| {
                    let fields =
                        unsubscribe_fields(self.one_click.as_ref(), list, member.as_deref());
                    let copy = with_fields(post, &fields);
                    Box::pin(async move {
                        deliver_group(deps, list, &copy, recipients.clone(), spam).await
                    }) as BoxFuture<'_, Result<usize>>
                })
                .collect();
            for result in join_all(writes).await {
                filed += result?;
            }
        }
        Ok(filed)
    }

    /// The author's address and name, when the author's domain publishes a strict DMARC
    /// policy (quarantine or reject): then the post must come from the list's address.
    async fn author_rewrite(&self, list: &ListRecord, head: &[u8]) -> Option<(String, String)> {
        let dmarc = self.dmarc.as_ref()?;
        let (author, display) = author_of(head)?;
        let domain = author.rsplit_once('@')?.1;
        if domain == list.domain() || !dmarc.strict(domain).await {
            return None;
        }
        let name = display.unwrap_or_else(|| author.split('@').next().unwrap_or("").to_owned());
        Some((author, name))
    }
}

/// One commit for the group's recipients; when one's mailbox is full, each separately, so
/// the others still get the post.
async fn deliver_group(
    deps: ListDeps<'_>,
    list: &ListRecord,
    copy: &[u8],
    recipients: Vec<crate::LocalRecipient>,
    spam: Option<(f64, f64)>,
) -> Result<usize> {
    let bounce_address = command_address(list, "bounce");
    let arrived = Arrived {
        sender: Some(&bounce_address),
        spam,
    };
    let now = hermod_message::unix_now();
    let mut groups = vec![recipients];
    let mut filed = 0;
    while let Some(group) = groups.pop() {
        let envelope = Envelope::to_local(&group, Folder::Inbox, now);
        let blob = seal(deps.store, copy).await?;
        match pipeline::deliver_filtered(deps.store, deps.sieve, blob, &envelope, &arrived).await {
            Ok(delivery) => filed += delivery.filed.len(),
            Err(FilterRefusal::Rejected(_)) => {}
            Err(FilterRefusal::Store(StoreError::OverQuota(user))) if group.len() > 1 => {
                tracing::info!(list = list.address, user, "member over quota");
                groups.extend(group.into_iter().map(|r| vec![r]));
            }
            Err(FilterRefusal::Store(StoreError::OverQuota(user))) => {
                tracing::warn!(list = list.address, user, "post not delivered: over quota");
            }
            Err(FilterRefusal::Store(e)) => return Err(e),
        }
    }
    Ok(filed)
}

/// `post` with `fields` (whole lines) after its first line, the Return-Path.
fn with_fields(post: &[u8], fields: &str) -> Vec<u8> {
    let split = post.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(post.len() + fields.len());
    out.extend_from_slice(&post[..split]);
    out.extend_from_slice(fields.as_bytes());
    out.extend_from_slice(&post[split..]);
    out
}

/// Keeps the post as members get it (without the Return-Path of local copies), by its
/// author, for `hermod list archive`.
async fn archive(store: &dyn Store, list: &ListRecord, post: &[u8]) -> Result<()> {
    let start = post.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let kept = &post[start..];
    let head = header_section(kept);
    let subject = field_value(head, "Subject").unwrap_or_default();
    let author = author_of(head).map(|(a, _)| a);
    store
        .list_archive_post(list.id, author.as_deref(), &subject, kept)
        .await?;
    Ok(())
}

/// How many remote members' entries are written at once: concurrent writes share the
/// store's group commits (one fsync for many) instead of one fsync each.
const QUEUE_CONCURRENCY: usize = 32;

/// One queue entry per remote member, each with the member's VERP sender. When one fails,
/// the others of its batch still finish; the error is returned (the client retries, and
/// members already queued may get the post twice, none loses it).
async fn queue_remote(
    store: &dyn Store,
    list: &ListRecord,
    copy_for: &(dyn Fn(&str) -> Vec<u8> + Sync),
    members: &[String],
) -> Result<usize> {
    for batch in members.chunks(QUEUE_CONCURRENCY) {
        let writes = batch
            .iter()
            .map(|member| {
                let sender = Some(verp_sender(list, member));
                Box::pin(queue_one(store, sender, member, copy_for(member)))
                    as BoxFuture<'_, Result<i64>>
            })
            .collect();
        for result in join_all(writes).await {
            result?;
        }
    }
    Ok(members.len())
}

/// Runs the futures concurrently on this task; their results in order.
async fn join_all<T>(futures: Vec<BoxFuture<'_, T>>) -> Vec<T> {
    use std::task::Poll;
    let mut running: Vec<Option<BoxFuture<'_, T>>> = futures.into_iter().map(Some).collect();
    let mut results: Vec<Option<T>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, result) in running.iter_mut().zip(results.iter_mut()) {
            let Some(future) = slot else {
                continue;
            };
            match future.as_mut().poll(cx) {
                Poll::Ready(value) => {
                    *result = Some(value);
                    *slot = None;
                }
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// Allowed, held, refused or dropped, by the list's settings and who sent it.
async fn decide(
    store: &dyn Store,
    list: &ListRecord,
    head: &[u8],
    sender: Option<&str>,
) -> Result<Verdict> {
    let own_id = list_id(list);
    let looped = field_value(head, "List-Id").is_some_and(|v| v.contains(&own_id));
    let author = author_of(head).map(|(a, _)| a);
    if looped || author.as_deref() == Some(&list.address) {
        return Ok(Verdict::Drop("loop"));
    }
    let Some(sender) = sender else {
        return Ok(Verdict::Drop("null sender"));
    };
    if is_automatic(head) {
        return Ok(Verdict::Drop("automatic message"));
    }
    let sender = Address::parse(sender).map(|a| a.normalized()).ok();
    let posters: Vec<String> = author.into_iter().chain(sender).collect();
    let moderators = store.list_moderators(list.id).await?;
    let privileged = posters
        .iter()
        .any(|p| *p == list.settings.owner || moderators.contains(p));
    if privileged {
        return Ok(Verdict::Distribute);
    }
    let mut member = false;
    for poster in &posters {
        let found = store.list_member(list.id, poster).await?;
        member |= found.is_some_and(|m| m.state == MemberState::Active);
    }
    Ok(match (member, list.settings.mode) {
        (true, ListMode::Announce) => Verdict::Hold("announce list: moderators post"),
        (true, ListMode::Discussion) if list.settings.moderated => Verdict::Hold("moderated list"),
        (true, ListMode::Discussion) => Verdict::Distribute,
        (false, _) if list.settings.refuse_non_members => Verdict::Refuse,
        (false, _) => Verdict::Hold("not a member"),
    })
}

/// The post as members get it, less `List-Unsubscribe` (each copy's own, see
/// `with_fields`): the list's fields on top (RFC 2369, RFC 2919), the fields they replace
/// gone, and `From:` rewritten to the list when `rewrite` says so.
fn build_post(list: &ListRecord, message: &[u8], rewrite: Option<&(String, String)>) -> Vec<u8> {
    let head = header_section(message);
    let body = &message[head.len()..];
    let mut kept = head.to_vec();
    for name in REPLACED {
        kept = remove_fields(&kept, name);
    }
    let mut top = format!("Return-Path: <{}>\r\n", command_address(list, "bounce"));
    top.push_str(&format!("List-Id: {}\r\n", list_id(list)));
    let post = match list.settings.mode {
        ListMode::Discussion => format!("<mailto:{}>", list.address),
        ListMode::Announce => "NO".to_owned(),
    };
    top.push_str(&format!("List-Post: {post}\r\n"));
    let request = text::request_address(list);
    top.push_str(&format!("List-Help: <mailto:{request}?subject=help>\r\n"));
    let subscribe = command_address(list, "subscribe");
    top.push_str(&format!("List-Subscribe: <mailto:{subscribe}>\r\n"));
    top.push_str("Precedence: list\r\n");
    if let Some((author, name)) = rewrite {
        kept = remove_fields(&kept, "From");
        let display = quoted(&format!("{name} via {}", list.local()));
        top.push_str(&format!("From: {display} <{}>\r\n", list.address));
        if field_value(&kept, "Reply-To").is_none() {
            top.push_str(&format!("Reply-To: <{author}>\r\n"));
        }
    }
    let mut out = top.into_bytes();
    out.extend_from_slice(&kept);
    out.extend_from_slice(body);
    out
}

async fn seal(store: &dyn Store, content: &[u8]) -> Result<hermod_store::SealedBlob> {
    let (writer, _) = store.blob_writer()?.append(content.to_vec()).await?;
    writer.seal_async().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermod_store::ListSettings;

    fn team(mode: ListMode) -> ListRecord {
        ListRecord {
            id: 1,
            address: "team@example.test".into(),
            settings: ListSettings {
                owner: "o@example.test".into(),
                mode,
                moderated: false,
                refuse_non_members: false,
                archive: false,
            },
        }
    }

    const POST: &[u8] = b"Return-Path: <alice@a.test>\r\nFrom: \"Alice A\" <Alice@A.test>\r\nList-Id: <other.x.test>\r\nPrecedence: bulk\r\nSubject: hi\r\n\r\nbody\r\n";

    #[test]
    fn posts_get_the_list_fields() {
        let list = team(ListMode::Discussion);
        let post = build_post(&list, POST, None);
        let mailto = unsubscribe_fields(None, &list, Some("bob@b.test"));
        let text = String::from_utf8(with_fields(&post, &mailto)).unwrap();
        assert!(text.starts_with("Return-Path: <team+bounce@example.test>\r\nList-Unsubscribe: <mailto:team+unsubscribe@example.test>\r\nList-Id: <team.example.test>\r\nList-Post: <mailto:team@example.test>\r\n"), "{text}");
        let one_click = super::super::OneClick::new(&[7; 32], "https://mx.example.test");
        let fields = unsubscribe_fields(Some(&one_click), &list, Some("bob@b.test"));
        let link = one_click.url(&list.address, "bob@b.test");
        assert_eq!(
            fields,
            format!(
                "List-Unsubscribe: <{link}>, <mailto:team+unsubscribe@example.test>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            )
        );
        assert!(text.contains("Precedence: list\r\n") && !text.contains("bulk"));
        assert!(!text.contains("other.x.test") && !text.contains("alice@a.test>\r\n"));
        assert!(text.ends_with("Subject: hi\r\n\r\nbody\r\n"));
        let announce = build_post(&team(ListMode::Announce), POST, None);
        assert!(
            String::from_utf8(announce)
                .unwrap()
                .contains("List-Post: NO\r\n")
        );
    }

    #[test]
    fn a_strict_author_is_rewritten() {
        let (author, name) = author_of(header_section(POST)).unwrap();
        assert_eq!(
            (author.as_str(), name.as_deref()),
            ("alice@a.test", Some("Alice A"))
        );
        let rewrite = (author, "Alice A".to_owned());
        let post = build_post(&team(ListMode::Discussion), POST, Some(&rewrite));
        let text = String::from_utf8(post).unwrap();
        assert!(
            text.contains(
                "From: \"Alice A via team\" <team@example.test>\r\nReply-To: <alice@a.test>\r\n"
            ),
            "{text}"
        );
        assert!(!text.contains("From: \"Alice A\""));
    }

    #[tokio::test]
    async fn join_all_keeps_the_order() {
        let slow = Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            1
        }) as BoxFuture<'_, i32>;
        let fast = Box::pin(async { 2 }) as BoxFuture<'_, i32>;
        assert_eq!(join_all(vec![slow, fast]).await, [1, 2]);
    }

    #[test]
    fn automatic_mail_is_recognised() {
        assert!(is_automatic(b"Auto-Submitted: auto-replied\r\n"));
        assert!(!is_automatic(b"Auto-Submitted: no\r\n"));
        assert!(is_automatic(b"Precedence: junk\r\n"));
        assert!(!is_automatic(b"Subject: x\r\n"));
    }
}
