//! Mailbox commands (RFC 9051 6.3): LIST, LSUB, NAMESPACE, STATUS, CREATE, DELETE,
//! RENAME, SUBSCRIBE, UNSUBSCRIBE. The hierarchy delimiter is `/`.

use super::{Done, Session, convert, reply};
use hermod_proto::imap::{
    Code, CommandBody, ListItem, ListReturn, ListSelect, Mailbox, Namespace, Response, StatusItem,
};
use hermod_store::{MailboxInfo, UserId};
use hermod_types::MailboxName;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().map(|u| u.id)
    }

    pub(super) async fn mailbox_command(&mut self, body: CommandBody) -> Done {
        use CommandBody as C;
        let Some(user) = self.user_id() else {
            return Done::bad(reply::WRONG_STATE);
        };
        match body {
            C::List {
                selection,
                reference,
                patterns,
                returns,
            } => {
                self.list(user, &selection, &reference, &patterns, &returns)
                    .await
            }
            C::Lsub { reference, pattern } => self.lsub(user, &reference, &pattern).await,
            C::Namespace => {
                let personal = vec![Namespace {
                    prefix: String::new(),
                    delimiter: Some('/'),
                }];
                self.send(&Response::Namespace {
                    personal,
                    other: Vec::new(),
                    shared: Vec::new(),
                });
                Done::ok("NAMESPACE completed")
            }
            C::Status { mailbox, items } => self.status(user, &mailbox, &items).await,
            body => self.change_mailbox(user, body).await,
        }
    }

    /// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.
    async fn change_mailbox(&mut self, user: UserId, body: CommandBody) -> Done {
        use CommandBody as C;
        let store = self.ctx.store.clone();
        let name = |m: &Mailbox| convert::mailbox_name(m);
        let result = match &body {
            C::Create { mailbox, .. } => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::Cannot), reply::BAD_NAME);
                };
                store.create_mailbox(user, &n, None).await.map(|_| ())
            }
            C::Delete(mailbox) => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
                };
                store.delete_mailbox(user, &n).await
            }
            C::Rename { from, to } => {
                let (Some(f), Some(t)) = (name(from), name(to)) else {
                    return Done::no(Some(Code::Cannot), reply::BAD_NAME);
                };
                store.rename_mailbox(user, &f, &t).await
            }
            C::Subscribe(mailbox) => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
                };
                store.subscribe(user, &n).await
            }
            C::Unsubscribe(mailbox) => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
                };
                store.unsubscribe(user, &n).await
            }
            _ => return Done::bad(reply::NOT_SUPPORTED),
        };
        match result {
            Ok(()) => Done::ok("completed"),
            Err(e) => Done::store_error(&e),
        }
    }

    async fn list(
        &mut self,
        user: UserId,
        selection: &[ListSelect],
        reference: &str,
        patterns: &[String],
        returns: &[ListReturn],
    ) -> Done {
        if returns.iter().any(|r| matches!(r, ListReturn::Status(_))) {
            return Done::bad("LIST-STATUS is not supported");
        }
        // RFC 9051 6.3.9: an empty pattern asks for the delimiter and the root.
        if patterns.len() == 1 && patterns[0].is_empty() {
            self.send(&Response::List(list_item(vec!["\\Noselect".into()], "")));
            return Done::ok("LIST completed");
        }
        let store = self.ctx.store.clone();
        let (all, subscribed) = match (store.mailboxes(user).await, store.subscriptions(user).await)
        {
            (Ok(all), Ok(subscribed)) => (all, subscribed),
            (Err(e), _) | (_, Err(e)) => return Done::store_error(&e),
        };
        let only_subscribed = selection.contains(&ListSelect::Subscribed);
        let only_special = selection.contains(&ListSelect::SpecialUse);
        let show_subscribed = only_subscribed || returns.contains(&ListReturn::Subscribed);
        for info in &all {
            let name = info.name.as_str();
            let is_subscribed = subscribed.contains(&info.name);
            if !patterns
                .iter()
                .any(|p| matches(&format!("{reference}{p}"), name))
                || (only_subscribed && !is_subscribed)
                || (only_special && info.special_use.is_none())
            {
                continue;
            }
            let mut attributes = vec![children_attribute(&all, info).to_owned()];
            if let Some(u) = info.special_use {
                attributes.push(u.as_str().to_owned());
            }
            if show_subscribed && is_subscribed {
                attributes.push("\\Subscribed".into());
            }
            self.send(&Response::List(list_item(attributes, name)));
        }
        Done::ok("LIST completed")
    }

    /// LSUB (RFC 3501 6.3.9): the subscribed names that match.
    async fn lsub(&mut self, user: UserId, reference: &str, pattern: &str) -> Done {
        let subscribed = match self.ctx.store.subscriptions(user).await {
            Ok(s) => s,
            Err(e) => return Done::store_error(&e),
        };
        let pattern = format!("{reference}{pattern}");
        for name in subscribed.iter().filter(|n| matches(&pattern, n.as_str())) {
            self.send(&Response::Lsub(list_item(Vec::new(), name.as_str())));
        }
        Done::ok("LSUB completed")
    }

    async fn status(&mut self, user: UserId, mailbox: &Mailbox, items: &[StatusItem]) -> Done {
        let Some(name) = convert::mailbox_name(mailbox) else {
            return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
        };
        let status = match self.ctx.store.mailbox_status(user, &name).await {
            Ok(Some(status)) => status,
            Ok(None) => return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX),
            Err(e) => return Done::store_error(&e),
        };
        self.note_status_items(items);
        let mut values = Vec::new();
        for &item in items {
            let value = match item {
                StatusItem::Messages => u64::from(status.messages),
                StatusItem::UidNext => u64::from(status.mailbox.uid_next),
                StatusItem::UidValidity => u64::from(status.mailbox.uid_validity.get()),
                StatusItem::Unseen => u64::from(status.unseen),
                StatusItem::Deleted => u64::from(status.deleted),
                StatusItem::Size => status.size,
                StatusItem::Recent => 0,
                StatusItem::HighestModSeq => status.mailbox.highest_modseq,
                StatusItem::AppendLimit => {
                    return Done::bad("STATUS item not supported");
                }
            };
            values.push((item, value));
        }
        self.send(&Response::MailboxStatus {
            mailbox: convert::wire_mailbox(&name),
            items: values,
        });
        Done::ok("STATUS completed")
    }
}

fn list_item(attributes: Vec<String>, name: &str) -> ListItem {
    ListItem {
        attributes,
        delimiter: Some('/'),
        mailbox: Mailbox::new(name),
        childinfo: Vec::new(),
        oldname: None,
    }
}

/// `\HasChildren` or `\HasNoChildren` (RFC 3348, part of RFC 9051).
fn children_attribute(all: &[MailboxInfo], info: &MailboxInfo) -> &'static str {
    let prefix = format!("{}/", info.name.as_str());
    if all.iter().any(|m| m.name.as_str().starts_with(&prefix)) {
        "\\HasChildren"
    } else {
        "\\HasNoChildren"
    }
}

/// LIST pattern matching (RFC 9051 6.3.9): `*` matches anything, `%` anything but the
/// delimiter. `INBOX` matches case-insensitively.
fn matches(pattern: &str, name: &str) -> bool {
    if name == MailboxName::inbox().as_str() {
        let upper = pattern.to_ascii_uppercase();
        return glob(upper.as_bytes(), b"INBOX");
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

/// Dynamic programming, row by row from the pattern's end: a client's `*a*a*a*...` costs
/// pattern times name length, never an exponential search.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let n = name.len();
    // next[j]: does the rest of the pattern after this position match name[j..]?
    let mut next: Vec<bool> = (0..=n).map(|j| j == n).collect();
    for &c in pattern.iter().rev() {
        let mut row = vec![false; n + 1];
        for j in (0..=n).rev() {
            row[j] = match c {
                b'*' => next[j] || (j < n && row[j + 1]),
                b'%' => next[j] || (j < n && name[j] != b'/' && row[j + 1]),
                c => j < n && name[j] == c && next[j + 1],
            };
        }
        next = row;
    }
    next[0]
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn list_patterns() {
        assert!(matches("*", "Work/Projects/2024"));
        assert!(matches("%", "Work") && !matches("%", "Work/Projects"));
        assert!(matches("Work/%", "Work/Projects") && !matches("Work/%", "Work"));
        assert!(matches("inbox", "INBOX") && matches("In%", "INBOX"));
        assert!(!matches("Sent", "Sent Items") && matches("Sent*", "Sent Items"));
    }
}
