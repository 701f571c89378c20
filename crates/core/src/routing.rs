//! Recipient resolution: local domains, users, aliases, plus-addressing, catch-alls, postmaster.

use hermod_store::{AliasKey, Result, Store, UserId, UserRecord};
use hermod_types::{Address, LocalPart};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How deep aliases may point at aliases before we call it a loop.
const MAX_ALIAS_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRecipient {
    pub user: UserId,
    /// The account's normalized address.
    pub address: String,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptOutcome {
    Local(Vec<LocalRecipient>),
    Reject(RejectReason),
}

pub struct Router {
    store: Arc<dyn Store>,
    delimiter: Option<char>,
}

enum Expansion {
    Users(Vec<UserRecord>),
    Unknown,
    Loop,
}

impl Router {
    pub fn new(store: Arc<dyn Store>, delimiter: Option<char>) -> Router {
        Router { store, delimiter }
    }

    /// Decides one RCPT TO. `declared_size` is the MAIL FROM SIZE= value, checked against
    /// quotas early so a sender learns before sending the data.
    pub fn resolve(&self, rcpt: &Address, declared_size: Option<u64>) -> Result<RcptOutcome> {
        if !self.store.is_local_domain(rcpt.domain())? {
            return Ok(RcptOutcome::Reject(RejectReason::RelayDenied));
        }
        let users = match self.expand(rcpt, 0, &mut Vec::new())? {
            Expansion::Users(users) => users,
            Expansion::Loop => return Ok(RcptOutcome::Reject(RejectReason::AliasLoop)),
            Expansion::Unknown if is_postmaster(rcpt.local()) => {
                match self.postmaster_account(rcpt)? {
                    Some(user) => vec![user],
                    None => return Ok(RcptOutcome::Reject(RejectReason::NoPostmasterMailbox)),
                }
            }
            Expansion::Unknown => return Ok(RcptOutcome::Reject(RejectReason::UnknownUser)),
        };
        Ok(check_quotas(dedupe(users), declared_size.unwrap_or(0)))
    }

    /// The bare `<Postmaster>` recipient (RFC 5321 4.1.1.3): the server's own postmaster.
    pub fn resolve_bare_postmaster(
        &self,
        hostname_domain: Option<&Address>,
    ) -> Result<RcptOutcome> {
        if let Some(addr) = hostname_domain
            && self.store.is_local_domain(addr.domain())?
        {
            return self.resolve(addr, None);
        }
        Ok(match self.store.first_user(None)? {
            Some(user) => check_quotas(vec![user], 0),
            None => RcptOutcome::Reject(RejectReason::NoPostmasterMailbox),
        })
    }

    fn expand(&self, addr: &Address, depth: usize, seen: &mut Vec<String>) -> Result<Expansion> {
        let key = addr.normalized();
        if depth > MAX_ALIAS_DEPTH || seen.contains(&key) {
            return Ok(Expansion::Loop);
        }
        seen.push(key);
        if let Some(user) = self.store.user(addr)? {
            return Ok(Expansion::Users(vec![user]));
        }
        let targets = self.store.alias_targets(&AliasKey::Address(addr.clone()))?;
        if !targets.is_empty() {
            return self.expand_targets(&targets, depth, seen);
        }
        if let Some(base) = self.base_address(addr) {
            match self.expand(&base, depth + 1, seen)? {
                Expansion::Unknown => {}
                found => return Ok(found),
            }
        }
        let catch_all = self
            .store
            .alias_targets(&AliasKey::CatchAll(addr.domain().clone()))?;
        if !catch_all.is_empty() && !is_postmaster(addr.local()) {
            return self.expand_targets(&catch_all, depth, seen);
        }
        Ok(Expansion::Unknown)
    }

    fn expand_targets(
        &self,
        targets: &[Address],
        depth: usize,
        seen: &[String],
    ) -> Result<Expansion> {
        let mut users = Vec::new();
        for target in targets {
            if !self.store.is_local_domain(target.domain())? {
                // Forwarding to other domains arrives with outbound delivery; until then the
                // CLI refuses such targets, so only data written by hand gets here.
                tracing::warn!(target = %target, "alias target outside local domains skipped");
                continue;
            }
            let mut branch = seen.to_vec();
            match self.expand(target, depth + 1, &mut branch)? {
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
    fn postmaster_account(&self, rcpt: &Address) -> Result<Option<UserRecord>> {
        match self.store.first_user(Some(rcpt.domain()))? {
            Some(user) => Ok(Some(user)),
            None => self.store.first_user(None),
        }
    }
}

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
            })
            .collect(),
    )
}
