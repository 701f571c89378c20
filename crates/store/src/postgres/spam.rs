//! The `SpamData` role on PostgreSQL.
//!
//! PLACEHOLDER: every method answers "not on PostgreSQL yet" until this file is written.
//! `[store] backend = "postgres"` is refused while any placeholder is left.

use super::{PostgresStore, not_yet};
#[allow(unused_imports)]
use crate::roles::*;
#[allow(unused_imports)]
use crate::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use hermod_types::{Address, Domain, MailboxName, Uid};

#[async_trait]
impl SpamData for PostgresStore {
    async fn bayes_load(&self, _owner: Option<UserId>) -> Result<BayesCounts> {
        Err(not_yet("bayes_load"))
    }

    async fn bayes_learn(
        &self,
        _owner: Option<UserId>,
        _update: &BayesCounts,
        _seen: &[LearnedMessage],
    ) -> Result<()> {
        Err(not_yet("bayes_learn"))
    }

    async fn bayes_seen(
        &self,
        _owner: Option<UserId>,
        _digests: &[Vec<u8>],
    ) -> Result<Vec<Option<bool>>> {
        Err(not_yet("bayes_seen"))
    }

    async fn bayes_generation(&self) -> Result<i64> {
        Err(not_yet("bayes_generation"))
    }

    async fn greylist(&self, _key: &str, _now: i64, _delay: i64) -> Result<GreylistState> {
        Err(not_yet("greylist"))
    }

    async fn bulk_observe(&self, _sighting: &BulkSighting) -> Result<BulkCount> {
        Err(not_yet("bulk_observe"))
    }
}
