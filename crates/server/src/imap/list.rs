//! LIST with RFC 5258 LIST-EXTENDED (selection and return options, several patterns),
//! RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, and the rev1 LSUB. The hierarchy delimiter
//! is `/`; the store creates missing parents, so every listed mailbox exists unless it is
//! only subscribed (`\NonExistent`).

use super::{Done, Session};
use hermod_proto::imap::{ListItem, ListReturn, ListSelect, Mailbox, Response, StatusItem};
use hermod_store::{MailboxInfo, UserId};
use hermod_types::MailboxName;
use tokio::io::{AsyncRead, AsyncWrite};

/// What a LIST command asks for, from its selection and return options.
struct Options {
    only_subscribed: bool,
    only_special: bool,
    recursive: bool,
    show_subscribed: bool,
    status: Option<Vec<StatusItem>>,
}

impl Options {
    fn of(selection: &[ListSelect], returns: &[ListReturn]) -> Result<Options, Done> {
        let only_subscribed = selection.contains(&ListSelect::Subscribed);
        let only_special = selection.contains(&ListSelect::SpecialUse);
        let recursive = selection.contains(&ListSelect::RecursiveMatch);
        // RFC 5258 3.1: RECURSIVEMATCH only refines another selection option.
        if recursive && !only_subscribed && !only_special {
            return Err(Done::bad("RECURSIVEMATCH needs another selection option"));
        }
        let status = returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        Ok(Options {
            only_subscribed,
            only_special,
            recursive,
            // RFC 5258 3.1: selecting SUBSCRIBED implies returning it.
            show_subscribed: only_subscribed || returns.contains(&ListReturn::Subscribed),
            status,
        })
    }
}

impl Options {
    /// The CHILDINFO of a mailbox listed for its descendants.
    fn childinfo(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.only_subscribed {
            out.push("SUBSCRIBED".into());
        }
        if self.only_special {
            out.push("SPECIAL-USE".into());
        }
        out
    }
}

/// One line of the answer before it is rendered.
struct Entry {
    name: String,
    attributes: Vec<String>,
    /// RFC 5258 CHILDINFO: the selection criteria a descendant meets.
    childinfo: Vec<String>,
    /// Selectable: LIST-STATUS gives its STATUS.
    exists: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn list(
        &mut self,
        user: UserId,
        selection: &[ListSelect],
        reference: &str,
        patterns: &[String],
        returns: &[ListReturn],
    ) -> Done {
        let options = match Options::of(selection, returns) {
            Ok(options) => options,
            Err(done) => return done,
        };
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
        let full: Vec<String> = patterns.iter().map(|p| format!("{reference}{p}")).collect();
        let matching = |name: &str| full.iter().any(|p| matches(p, name));
        let entries = entries(&all, &subscribed, &options, &matching);
        for entry in entries {
            let mut item = list_item(entry.attributes, &entry.name);
            item.childinfo = entry.childinfo;
            self.send(&Response::List(item));
            if let (Some(items), true) = (&options.status, entry.exists)
                && let Ok(name) = MailboxName::parse(&entry.name)
                && let Err(done) = self.send_status(user, &name, items).await
            {
                // RFC 5819: a mailbox whose STATUS cannot be had is listed without one.
                if done.code != Some(hermod_proto::imap::Code::NonExistent) {
                    return done;
                }
            }
        }
        Done::ok("LIST completed")
    }

    /// LSUB (RFC 3501 6.3.9): the subscribed names that match.
    pub(super) async fn lsub(&mut self, user: UserId, reference: &str, pattern: &str) -> Done {
        let subscribed = match self.ctx.store.subscriptions(user).await {
            Ok(s) => s,
            Err(e) => return Done::store_error(&e),
        };
        let pattern = format!("{reference}{pattern}");
        let names: Vec<&str> = subscribed.iter().map(|n| n.as_str()).collect();
        for (name, noselect) in lsub_entries(&names, &pattern) {
            let attributes = match noselect {
                true => vec!["\\Noselect".to_owned()],
                false => Vec::new(),
            };
            self.send(&Response::Lsub(list_item(attributes, name)));
        }
        Done::ok("LSUB completed")
    }
}

/// LSUB's answer: the subscribed names matching `pattern`, and (RFC 3501 6.3.9) where a
/// `%` stops above a subscribed name, its unsubscribed parent that matches, flagged
/// `\Noselect` (`true`), once.
fn lsub_entries<'n>(subscribed: &[&'n str], pattern: &str) -> Vec<(&'n str, bool)> {
    let mut out: Vec<(&str, bool)> = Vec::new();
    for &name in subscribed {
        if matches(pattern, name) {
            out.push((name, false));
            continue;
        }
        let parents = name.match_indices('/').map(|(at, _)| &name[..at]);
        for parent in parents {
            let listed = out.iter().any(|&(n, _)| n == parent);
            if !listed && !subscribed.contains(&parent) && matches(pattern, parent) {
                out.push((parent, true));
            }
        }
    }
    out
}

/// The mailboxes (and subscribed names) the options and patterns select, with their
/// attributes, in the store's order, then subscribed names that no longer exist.
fn entries(
    all: &[MailboxInfo],
    subscribed: &[MailboxName],
    options: &Options,
    matching: &dyn Fn(&str) -> bool,
) -> Vec<Entry> {
    let is_subscribed = |name: &str| subscribed.iter().any(|s| s.as_str() == name);
    let selected = |info: &MailboxInfo| {
        (!options.only_subscribed || is_subscribed(info.name.as_str()))
            && (!options.only_special || info.special_use.is_some())
    };
    let mut out = Vec::new();
    for info in all {
        let name = info.name.as_str();
        if !matching(name) {
            continue;
        }
        // RFC 5258 3.5 (and RFC 6154 for SPECIAL-USE): with RECURSIVEMATCH a mailbox is
        // listed when a descendant is selected, with CHILDINFO saying by what.
        let prefix = format!("{name}/");
        let descendant = options.recursive
            && all
                .iter()
                .any(|m| m.name.as_str().starts_with(&prefix) && selected(m));
        if !selected(info) && !descendant {
            continue;
        }
        let mut attributes = vec![children_attribute(all, info).to_owned()];
        if let Some(u) = info.special_use {
            attributes.push(u.as_str().to_owned());
        }
        if options.show_subscribed && is_subscribed(name) {
            attributes.push("\\Subscribed".into());
        }
        out.push(Entry {
            name: name.to_owned(),
            attributes,
            childinfo: match descendant {
                true => options.childinfo(),
                false => Vec::new(),
            },
            exists: true,
        });
    }
    // RFC 5258 3.1: a subscription outlives its mailbox; it is listed as `\NonExistent`.
    if options.show_subscribed && options.only_subscribed && !options.only_special {
        for name in subscribed {
            let gone = !all.iter().any(|m| m.name == *name);
            if gone && matching(name.as_str()) {
                out.push(Entry {
                    name: name.as_str().to_owned(),
                    attributes: vec!["\\NonExistent".into(), "\\Subscribed".into()],
                    childinfo: Vec::new(),
                    exists: false,
                });
            }
        }
    }
    out
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
    use super::{lsub_entries, matches};

    #[test]
    fn list_patterns() {
        assert!(matches("*", "Work/Projects/2024"));
        assert!(matches("%", "Work") && !matches("%", "Work/Projects"));
        assert!(matches("Work/%", "Work/Projects") && !matches("Work/%", "Work"));
        assert!(matches("inbox", "INBOX") && matches("In%", "INBOX"));
        assert!(!matches("Sent", "Sent Items") && matches("Sent*", "Sent Items"));
    }

    #[test]
    fn lsub_shows_the_parent_a_percent_stops_at() {
        let subscribed = ["INBOX", "box/a/deep", "box/b", "other/x"];
        assert_eq!(
            lsub_entries(&subscribed, "box/%"),
            [("box/a", true), ("box/b", false)]
        );
        assert_eq!(
            lsub_entries(&subscribed, "%"),
            [("INBOX", false), ("box", true), ("other", true)]
        );
        assert_eq!(
            lsub_entries(&subscribed, "box/*"),
            [("box/a/deep", false), ("box/b", false)]
        );
    }
}
