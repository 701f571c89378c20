//! The inbound `BULK_DUPLICATE` count without the server: W5's messages (the `smtp`
//! workload's texts, one recipient each, round-robin over the users) fingerprinted as the
//! spam filter does and counted by the store's `bulk_observe` one after another, in an
//! embedded store or a PostgreSQL one. Times the fingerprints and the sightings apart, so
//! the store's share of W5 can be measured (and profiled) on its own.

use crate::corpus::{self, Shape};
use anyhow::{Context, Result};
use hermod_spam::fingerprint::{Fingerprint, MIN_EQUAL};
use hermod_store::SpamData;
use hermod_store::{BulkScope, BulkSighting, EmbeddedStore, PostgresOptions, PostgresStore};
use std::time::{Duration, Instant};

pub struct Plan {
    pub target: crate::users::Target,
    pub messages: usize,
    pub size: usize,
    pub users: usize,
    /// The rule's threshold, which is the sighting's cap (`[bulk] inbound_recipients`).
    pub cap: u64,
}

pub async fn run(plan: Plan) -> Result<()> {
    match &plan.target {
        crate::users::Target::Embedded(dir) => {
            let dir = dir.clone();
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir))
                .await?
                .context("opening the embedded store")?;
            sight_all(&store, &plan).await
        }
        crate::users::Target::Postgres(url) => {
            let spill = std::env::temp_dir().join(format!("loadgen-pg-{}", std::process::id()));
            let mut options = PostgresOptions::new(url);
            options.tmp_dir = spill.clone();
            let store = PostgresStore::connect(&options)
                .await
                .context("connecting to the database")?;
            let result = sight_all(&store, &plan).await;
            let _ = std::fs::remove_dir_all(spill);
            result
        }
    }
}

async fn sight_all(store: &dyn SpamData, plan: &Plan) -> Result<()> {
    let (mut printing, mut sighting) = (Duration::ZERO, Duration::ZERO);
    let (mut copies, mut fired) = (0u64, 0u64);
    // W5's clock: the whole run inside one window, a second per 100 messages.
    let start = 1_795_860_000;
    for n in 0..plan.messages {
        let text = corpus::message(plan.size, n, &Shape::default());
        let begun = Instant::now();
        let print = Fingerprint::of(text.as_bytes()).context("a W5 text has a fingerprint")?;
        printing += begun.elapsed();
        let at = start + (n / 100) as i64;
        let observe = BulkSighting {
            scope: BulkScope::Inbound,
            at,
            since: at - 3600,
            signature: print.to_bytes(),
            bands: print.bands(),
            min_equal: MIN_EQUAL,
            recipients: vec![format!("user{}@example.test", n % plan.users + 1)],
            cap: plan.cap,
        };
        let begun = Instant::now();
        let count = store.bulk_observe(&observe).await?;
        sighting += begun.elapsed();
        copies += u64::from(count.copies > 0);
        fired += u64::from(count.after >= plan.cap);
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / plan.messages.max(1) as f64;
    println!(
        "workload=bulk messages={} fingerprint_us={:.1} sighting_us={:.1} copies={copies} \
         fired={fired}",
        plan.messages,
        per(printing),
        per(sighting)
    );
    Ok(())
}
