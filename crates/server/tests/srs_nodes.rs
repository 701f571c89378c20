//! Two nodes on one PostgreSQL database share the SRS key: a bounce to a forwarding address
//! one node made is accepted by the other, and only by nodes of that store.

#[path = "../../store/tests/support/postgres.rs"]
mod postgres;

use hermod_core::srs::today;
use hermod_core::{RcptOutcome, Router};
use hermod_store::{Directory, PostgresOptions, PostgresStore};
use hermod_types::{Address, Domain};
use std::sync::Arc;

async fn node(url: &str) -> Arc<PostgresStore> {
    let options = PostgresOptions::new(url);
    Arc::new(PostgresStore::connect(&options).await.expect("connect"))
}

/// What a node's router makes of `rcpt`, with the node's own SRS key.
async fn route(store: Arc<PostgresStore>, rcpt: &str) -> RcptOutcome {
    let srs = hermod_server::srs_key(store.as_ref()).await.unwrap();
    let router = Router::new(store, None).with_srs(srs);
    let rcpt = Address::parse(rcpt).unwrap();
    router.resolve(&rcpt, None).await.unwrap()
}

#[tokio::test]
async fn a_forwarding_address_made_on_one_node_verifies_on_another() {
    let url = postgres::fresh_database().await;
    let (a, b) = (node(&url).await, node(&url).await);
    let domain = Domain::parse("example.test").unwrap();
    a.add_domain(&domain).await.unwrap();
    let srs_a = hermod_server::srs_key(a.as_ref()).await.unwrap();
    let forwarding = srs_a.forward("alice@remote.test", "example.test", today());

    match route(b, &forwarding).await {
        RcptOutcome::Forward(original) => assert_eq!(original, "alice@remote.test"),
        _ => panic!("node B did not verify node A's forwarding address"),
    }

    // A server on another store has its own key: the same address is nobody's there.
    let other = node(&postgres::fresh_database().await).await;
    other.add_domain(&domain).await.unwrap();
    assert!(
        !matches!(route(other, &forwarding).await, RcptOutcome::Forward(_)),
        "another store's key verified it"
    );
}
