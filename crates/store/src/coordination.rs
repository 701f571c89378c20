//! [`Coordination`] in memory: what the embedded store (one process) and tests use.

use crate::Result;
use crate::roles::Coordination;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// The counters' buckets per window (see [`Coordination::counter_add`]).
pub const COUNTER_BUCKETS: i64 = 16;

/// Leases and windowed counters of one process.
#[derive(Debug, Default)]
pub struct MemoryCoordination {
    leases: Mutex<HashMap<String, (String, i64)>>,
    counters: Mutex<HashMap<String, Counter>>,
    /// Shared secrets, for tests (the embedded store keeps its secrets in files).
    secrets: Mutex<HashMap<String, Vec<u8>>>,
}

/// (bucket start, amount), oldest first.
#[derive(Debug, Default)]
struct Counter {
    buckets: Vec<(i64, i64)>,
}

/// The bucket of `now` for a window: its width is `window / 16`, at least a second.
pub fn bucket_of(now: i64, window: i64) -> (i64, i64) {
    let width = (window / COUNTER_BUCKETS).max(1);
    (now - now.rem_euclid(width), width)
}

impl Counter {
    fn add(&mut self, amount: i64, now: i64, window: i64) -> i64 {
        let (bucket, _) = bucket_of(now, window);
        self.buckets.retain(|(start, _)| *start > now - window);
        match self.buckets.last_mut() {
            Some((start, sum)) if *start == bucket => *sum += amount,
            _ => self.buckets.push((bucket, amount)),
        }
        self.buckets.iter().map(|(_, n)| n).sum()
    }
}

#[async_trait]
impl Coordination for MemoryCoordination {
    async fn lease_take(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if leases.len() > SWEEP_AT {
            leases.retain(|_, (_, held_until)| *held_until > now);
        }
        match leases.get(name) {
            Some((holder, held_until)) if holder != owner && *held_until > now => Ok(false),
            _ => {
                leases.insert(name.to_owned(), (owner.to_owned(), until));
                Ok(true)
            }
        }
    }

    async fn lease_release(&self, name: &str, owner: &str) -> Result<()> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if leases.get(name).is_some_and(|(holder, _)| holder == owner) {
            leases.remove(name);
        }
        Ok(())
    }

    async fn lease_until(&self, name: &str, now: i64) -> Result<Option<i64>> {
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        Ok(leases
            .get(name)
            .map(|(_, until)| *until)
            .filter(|until| *until > now))
    }

    async fn counter_add(&self, key: &str, amount: i64, now: i64, window: i64) -> Result<i64> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if counters.len() > SWEEP_AT {
            counters.retain(|_, c| {
                c.buckets
                    .last()
                    .is_some_and(|(start, _)| *start > now - window)
            });
        }
        Ok(counters
            .entry(key.to_owned())
            .or_default()
            .add(amount, now, window))
    }

    async fn counter_reset(&self, key: &str) -> Result<()> {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        Ok(())
    }

    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>> {
        let mut secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(secret) = secrets.get(name) {
            return Ok(secret.clone());
        }
        let secret = crate::secrets::new_secret()?;
        secrets.insert(name.to_owned(), secret.clone());
        Ok(secret)
    }
}

#[async_trait]
impl Coordination for crate::EmbeddedStore {
    async fn lease_take(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        self.coordination.lease_take(name, owner, now, until).await
    }

    async fn lease_release(&self, name: &str, owner: &str) -> Result<()> {
        self.coordination.lease_release(name, owner).await
    }

    async fn lease_until(&self, name: &str, now: i64) -> Result<Option<i64>> {
        self.coordination.lease_until(name, now).await
    }

    async fn counter_add(&self, key: &str, amount: i64, now: i64, window: i64) -> Result<i64> {
        self.coordination
            .counter_add(key, amount, now, window)
            .await
    }

    async fn counter_reset(&self, key: &str) -> Result<()> {
        self.coordination.counter_reset(key).await
    }

    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>> {
        // A file beside the index, as before there were several backends: backups carry it.
        let dir = self.inner.data_dir().to_owned();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || crate::secrets::secret_file(&dir, &name))
            .await
            .map_err(|e| crate::StoreError::TaskFailed(e.to_string()))?
    }
}
