//! Which DKIM keys sign a domain's outgoing mail after a key rotation: the newest whose
//! record DNS serves (`hermod_core::dkim::signing_keys_published`). The answers are kept a
//! while, so a domain's mail costs a DNS question only now and then, and only once it was
//! rotated: a domain with one key per algorithm signs with it without asking.

use super::mtasts::Sts;
use hermod_store::DkimKeyRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a record seen is trusted to stay: records are replaced rarely, and one that
/// disappears is a mistake `hermod check` reports.
const SEEN_FOR: Duration = Duration::from_secs(3600);
/// How soon a record not seen is asked for again: a new one signs within this after it
/// is published (and the resolver's negative cache let it through).
const UNSEEN_FOR: Duration = Duration::from_secs(300);

/// Which selectors' records DNS was seen to serve, and when that was asked.
#[derive(Default)]
pub(crate) struct Published {
    answers: Mutex<HashMap<String, (bool, Instant)>>,
}

impl Published {
    /// The keys of `domain` (all of `stored`) that sign now.
    pub async fn signing_keys(
        &self,
        sts: &Sts,
        domain: &str,
        stored: &[DkimKeyRecord],
    ) -> Vec<DkimKeyRecord> {
        if !hermod_core::dkim::rotated(stored) {
            return hermod_core::dkim::signing_keys(stored);
        }
        let mut published = Vec::with_capacity(stored.len());
        for key in stored {
            if self.is_published(sts, domain, key).await {
                published.push(key);
            }
        }
        hermod_core::dkim::signing_keys_published(stored, |key| published.contains(&key))
    }

    async fn is_published(&self, sts: &Sts, domain: &str, key: &DkimKeyRecord) -> bool {
        let name = format!("{}._domainkey.{domain}", key.selector);
        if let Some(known) = self.known(&name) {
            return known;
        }
        let Some(found) = sts.txt_answer(&name).await else {
            // DNS gave no answer: what it said last still holds (a blip must not make an
            // unpublished key sign), and it is asked again next time.
            tracing::debug!(record = %name, "DKIM record check: DNS gave no answer");
            return self.last_answer(&name).unwrap_or(false);
        };
        let published = found
            .iter()
            .any(|text| hermod_core::dkim::record_matches(text, key));
        if !published {
            tracing::info!(record = %name, "DKIM key not published yet: the older key signs");
        }
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.insert(name, (published, Instant::now()));
        published
    }

    fn last_answer(&self, name: &str) -> Option<bool> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.get(name).map(|(published, _)| *published)
    }

    fn known(&self, name: &str) -> Option<bool> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let &(published, asked) = answers.get(name)?;
        let keep = if published { SEEN_FOR } else { UNSEEN_FOR };
        (asked.elapsed() < keep).then_some(published)
    }
}
