//! Recipient resolution: local domains, users, aliases, plus-addressing, catch-alls, postmaster.

use crate::lists::ListRcpt;
use crate::srs::{Srs, today};
use hermod_store::{AddressLookup, Directory, Lists, Result, UserId, UserRecord};
use hermod_types::{Address, LocalPart};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How deep aliases may point at aliases before we call it a loop.
const MAX_ALIAS_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct LocalRecipient {
    pub user: UserId,
    /// The account's normalized address.
    pub address: String,
    /// The account's active Sieve script (store id), run at delivery.
    pub sieve: Option<i64>,
    /// The account's own Junk threshold (`None`: the server's), for the spam verdict.
    pub junk_threshold: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The domain is not ours and the client may not relay.
    RelayDenied,
    /// Our domain, but no such user or alias.
    UnknownUser,
    /// A mailbox is full; the sender should retry later.
    OverQuota,
    /// postmaster@ of a domain without any account to deliver to (temporary: add a user).
    NoPostmasterMailbox,
    /// Aliases point at each other, or nest too deep.
    AliasLoop,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RcptOutcome {
    Local(Vec<LocalRecipient>),
    /// A forwarding address hermod made (SRS, see [`crate::srs`]): the mail goes on to the
    /// original sender it stands for.
    Forward(String),
    /// One of a mailing list's addresses (see [`crate::lists`]).
    List(Box<ListRcpt>),
    Reject(RejectReason),
}

pub struct Router {
    directory: Arc<dyn Directory>,
    delimiter: Option<char>,
    srs: Option<Srs>,
    lists: Option<Arc<dyn Lists>>,
}

enum Expansion {
    Users(Vec<UserRecord>),
    Unknown,
    Loop,
}

/// Where one step of an expansion stands: the address, how deep, and who was seen on the way.
struct Step<'a> {
    addr: &'a Address,
    depth: usize,
    seen: Vec<String>,
}

impl Router {
    pub fn new(directory: Arc<dyn Directory>, delimiter: Option<char>) -> Router {
        Router {
            directory,
            delimiter,
            srs: None,
            lists: None,
        }
    }

    /// Routes mailing lists' addresses to their lists.
    pub fn with_lists(mut self, lists: Arc<dyn Lists>) -> Router {
        self.lists = Some(lists);
        self
    }

    /// Routes hermod's own forwarding addresses back to the senders they stand for.
    pub fn with_srs(mut self, srs: Srs) -> Router {
        self.srs = Some(srs);
        self
    }

    /// Decides one RCPT TO. `declared_size` is the MAIL FROM SIZE= value, checked against
    /// quotas early so a sender learns before sending the data. A plain account costs one
    /// directory lookup.
    pub async fn resolve(&self, rcpt: &Address, declared_size: Option<u64>) -> Result<RcptOutcome> {
        let lookup = self.directory.lookup_address(rcpt).await?;
        if !lookup.local_domain {
            return Ok(RcptOutcome::Reject(RejectReason::RelayDenied));
        }
        // Before aliases: a catch-all must not swallow the bounces of forwarded mail.
        let srs = self.srs.as_ref();
        if let Some(original) = srs.and_then(|s| s.reverse(rcpt.local().as_str(), today())) {
            return Ok(RcptOutcome::Forward(original));
        }
        // Accounts and aliases never share a list's addresses (the store refuses), so a list
        // costs a lookup only for addresses that are neither.
        if lookup.user.is_none()
            && lookup.alias_targets.is_empty()
            && let Some(list) = self.list_route(rcpt).await?
        {
            return Ok(RcptOutcome::List(Box::new(list)));
        }
        let step = Step {
            addr: rcpt,
            depth: 0,
            seen: Vec::new(),
        };
        let users = match self.expand_found(step, lookup).await? {
            Expansion::Users(users) => users,
            Expansion::Loop => return Ok(RcptOutcome::Reject(RejectReason::AliasLoop)),
            Expansion::Unknown if is_postmaster(rcpt.local()) => {
                match self.postmaster_account(rcpt).await? {
                    Some(user) => vec![user],
                    None => return Ok(RcptOutcome::Reject(RejectReason::NoPostmasterMailbox)),
                }
            }
            Expansion::Unknown => return Ok(RcptOutcome::Reject(RejectReason::UnknownUser)),
        };
        Ok(check_quotas(dedupe(users), declared_size.unwrap_or(0)))
    }

    /// The list address `rcpt` is (the list itself, `-request`, `+command`), if any.
    async fn list_route(&self, rcpt: &Address) -> Result<Option<ListRcpt>> {
        let Some(lists) = &self.lists else {
            return Ok(None);
        };
        for (address, kind) in crate::lists::candidates(&rcpt.normalized()) {
            if let Some(list) = lists.list(&address).await? {
                return Ok(Some(ListRcpt { list, kind }));
            }
        }
        Ok(None)
    }

    /// The bare `<Postmaster>` recipient (RFC 5321 4.1.1.3): the server's own postmaster.
    pub async fn resolve_bare_postmaster(
        &self,
        hostname_domain: Option<&Address>,
    ) -> Result<RcptOutcome> {
        if let Some(addr) = hostname_domain
            && self.directory.is_local_domain(addr.domain()).await?
        {
            return self.resolve(addr, None).await;
        }
        Ok(match self.directory.first_user(None).await? {
            Some(user) => check_quotas(vec![user], 0),
            None => RcptOutcome::Reject(RejectReason::NoPostmasterMailbox),
        })
    }

    /// Looks `addr` up, then expands it.
    fn expand<'a>(&'a self, step: Step<'a>) -> BoxFuture<'a, Result<Expansion>> {
        Box::pin(async move {
            let lookup = self.directory.lookup_address(step.addr).await?;
            if !lookup.local_domain {
                // Forwarding to other domains arrives with outbound delivery; until then the
                // CLI refuses such targets, so only data written by hand gets here.
                tracing::warn!(target = %step.addr, "alias target outside local domains skipped");
                return Ok(Expansion::Unknown);
            }
            self.expand_found(step, lookup).await
        })
    }

    /// An account, an alias, `base+detail` or the domain's catch-all, in that order.
    async fn expand_found(&self, mut step: Step<'_>, found: AddressLookup) -> Result<Expansion> {
        let key = step.addr.normalized();
        if step.depth > MAX_ALIAS_DEPTH || step.seen.contains(&key) {
            return Ok(Expansion::Loop);
        }
        step.seen.push(key);
        if let Some(user) = found.user {
            return Ok(Expansion::Users(vec![user]));
        }
        if !found.alias_targets.is_empty() {
            return self.expand_targets(&found.alias_targets, &step).await;
        }
        if let Some(base) = self.base_address(step.addr) {
            let deeper = Step {
                addr: &base,
                depth: step.depth + 1,
                seen: step.seen.clone(),
            };
            match self.expand(deeper).await? {
                Expansion::Unknown => {}
                found => return Ok(found),
            }
        }
        if !found.catch_all.is_empty() && !is_postmaster(step.addr.local()) {
            return self.expand_targets(&found.catch_all, &step).await;
        }
        Ok(Expansion::Unknown)
    }

    async fn expand_targets(&self, targets: &[Address], from: &Step<'_>) -> Result<Expansion> {
        let mut users = Vec::new();
        for target in targets {
            let step = Step {
                addr: target,
                depth: from.depth + 1,
                seen: from.seen.clone(),
            };
            match self.expand(step).await? {
                Expansion::Users(found) => users.extend(found),
                Expansion::Loop => return Ok(Expansion::Loop),
                Expansion::Unknown => {
                    tracing::warn!(target = %target, "alias target is not a local user or alias")
                }
            }
        }
        Ok(if users.is_empty() {
            Expansion::Unknown
        } else {
            Expansion::Users(users)
        })
    }

    /// `alice+news@example.test` -> `alice@example.test`, when plus-addressing is on.
    fn base_address(&self, addr: &Address) -> Option<Address> {
        let delimiter = self.delimiter?;
        let (base, detail) = addr.local().split_detail(delimiter);
        detail?;
        let local = LocalPart::parse(base).ok()?;
        Some(Address::new(local, addr.domain().clone()))
    }

    /// RFC 5321 4.5.1: postmaster@ of a local domain must always be accepted. With no alias
    /// or account of that name, it goes to the domain's first account, else the server's.
    async fn postmaster_account(&self, rcpt: &Address) -> Result<Option<UserRecord>> {
        match self.directory.first_user(Some(rcpt.domain())).await? {
            Some(user) => Ok(Some(user)),
            None => self.directory.first_user(None).await,
        }
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

fn is_postmaster(local: &LocalPart) -> bool {
    local.as_str().eq_ignore_ascii_case("postmaster")
}

fn dedupe(users: Vec<UserRecord>) -> Vec<UserRecord> {
    let unique: BTreeMap<UserId, UserRecord> = users.into_iter().map(|u| (u.id, u)).collect();
    unique.into_values().collect()
}

/// Any recipient whose mailbox cannot take the message makes the whole RCPT fail temporarily:
/// the sender keeps the message and retries, so nothing is lost and nobody gets half an alias.
fn check_quotas(users: Vec<UserRecord>, size: u64) -> RcptOutcome {
    let full = users.iter().any(|u| {
        u.quota
            .is_some_and(|q| u.used >= q || u.used.saturating_add(size) > q)
    });
    if full {
        return RcptOutcome::Reject(RejectReason::OverQuota);
    }
    RcptOutcome::Local(
        users
            .into_iter()
            .map(|u| LocalRecipient {
                user: u.id,
                address: u.address,
                sieve: u.sieve_script,
                junk_threshold: u.junk_threshold,
            })
            .collect(),
    )
}
