//! The PostgreSQL backend: several hermod nodes on one database (`[store] backend =
//! "postgres"`). Every role is plain async SQL through a connection pool; what the embedded
//! store does with one process's locks (UID order, quotas, queue claims, the login throttle)
//! is done here with row locks and transactions, so it holds across nodes. Schema migrations
//! are versioned and applied at start by one node at a time under an advisory lock.
//!
//! Layout: one file per role (`directory.rs`, `mail/`, `queue.rs`, `spam.rs` with
//! `bulk.rs`, `scripts.rs`, `lists.rs`), the SQL of each migration in `schema/`, and
//! `connect.rs` for URLs, TLS and the pool. docs/ARCHITECTURE.md ("The PostgreSQL backend") has the design.

/// Whether a role here is still a placeholder: `[store] backend = "postgres"` is refused
/// while one is (a role added to the store lands with its PostgreSQL side, or sets this).
pub const INCOMPLETE: bool = false;

mod accounts;
mod bulk;
mod connect;
mod coordination;
mod directory;
mod lists;
mod mail;
mod migrate;
mod prepared;
mod queue;
mod schema;
mod scripts;
mod spam;

pub use connect::PostgresOptions;
pub use migrate::{MigrationReport, migrate_embedded};

use crate::notify::Notifier;
use crate::{Result, StoreError};
use deadpool_postgres::Pool;
use std::path::PathBuf;
use std::sync::Arc;

/// The store on PostgreSQL. Cheap to clone: clones share the pool, the body store and the
/// change listener (one listening connection per handle made by `connect`).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// Where message bodies are kept (in the database today).
    bodies: Arc<dyn mail::Bodies>,
    /// This node's folder for large bodies being received.
    tmp_dir: Arc<PathBuf>,
    /// Change subscriptions, fed by this handle's own commits and by `LISTEN`.
    notifier: Arc<Notifier>,
    listener: Arc<mail::Listener>,
}

impl PostgresStore {
    /// Connects, checks the database answers, and brings its schema up to date (one node at
    /// a time: the others wait on the advisory lock, then find nothing left to do).
    pub async fn connect(options: &PostgresOptions) -> Result<PostgresStore> {
        crate::blob::private_dir(&options.tmp_dir)?;
        let target = connect::Target::new(options)?;
        let pool = connect::pool(&target, options)?;
        let notifier = Arc::new(Notifier::default());
        let store = PostgresStore {
            pool,
            bodies: Arc::new(mail::InDatabase),
            tmp_dir: Arc::new(options.tmp_dir.clone()),
            listener: Arc::new(mail::Listener::new(target, Arc::downgrade(&notifier))),
            notifier,
        };
        schema::migrate(&store.pool).await?;
        Ok(store)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }
}

/// What a role not yet written on PostgreSQL answers.
#[allow(dead_code)] // used by a role's placeholder file while it is written
fn not_yet(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} is not implemented on PostgreSQL yet"))
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> StoreError {
        match error {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Unavailable(format!("no database connection: {other}")),
        }
    }
}
