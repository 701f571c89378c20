//! The bulk guard: an account that sends one text (the same content fingerprint, however
//! each copy is varied) to more distinct external recipients than the threshold within the
//! window gets its further copies held in the queue, and past a second threshold its
//! submission frozen until an admin acts. It applies to what an account submits, never in
//! the relay: mail that hermod itself expands (bounces, and mailing lists when they come)
//! does not pass here, so it is exempt by construction.
//!
//! Why hold rather than refuse: a held copy is on disk, so the `250` is true and nothing is
//! lost when the guard is wrong; the account and postmaster are told, and an admin releases
//! the copies (`hermod queue release`) or deletes them. A `450` would leave a compromised
//! account's spam on its bot and a legitimate sender's mail in a client that retries blindly.

use crate::pipeline::{self, Envelope, Folder};
use crate::{RcptOutcome, Router};
use hermod_store::{BulkCount, BulkScope, BulkSighting, Mail, SpamData, UserRecord};
use hermod_types::{Address, LocalPart};
use std::time::{Duration, SystemTime};

/// The guard's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardPolicy {
    /// Copies of one text may reach this many distinct external recipients per window;
    /// further copies to new recipients are held.
    pub hold_after: u64,
    /// Past this many, the account's submission is frozen (the copy that crossed is held).
    pub freeze_after: u64,
    /// The sliding window, in seconds.
    pub window: i64,
}

/// A message's content fingerprint as the guard stores it (made by `hermod_spam`'s
/// `Fingerprint`, which `core` does not depend on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentPrint {
    pub signature: Vec<u8>,
    pub bands: Vec<i64>,
    /// Numbers of two signatures that must agree for copies.
    pub min_equal: usize,
    /// A short name for logs.
    pub label: String,
}

/// What the guard decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Queue the external copy held, with this reason. `first`: this mailing's first held
    /// copy (the account and postmaster are told once, not per copy).
    Hold {
        reason: String,
        first: bool,
    },
    /// Hold, and freeze the account's submission with this reason.
    Freeze {
        reason: String,
    },
}

/// Judges a message `user` submits to `external` recipients (normalised addresses in other
/// domains) at `now`, recording its fingerprint. Accounts allowed bulk, messages without a
/// fingerprint (too little text) or without external recipients pass unrecorded. A message
/// with no earlier copy in the window passes whatever its recipient count (`max_recipients`
/// bounds one message); a copy passes while its text reached no more than `hold_after`
/// distinct recipients, or when it adds none (a follow-up to the same people).
pub async fn judge(
    data: &dyn SpamData,
    policy: &GuardPolicy,
    user: &UserRecord,
    print: Option<&ContentPrint>,
    external: &[String],
    now: i64,
) -> hermod_store::Result<Verdict> {
    let Some(print) = print.filter(|_| !external.is_empty() && !user.bulk_allowed) else {
        return Ok(Verdict::Pass);
    };
    let sighting = BulkSighting {
        scope: BulkScope::Account(user.id),
        at: now,
        since: now - policy.window,
        signature: print.signature.clone(),
        bands: print.bands.clone(),
        min_equal: print.min_equal,
        recipients: external.to_vec(),
        // Counts past the freeze threshold decide nothing more.
        cap: policy.freeze_after.saturating_add(1),
    };
    let count = data.bulk_observe(&sighting).await?;
    let verdict = decide(policy, &count);
    log(user, print, &count, &verdict, policy);
    Ok(verdict)
}

fn decide(policy: &GuardPolicy, count: &BulkCount) -> Verdict {
    if count.copies == 0 {
        return Verdict::Pass;
    }
    let reached = format!(
        "the same content went to {} distinct external recipients within {}",
        count.after,
        window_text(policy.window)
    );
    if count.after > policy.freeze_after {
        // The store counts up to one past the threshold: the count is a lower bound here.
        return Verdict::Freeze {
            reason: format!(
                "the same content went to more than {} distinct external recipients within {}",
                policy.freeze_after,
                window_text(policy.window)
            ),
        };
    }
    if count.after > policy.hold_after && count.after > count.before {
        return Verdict::Hold {
            reason: format!("{reached} (threshold {})", policy.hold_after),
            first: count.before <= policy.hold_after,
        };
    }
    Verdict::Pass
}

fn window_text(seconds: i64) -> String {
    match seconds {
        s if s % 3600 == 0 && s >= 3600 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn log(
    user: &UserRecord,
    print: &ContentPrint,
    count: &BulkCount,
    verdict: &Verdict,
    policy: &GuardPolicy,
) {
    let decision = match verdict {
        Verdict::Pass => "pass",
        Verdict::Hold { .. } => "hold",
        Verdict::Freeze { .. } => "freeze",
    };
    let (account, fingerprint) = (user.address.as_str(), print.label.as_str());
    let (copies, before, after) = (count.copies, count.before, count.after);
    let (hold_after, freeze_after) = (policy.hold_after, policy.freeze_after);
    // A first sighting is every ordinary message: debug. A copy that passed says how far
    // its mailing got (info); holds and freezes are for the admin (warn).
    if matches!(verdict, Verdict::Pass) && copies == 0 {
        tracing::debug!(
            account,
            fingerprint,
            copies,
            before,
            after,
            hold_after,
            decision,
            "bulk guard"
        );
    } else if matches!(verdict, Verdict::Pass) {
        tracing::info!(
            account,
            fingerprint,
            copies,
            before,
            after,
            hold_after,
            decision,
            "bulk guard"
        );
    } else {
        tracing::warn!(
            account,
            fingerprint,
            copies,
            before,
            after,
            hold_after,
            freeze_after,
            decision,
            "bulk guard"
        );
    }
}

/// Tells the account (its INBOX) and the postmaster of its domain (the local accounts
/// `postmaster@` leads to) why its mail was held or its submission frozen, in one commit.
/// The notice is filed, never relayed: it may quote what a compromised account sent.
pub async fn notify(
    mail: &dyn Mail,
    router: &Router,
    hostname: &str,
    user: &UserRecord,
    what: &str,
    now: i64,
) -> Result<(), String> {
    let account = Address::parse(&user.address).map_err(|e| e.to_string())?;
    let postmaster = LocalPart::parse("postmaster")
        .map(|l| Address::new(l, account.domain().clone()))
        .map_err(|e| e.to_string())?;
    // A notice from the server itself: filed, never filtered (no Sieve).
    let mut recipients = vec![crate::LocalRecipient {
        user: user.id,
        address: user.address.clone(),
        sieve: None,
        junk_threshold: None,
    }];
    match router.resolve(&postmaster, None).await {
        Ok(RcptOutcome::Local(found)) => recipients.extend(found),
        Ok(RcptOutcome::Reject(reason)) => {
            tracing::warn!(postmaster = %postmaster, ?reason, "bulk guard: no postmaster mailbox to tell");
        }
        Ok(RcptOutcome::Forward(_) | RcptOutcome::List(_)) => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = notice_text(hostname, &user.address, &postmaster.to_string(), what, now);
    let writer = mail.blob_writer().map_err(|e| e.to_string())?;
    let (writer, _) = writer
        .append(text.into_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let blob = writer.seal_async().await.map_err(|e| e.to_string())?;
    let envelope = Envelope::to_local(&recipients, Folder::Inbox, now);
    pipeline::deliver(mail, blob, &envelope)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

fn notice_text(hostname: &str, account: &str, postmaster: &str, what: &str, now: i64) -> String {
    let date = hermod_message::rfc5322_date(
        SystemTime::UNIX_EPOCH + Duration::from_secs(now.max(0) as u64),
    );
    format!(
        "Return-Path: <>\r\n\
         From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: {account}\r\n\
         Cc: {postmaster}\r\n\
         Subject: Outgoing mail of {account} held by the bulk mail guard\r\n\
         Date: {date}\r\n\
         Message-ID: <bulk-{now}-{account}@{hostname}>\r\n\
         Auto-Submitted: auto-generated\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         {what}\r\n\
         \r\n\
         Mail from this account that looks like one message sent to many addresses is kept\r\n\
         on the server instead of being sent, in case the account is being misused. Nothing\r\n\
         is lost. If the mailing is legitimate, the administrator can send it on:\r\n\
         \r\n\
         \x20   hermod queue held               (list what is held)\r\n\
         \x20   hermod queue release ID         (send one held message)\r\n\
         \x20   hermod queue delete ID          (drop it)\r\n\
         \x20   hermod user unfreeze {account}\r\n\
         \x20   hermod user bulk {account} allow   (a newsletter sender)\r\n\
         \r\n\
         If you did not send this mail, change the account's password now.\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: GuardPolicy = GuardPolicy {
        hold_after: 50,
        freeze_after: 200,
        window: 3600,
    };

    fn count(copies: u64, before: u64, after: u64) -> BulkCount {
        BulkCount {
            copies,
            before,
            after,
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(
            decide(&POLICY, &count(0, 0, 80)),
            Verdict::Pass,
            "one invitation"
        );
        assert_eq!(decide(&POLICY, &count(49, 49, 50)), Verdict::Pass);
        assert!(matches!(
            decide(&POLICY, &count(50, 50, 51)),
            Verdict::Hold { first: true, .. }
        ));
        assert!(matches!(
            decide(&POLICY, &count(60, 60, 61)),
            Verdict::Hold { first: false, .. }
        ));
        assert_eq!(
            decide(&POLICY, &count(1, 80, 80)),
            Verdict::Pass,
            "a follow-up to the same people"
        );
        let Verdict::Freeze { reason } = decide(&POLICY, &count(200, 200, 201)) else {
            panic!("freeze");
        };
        assert_eq!(
            reason,
            "the same content went to more than 200 distinct external recipients within 1 h"
        );
    }

    #[test]
    fn notice_names_the_commands() {
        let text = notice_text("mx.test", "a@b.test", "postmaster@b.test", "Why.", 0);
        assert!(text.contains("Subject: Outgoing mail of a@b.test held"));
        assert!(text.contains("hermod queue release ID"));
        assert!(text.contains("Date: Thu, 1 Jan 1970"));
        assert!(text.lines().all(|l| !l.contains('\n')));
    }
}
