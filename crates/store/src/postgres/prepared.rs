//! Statements prepared once per pooled connection, for the paths every delivery takes.
//!
//! `query_typed` sends a statement's text with each call: PostgreSQL parses and plans it
//! every time, which was most of its CPU per delivery (docs/NODES.md, "Where PostgreSQL's
//! CPU goes"). A statement here is prepared on a connection the first time that
//! connection runs it and kept in the pool's per-connection cache (deadpool's
//! `StatementCache`), so later calls send only the parameters and PostgreSQL reuses the
//! parse tree and, after a few runs, a generic plan.
//!
//! Statements kept here name their result columns (no `*` over a table): a cached
//! statement whose result columns change under it (a later schema version applied by a
//! newer node) would fail with "cached plan must not change result type" instead of being
//! re-planned. Other schema changes (indexes, new columns) make PostgreSQL re-plan it.
//!
//! A transaction that did not come from the pool (none today; the type allows it) runs the
//! same text with `query_typed`: the same result, one parse more.

use deadpool_postgres::StatementCache;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Error, Row, Transaction};

/// A statement's parameters with their types (the types name the cached statement).
pub(crate) type Params<'p> = [(&'p (dyn ToSql + Sync), Type)];

/// Where statements run: a client or a transaction, with its connection's cache.
#[derive(Clone, Copy)]
pub(crate) struct Prepared<'a> {
    client: &'a Client,
    cache: Option<&'a StatementCache>,
}

impl<'a> Prepared<'a> {
    /// Statements on a pooled transaction, prepared once on its connection.
    pub(crate) fn tx(tx: &'a deadpool_postgres::Transaction<'_>) -> Self {
        Prepared {
            client: tx.client(),
            cache: Some(&tx.statement_cache),
        }
    }

    /// Statements on a pooled connection outside a transaction.
    pub(crate) fn client(client: &'a deadpool_postgres::ClientWrapper) -> Self {
        Prepared {
            client,
            cache: Some(&client.statement_cache),
        }
    }

    /// Statements on a transaction without a cache: parsed on every call.
    pub(crate) fn uncached(tx: &'a Transaction<'_>) -> Self {
        Prepared {
            client: tx.client(),
            cache: None,
        }
    }

    pub(crate) async fn query(&self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, Error> {
        let Some(cache) = self.cache else {
            return self.client.query_typed(sql, params).await;
        };
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        let statement = cache.prepare_typed(self.client, sql, &types).await?;
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        self.client.query(&statement, &values).await
    }

    /// The one row the statement returns, if any (more than one is an error).
    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Option<Row>, Error> {
        let Some(cache) = self.cache else {
            return self.client.query_typed_opt(sql, params).await;
        };
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        let statement = cache.prepare_typed(self.client, sql, &types).await?;
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        self.client.query_opt(&statement, &values).await
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) async fn execute(&self, sql: &str, params: &Params<'_>) -> Result<u64, Error> {
        let Some(cache) = self.cache else {
            return self.client.execute_typed(sql, params).await;
        };
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        let statement = cache.prepare_typed(self.client, sql, &types).await?;
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        self.client.execute(&statement, &values).await
    }
}
