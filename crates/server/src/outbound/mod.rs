//! Outbound delivery: the queue runner that relays queued mail to other servers, with
//! retries and bounces; MTA-STS policies (`mtasts`) and the TLS reports (`tlsrpt`); which
//! DKIM keys sign after a rotation (`dkim`).

mod client;
pub(crate) mod dkim;
pub(crate) mod dns;
pub(crate) mod mtasts;
mod runner;
pub(crate) mod tlsrpt;

pub(crate) use client::Pool;
pub(crate) use runner::run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A semaphore per destination domain, made on first use.
pub(crate) struct DomainSlots {
    per_domain: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl DomainSlots {
    pub fn new(per_domain: usize) -> DomainSlots {
        DomainSlots {
            per_domain,
            slots: Mutex::default(),
        }
    }

    pub async fn acquire(&self, domain: &str) -> Option<OwnedSemaphorePermit> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < self.per_domain);
            slots
                .entry(domain.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_domain)))
                .clone()
        };
        slot.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::DomainSlots;
    use std::time::Duration;

    #[tokio::test]
    async fn one_domain_cannot_take_every_slot() {
        let slots = DomainSlots::new(1);
        let first = slots.acquire("far.test").await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), slots.acquire("far.test")).await;
        assert!(blocked.is_err(), "a second delivery to far.test waits");
        assert!(
            slots.acquire("other.test").await.is_some(),
            "other domains go on"
        );
        drop(first);
        assert!(slots.acquire("far.test").await.is_some());
    }
}
