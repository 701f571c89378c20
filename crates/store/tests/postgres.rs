//! The store's contract (tests/contract) run against PostgreSQL: each test on a fresh
//! database of the test cluster (see `support/postgres.rs`).

#[macro_use]
mod contract;
#[path = "support/postgres.rs"]
mod support;

use contract::Backend;
use hermod_store::{PostgresOptions, PostgresStore, Store};
use std::sync::Arc;

struct Postgres {
    url: String,
    store: PostgresStore,
}

impl Postgres {
    async fn new() -> Postgres {
        let url = support::fresh_database().await;
        let store = PostgresStore::connect(&PostgresOptions::new(url.clone()))
            .await
            .unwrap();
        Postgres { url, store }
    }
}

#[async_trait::async_trait]
impl Backend for Postgres {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    /// Another pool on the same database: what a second node has.
    async fn second(&self) -> Box<dyn Backend> {
        let store = PostgresStore::connect(&PostgresOptions::new(self.url.clone()))
            .await
            .unwrap();
        Box::new(Postgres {
            url: self.url.clone(),
            store,
        })
    }

    async fn rows(&self, table: &str) -> u64 {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        drop(client);
        let _ = task.await;
        n as u64
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                contract::$name(&Postgres::new().await).await;
            }
        )*
    };
}

every_contract!(contract);
