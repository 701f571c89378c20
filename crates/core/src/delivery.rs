//! Local delivery: one stored body filed into every recipient's mailbox, all or nothing.

use crate::LocalRecipient;
use hermod_store::{Delivered, DeliveryTarget, Flags, Mail, Result, SealedBlob};
use hermod_types::MailboxName;

/// Files `blob` into the INBOX of each distinct recipient. Returns after the store made it
/// durable. Fails as a whole (e.g. `OverQuota`), in which case nobody got the message.
pub async fn deliver_local(
    mail: &dyn Mail,
    blob: SealedBlob,
    recipients: &[LocalRecipient],
    internal_date: i64,
) -> Result<Vec<Delivered>> {
    let targets = inbox_targets(recipients, internal_date);
    Ok(mail.submit(blob, &targets, None).await?.delivered)
}

/// One INBOX copy per distinct account.
pub fn inbox_targets(recipients: &[LocalRecipient], internal_date: i64) -> Vec<DeliveryTarget> {
    let inbox = MailboxName::inbox();
    let mut targets: Vec<DeliveryTarget> = Vec::with_capacity(recipients.len());
    for rcpt in recipients {
        if targets.iter().any(|t| t.user == rcpt.user) {
            continue;
        }
        targets.push(DeliveryTarget {
            user: rcpt.user,
            mailbox: inbox.clone(),
            flags: Flags::default(),
            internal_date,
        });
    }
    targets
}
