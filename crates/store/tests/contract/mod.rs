//! The store's contract, written once over the async roles (`Directory`, `Mail`, `Queue`,
//! `SpamData`: a [`Store`]) so that every backend runs the same functions: a backend's test
//! file implements [`Backend`] and calls each `pub async fn` here from a `#[tokio::test]`
//! (multi-threaded: the concurrency contracts race real tasks).

// A backend's test file may not use every helper.
#![allow(dead_code)]

/// Every contract, for a backend's test file to wrap each in a test: `every_contract!(m)`
/// calls `m!(name, ...)` with all of them, so a contract added here runs on every backend.
macro_rules! every_contract {
    ($wrap:ident) => {
        $wrap!(
            // Mail: messages and mailboxes.
            uids_are_unique_and_ordered_under_concurrent_appends,
            every_change_bumps_modseq_and_nothing_bypasses_the_log,
            flags_and_keywords_change_atomically,
            add_flags_keeps_what_is_set,
            unchanged_since_lets_exactly_one_writer_win,
            expunged_uids_are_reported_as_vanished,
            copy_and_move_share_one_body,
            copies_count_against_the_quota,
            several_bodies_are_filed_all_or_none,
            quota_holds_under_concurrent_delivery,
            status_matches_a_full_listing,
            messages_in_lists_a_uid_range,
            bodies_read_whole_in_part_and_streamed,
            create_makes_parents_and_fresh_uid_validity,
            inbox_is_case_insensitive,
            rename_moves_the_hierarchy,
            rename_of_inbox_moves_its_messages,
            delete_rules,
            subscriptions_are_names,
            special_use_lookup,
            body_cache_follows_its_body,
            // Mail: change notifications.
            subscribers_wake_on_local_changes,
            callbacks_stop_when_the_subscription_is_dropped,
            every_subscriber_of_a_user_wakes,
            subscribers_wake_on_changes_from_another_handle,
            // Queue.
            a_submission_is_filed_and_queued_together,
            several_bodies_are_filed_and_the_first_queued_together,
            a_claimed_entry_is_nobody_elses_until_its_lease_runs_out,
            a_released_entry_is_free_again,
            claims_take_at_most_their_limit,
            recipients_keep_their_own_state,
            a_bounce_replaces_its_entry_in_one_commit,
            a_bounce_to_a_local_sender_is_filed,
            a_delay_notice_marks_its_entry,
            held_entries_wait_for_release,
            // Directory.
            domains_are_removed_only_when_empty,
            users_have_their_mailboxes_and_passwords,
            aliases_and_catch_alls,
            lookup_address_gives_everything_routing_needs,
            send_as_patterns_are_replaced,
            dkim_keys_per_domain_and_selector,
            bulk_permission_and_freezing,
            dkim_rotations_add_all_or_none_and_one_wins,
            own_junk_threshold_is_kept,
            // Coordination.
            a_lease_has_one_owner_until_it_runs_out,
            a_contended_lease_goes_to_one,
            counters_sum_their_window,
            every_handle_shares_one_secret,
            // Spam data.
            bayes_counts_add_up_per_model,
            bayes_calibration_is_replaced_and_moves_the_generation,
            a_lesson_raced_by_another_is_refused_whole,
            greylisting_waits_then_passes_then_knows,
            correspondents_are_kept_per_account_and_capped,
            bulk_copies_count_distinct_recipients_per_scope,
            bulk_campaign_keeps_one_cluster,
            bulk_window_slides_under_the_cap,
            bulk_distinct_contents_stay_apart,
            bulk_copy_found_among_chance_collisions,
            // Sieve scripts.
            sieve_scripts_have_one_active,
            sieve_seen_remembers_until_expiry,
            // Mailing lists.
            list_addresses_are_nobody_elses,
            list_members_bounce_and_suspend,
            held_posts_are_taken_once,
            tokens_are_single_use_and_expire,
            // Accounts.
            admins_are_marked_per_account,
            app_passwords_are_named_revocable_and_private,
        );
    };
}

mod accounts;
mod bulk;
mod cache;
mod coordination;
mod directory;
mod folders;
mod lists;
mod messages;
mod queue;
mod scripts;
mod spam;
mod watching;

pub use accounts::*;
pub use bulk::*;
pub use cache::*;
pub use coordination::*;
pub use directory::*;
pub use folders::*;
pub use lists::*;
pub use messages::*;
pub use queue::*;
pub use scripts::*;
pub use spam::*;
pub use watching::*;

use hermod_store::{
    BlobId, ChangeSubscription, Delivered, DeliveryTarget, Flags, MailboxInfo, SealedBlob, Store,
    StoreError, UserId,
};
use hermod_types::{Address, Domain, MailboxName, Uid};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// A store under test, and a way to open its data again as another process would.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The store (cheap: the same handle every time).
    fn store(&self) -> Arc<dyn Store>;
    /// A second, independent handle on the same data (another process, e.g. the CLI).
    async fn second(&self) -> Box<dyn Backend>;
    /// How many rows `table` holds (the same table names on every backend): for contracts
    /// that bound what the store keeps.
    async fn rows(&self, table: &str) -> u64;
}

pub fn name(s: &str) -> MailboxName {
    MailboxName::parse(s).unwrap()
}

pub fn uid(n: u32) -> Uid {
    Uid::new(n).unwrap()
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub fn domain(s: &str) -> Domain {
    Domain::parse(s).unwrap()
}

pub fn flags(bits: u8, keywords: &[&str]) -> Flags {
    Flags {
        bits,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

/// A user of `example.test` (the domain is added when missing).
pub async fn user(b: &dyn Backend, local: &str, quota: Option<u64>) -> UserId {
    let store = b.store();
    match store.add_domain(&domain("example.test")).await {
        Ok(()) | Err(StoreError::DomainExists(_)) => {}
        Err(e) => panic!("add_domain: {e}"),
    }
    let address = addr(&format!("{local}@example.test"));
    store.add_user(&address, "hash", quota).await.unwrap()
}

/// A sealed body, written the way async callers write one.
pub async fn seal(store: &dyn Store, body: &[u8]) -> Result<SealedBlob, StoreError> {
    let (writer, _) = store.blob_writer()?.append(body.to_vec()).await?;
    writer.seal_async().await
}

pub fn target(user: UserId, mailbox: &str, flags: Flags) -> DeliveryTarget {
    DeliveryTarget {
        user,
        mailbox: name(mailbox),
        flags,
        internal_date: 1_700_000_000,
    }
}

pub async fn deliver_to(
    store: &dyn Store,
    user: UserId,
    mailbox: &str,
    body: &[u8],
    flags: Flags,
) -> Result<Delivered, StoreError> {
    let blob = seal(store, body).await?;
    let targets = [target(user, mailbox, flags)];
    let mut submitted = store.submit(blob, &targets, None).await?;
    assert_eq!(submitted.queue_id, None, "nothing to queue");
    Ok(submitted.delivered.remove(0))
}

/// Delivers `n` small messages to the INBOX; returns their UIDs.
pub async fn fill(b: &dyn Backend, user: UserId, n: u32) -> Vec<Uid> {
    let store = b.store();
    let mut uids = Vec::new();
    for i in 0..n {
        let body = format!("Subject: {i}\r\n\r\nbody {i}\r\n");
        let delivered = deliver_to(&*store, user, "INBOX", body.as_bytes(), Flags::default())
            .await
            .unwrap();
        uids.push(delivered.uid);
    }
    uids
}

pub async fn mailbox(b: &dyn Backend, user: UserId, s: &str) -> MailboxInfo {
    b.store()
        .mailbox(user, &name(s))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("mailbox {s} exists"))
}

pub async fn names(b: &dyn Backend, user: UserId) -> Vec<String> {
    b.store()
        .mailboxes(user)
        .await
        .unwrap()
        .iter()
        .map(|m| m.name.to_string())
        .collect()
}

pub async fn read_body(store: &dyn Store, blob: &BlobId) -> Vec<u8> {
    store.read_blob(blob, None).await.unwrap()
}

pub async fn used(b: &dyn Backend, local: &str) -> u64 {
    let address = addr(&format!("{local}@example.test"));
    b.store().user(&address).await.unwrap().unwrap().used
}

/// Change notifications as an async session takes them: the callback wakes a [`Notify`]
/// (and counts), the session awaits it with a timeout.
pub struct Watch {
    woken: Arc<Notify>,
    calls: Arc<AtomicUsize>,
    subscription: ChangeSubscription,
}

impl Watch {
    pub async fn new(store: &dyn Store, user: UserId) -> Watch {
        let woken = Arc::new(Notify::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let (notify, counter) = (woken.clone(), calls.clone());
        let callback = Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            notify.notify_one();
        });
        let subscription = store.on_change(user, callback).await.unwrap();
        assert_eq!(subscription.user(), user);
        Watch {
            woken,
            calls,
            subscription,
        }
    }

    /// Whether a wake-up not yet taken comes within `within` (at once if one is pending).
    pub async fn woken(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.woken.notified())
            .await
            .is_ok()
    }

    /// How often the callback ran so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Drops the subscription; the returned counter shows any later calls.
    pub fn stop(self) -> Arc<AtomicUsize> {
        drop(self.subscription);
        self.calls
    }
}
