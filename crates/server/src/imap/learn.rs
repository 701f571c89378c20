//! The spam filter learns from the user: a message moved or copied into Junk (the mailbox
//! with the `\Junk` special use) is spam to its owner; one taken out of Junk, anywhere but
//! Trash, is ham. Lessons go into the user's own Bayesian counts (the server-wide model stays
//! as `hermod spam train` made it), de-duplicated by digest the same way.
//!
//! The same moves teach who the user's known senders are (`hermod_spam::authorship`).
//!
//! Learning runs after the command has answered: reading and tokenizing a large selection
//! must not hold up the client, and a lesson is not worth failing a MOVE for.

use crate::Context;
use hermod_message::unix_now;
use hermod_spam::Class;
use hermod_spam::authorship::authenticated_author_of;
use hermod_spam::training::{Training, digest};
use hermod_store::{BayesCounts, BlobId, LearnedMessage, SpecialUse, Store, StoreError, UserId};
use std::sync::Arc;

/// One lesson at a time in this process, so lessons are learned in the order the moves were
/// made. (Two learners anywhere, another node or the CLI, cannot count a message twice: the
/// store refuses a lesson raced by another, `StoreError::LessonRaced`, and it is worked out
/// again.)
static LESSONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How often a lesson is worked out again when other learners keep changing the model
/// under it.
const LESSON_ATTEMPTS: usize = 5;

/// What moving mail from a mailbox of special use `from` to one of `to` teaches, if anything.
pub(super) fn lesson(from: Option<SpecialUse>, to: Option<SpecialUse>) -> Option<Class> {
    let junk = |u: Option<SpecialUse>| u == Some(SpecialUse::Junk);
    match (junk(from), junk(to)) {
        (false, true) => Some(Class::Spam),
        // Deleting spam says nothing about it.
        (true, false) if to != Some(SpecialUse::Trash) => Some(Class::Ham),
        _ => None,
    }
}

/// Bodies read per lesson when a whole Junk folder is learned: a slice at a time, so
/// memory stays bounded by this many messages of at most the scan size each.
const LESSON_BATCH: usize = 64;

/// What learning an account's Junk folder did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JunkLessons {
    /// Messages in the Junk folder (none when the account has no Junk folder).
    pub in_junk: usize,
    /// Of those, the ones the account's model had not learned as spam before.
    pub learned: usize,
}

/// Teaches `user`'s own model that every message in its Junk folder is spam (the account
/// spam page's button and `hermod spam learn-junk`); a message learned before counts once.
/// A running server sees the lesson when it next checks the store's Bayes generation.
pub async fn learn_junk_folder(
    store: &dyn Store,
    user: UserId,
    limit: u64,
) -> Result<JunkLessons, StoreError> {
    let blobs: Vec<BlobId> = match store.mailbox_by_special_use(user, SpecialUse::Junk).await? {
        None => Vec::new(),
        Some(junk) => store
            .messages(junk.id)
            .await?
            .into_iter()
            .map(|m| m.blob)
            .collect(),
    };
    let mut learned = 0;
    for batch in blobs.chunks(LESSON_BATCH) {
        learned += learn(store, user, batch, Class::Spam, limit).await?;
    }
    Ok(JunkLessons {
        in_junk: blobs.len(),
        learned,
    })
}

/// Learns `class` from the bodies `blobs` (their first `limit` octets, what a scan reads)
/// into `user`'s model, and from their authors who the user's known senders are, on a task
/// of its own; the filter then reads that model again.
pub(super) fn learn_later(ctx: Arc<Context>, user: UserId, blobs: Vec<BlobId>, class: Class) {
    let limit = ctx.config.spam.max_scan_size;
    tokio::spawn(async move {
        // Taken first, so lessons are learned in the order the moves were made.
        let _one_at_a_time = LESSONS.lock().await;
        let bodies = read_bodies(ctx.store.as_ref(), &blobs, limit).await;
        let (bodies, senders) = learn_senders(&ctx, user, bodies, class).await;
        match senders {
            Ok(0) => {}
            Ok(n) => tracing::info!(user = user.0, senders = n, ?class, "known senders: learned"),
            Err(e) => tracing::warn!(user = user.0, error = %e, "known senders: not learned"),
        }
        match learn_messages(ctx.store.as_ref(), Some(user), bodies, class).await {
            Ok(n) => {
                ctx.spam.forget_personal(user);
                tracing::info!(
                    user = user.0,
                    learned = n,
                    ?class,
                    "spam filter: learned from a move"
                );
            }
            Err(e) => {
                tracing::warn!(user = user.0, error = %e, "spam filter: cannot learn from a move")
            }
        }
    });
}

/// What a move teaches about senders (`[spam] known_senders`): the authenticated authors of
/// mail taken out of Junk become the account's known senders (`KNOWN_SENDER` on their next
/// mail), and those of mail put into Junk are forgotten. Gives `bodies` back, with how many
/// authors it named.
async fn learn_senders(
    ctx: &Context,
    user: UserId,
    bodies: Vec<Vec<u8>>,
    class: Class,
) -> (Vec<Vec<u8>>, Result<usize, StoreError>) {
    if !ctx.config.spam.known_senders {
        return (bodies, Ok(0));
    }
    let hostname = ctx.config.hostname.clone();
    let read = cpu(move || {
        let mut authors: Vec<String> = (bodies.iter())
            .filter_map(|body| authenticated_author_of(body, &hostname))
            .collect();
        authors.sort_unstable();
        authors.dedup();
        (bodies, authors)
    })
    .await;
    let (bodies, authors) = match read {
        Ok(read) => read,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let store = ctx.store.as_ref();
    let noted = match class {
        _ if authors.is_empty() => Ok(()),
        Class::Ham => store.correspondents_note(user, &authors, unix_now()).await,
        Class::Spam => store.correspondents_forget(user, &authors).await,
    };
    (bodies, noted.map(|()| authors.len()))
}

/// Returns how many messages were new lessons.
pub(crate) async fn learn(
    store: &dyn Store,
    user: UserId,
    blobs: &[BlobId],
    class: Class,
    limit: u64,
) -> Result<usize, StoreError> {
    // Taken first, so lessons are learned in the order the moves were made.
    let _one_at_a_time = LESSONS.lock().await;
    let bodies = read_bodies(store, blobs, limit).await;
    learn_messages(store, Some(user), bodies, class).await
}

/// The first `limit` octets of each of `blobs` still there.
async fn read_bodies(store: &dyn Store, blobs: &[BlobId], limit: u64) -> Vec<Vec<u8>> {
    let mut bodies = Vec::with_capacity(blobs.len());
    for blob in blobs {
        match store.read_blob(blob, Some(limit)).await {
            Ok(body) => bodies.push(body),
            // Expunged meanwhile (its body gone): nothing to learn from it.
            Err(e) => tracing::debug!(error = %e, "spam filter: a moved message cannot be read"),
        }
    }
    bodies
}

/// Learns `class` from `bodies` into `owner`'s model (`None`: the server-wide one, as the
/// web interface's spam page teaches it); returns how many were new lessons. The caller
/// holds `LESSONS`.
async fn learn_messages(
    store: &dyn Store,
    owner: Option<UserId>,
    bodies: Vec<Vec<u8>>,
    class: Class,
) -> Result<usize, StoreError> {
    // Hashing and tokenizing are CPU work: off the runtime's threads.
    let (bodies, digests) = cpu(move || {
        let digests: Vec<Vec<u8>> = bodies.iter().map(|b| digest(b)).collect();
        (bodies, digests)
    })
    .await?;
    let bodies = Arc::new(bodies);
    let mut attempt = 1;
    loop {
        let before = store.bayes_seen(owner, &digests).await?;
        let (bodies, digests) = (bodies.clone(), digests.clone());
        let training = cpu(move || {
            let mut training = Training::default();
            for ((body, digest), before) in bodies.iter().zip(digests).zip(before) {
                training.add(body, digest, before, class);
            }
            training
        })
        .await?;
        if training.seen.is_empty() {
            return Ok(0);
        }
        let (counts, seen) = stored_lesson(&training);
        match store.bayes_learn(owner, &counts, &seen).await {
            Err(StoreError::LessonRaced) if attempt < LESSON_ATTEMPTS => attempt += 1,
            learned => return learned.map(|()| seen.len()),
        }
    }
}

/// A batch of lessons as the store takes it: the counts to add, and each message learned
/// with what the model knew it as before (the store checks that it still does).
pub fn stored_lesson(training: &Training) -> (BayesCounts, Vec<LearnedMessage>) {
    let delta = training.delta();
    let counts = BayesCounts {
        spam_messages: delta.spam_messages,
        ham_messages: delta.ham_messages,
        tokens: delta.tokens,
    };
    let seen = (training.seen.iter())
        .map(|learned| LearnedMessage {
            digest: learned.digest.clone(),
            spam: learned.spam,
            before: learned.before,
        })
        .collect();
    (counts, seen)
}

/// An administrator's lesson for the server-wide model: `message` is `class`.
pub(crate) async fn learn_server_wide(
    store: &dyn Store,
    message: Vec<u8>,
    class: Class,
) -> Result<usize, StoreError> {
    let _one_at_a_time = LESSONS.lock().await;
    learn_messages(store, None, vec![message], class).await
}

async fn cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::TaskFailed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_junk_is_spam_out_of_junk_is_ham_but_not_into_trash() {
        use SpecialUse::{Junk, Sent, Trash};
        assert_eq!(lesson(None, Some(Junk)), Some(Class::Spam));
        assert_eq!(lesson(Some(Sent), Some(Junk)), Some(Class::Spam));
        assert_eq!(lesson(Some(Junk), None), Some(Class::Ham));
        assert_eq!(lesson(Some(Junk), Some(Trash)), None);
        assert_eq!(lesson(Some(Junk), Some(Junk)), None);
        assert_eq!(lesson(None, Some(Trash)), None);
    }
}
