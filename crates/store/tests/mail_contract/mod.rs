//! The [`MailStore`] contract, written once over trait objects so that every backend runs
//! the same functions: a backend's test file implements [`Backend`] and calls each `pub fn`
//! here from a `#[test]`.

// A backend's test file may not use every helper.
#![allow(dead_code)]

mod folders;
mod messages;
mod watching;

pub use folders::*;
pub use messages::*;
pub use watching::*;

use hermod_store::{
    BlockingStore, Delivered, DeliveryTarget, Flags, MailStore, MailboxInfo, StoreError, UserId,
};
use hermod_types::{Address, Domain, MailboxName, Uid};
use std::io::{Read, Write};

/// A store under test: both traits over the same data, and a way to open that data again as
/// another process would.
pub trait Backend: Sync {
    fn store(&self) -> &dyn BlockingStore;
    fn mail(&self) -> &dyn MailStore;
    /// A second, independent handle on the same data (another process, e.g. the CLI).
    fn second(&self) -> Box<dyn Backend>;
}

pub fn name(s: &str) -> MailboxName {
    MailboxName::parse(s).unwrap()
}

pub fn uid(n: u32) -> Uid {
    Uid::new(n).unwrap()
}

pub fn flags(bits: u8, keywords: &[&str]) -> Flags {
    Flags {
        bits,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

/// A user of `example.test` (the domain is added when missing).
pub fn user(b: &dyn Backend, local: &str, quota: Option<u64>) -> UserId {
    let domain = Domain::parse("example.test").unwrap();
    match b.store().add_domain(&domain) {
        Ok(()) | Err(StoreError::DomainExists(_)) => {}
        Err(e) => panic!("add_domain: {e}"),
    }
    let address = Address::parse(&format!("{local}@example.test")).unwrap();
    b.store().add_user(&address, "hash", quota).unwrap()
}

pub fn deliver_to(
    store: &dyn BlockingStore,
    user: UserId,
    mailbox: &str,
    body: &[u8],
    flags: Flags,
) -> Result<Delivered, StoreError> {
    let mut writer = store.blob_writer()?;
    writer.write_all(body).unwrap();
    let target = DeliveryTarget {
        user,
        mailbox: name(mailbox),
        flags,
        internal_date: 1_700_000_000,
    };
    Ok(store.deliver(writer.seal()?, &[target])?.remove(0))
}

/// Delivers `n` small messages to the INBOX; returns their UIDs.
pub fn fill(b: &dyn Backend, user: UserId, n: u32) -> Vec<Uid> {
    (0..n)
        .map(|i| {
            let body = format!("Subject: {i}\r\n\r\nbody {i}\r\n");
            deliver_to(b.store(), user, "INBOX", body.as_bytes(), Flags::default())
                .unwrap()
                .uid
        })
        .collect()
}

pub fn mailbox(b: &dyn Backend, user: UserId, s: &str) -> MailboxInfo {
    b.mail()
        .mailbox_get(user, &name(s))
        .unwrap()
        .unwrap_or_else(|| panic!("mailbox {s} exists"))
}

pub fn names(b: &dyn Backend, user: UserId) -> Vec<String> {
    b.mail()
        .mailbox_list(user)
        .unwrap()
        .iter()
        .map(|m| m.name.to_string())
        .collect()
}

pub fn read_body(store: &dyn BlockingStore, blob: &hermod_store::BlobId) -> Vec<u8> {
    let mut body = Vec::new();
    store
        .open_blob(blob)
        .unwrap()
        .read_to_end(&mut body)
        .unwrap();
    body
}

pub fn used(b: &dyn Backend, local: &str) -> u64 {
    let address = Address::parse(&format!("{local}@example.test")).unwrap();
    b.store().user(&address).unwrap().unwrap().used
}
