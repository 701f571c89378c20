//! The `Queue` role on PostgreSQL.
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
impl Queue for PostgresStore {
    async fn queue(&self) -> Result<Vec<QueueEntry>> {
        Err(not_yet("queue"))
    }

    async fn queue_claim(
        &self,
        _owner: &str,
        _now: i64,
        _lease: i64,
        _limit: usize,
    ) -> Result<Vec<QueuedMessage>> {
        Err(not_yet("queue_claim"))
    }

    async fn queue_renew(&self, _owner: &str, _ids: &[i64], _until: i64) -> Result<Vec<i64>> {
        Err(not_yet("queue_renew"))
    }

    async fn queue_release(&self, _owner: &str, _id: i64) -> Result<()> {
        Err(not_yet("queue_release"))
    }

    async fn queued(&self, _id: i64) -> Result<Option<QueuedMessage>> {
        Err(not_yet("queued"))
    }

    async fn queue_record(
        &self,
        _owner: &str,
        _id: i64,
        _results: &[(String, QueueUpdate)],
    ) -> Result<bool> {
        Err(not_yet("queue_record"))
    }

    async fn queue_outcomes(&self, _id: i64) -> Result<Vec<RecipientOutcome>> {
        Err(not_yet("queue_outcomes"))
    }

    async fn queue_finish(&self, _id: i64, _bounce: Option<Report>) -> Result<()> {
        Err(not_yet("queue_finish"))
    }

    async fn queue_remove(&self, _id: i64) -> Result<bool> {
        Err(not_yet("queue_remove"))
    }

    async fn queue_delay_notice(&self, _id: i64, _notice: Report) -> Result<()> {
        Err(not_yet("queue_delay_notice"))
    }

    async fn queue_retry_now(&self, _id: Option<i64>, _now: i64) -> Result<usize> {
        Err(not_yet("queue_retry_now"))
    }

    async fn queue_release_held(&self, _id: i64, _now: i64) -> Result<bool> {
        Err(not_yet("queue_release_held"))
    }
}

/// Adds a queue entry for the stored body `blob` (already written in this transaction)
/// with `outbound`'s recipients due now; its id.
pub(super) async fn insert_entry(
    _tx: &tokio_postgres::Transaction<'_>,
    _blob: &BlobId,
    _outbound: &Outbound,
) -> Result<i64> {
    Err(not_yet("insert_entry"))
}
