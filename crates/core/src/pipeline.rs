//! The delivery pipeline: every way a message enters hermod (mail from other servers,
//! submission, bounces and delay notices, `hermod import`) ends here. It decides which
//! mailbox each local copy goes to and hands the body, the copies and the remote recipients
//! to the store in one commit, so a message is kept for every recipient or for none.
//!
//! This is where per-recipient decisions plug in: a Sieve script picks the folder and the
//! flags of its user's copy, a mailing list turns one recipient into its members, the bulk
//! guard holds what an account blasts. Each step sees the typed envelope, never SMTP.

use crate::LocalRecipient;
use hermod_store::{
    Delivered, DeliveryTarget, Flags, Mail, Outbound, Result, SealedBlob, SpecialUse, UserId,
};
use hermod_types::MailboxName;

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
    })
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
