//! A PostgreSQL database for a test: a fresh, empty database on the cluster `scripts/test`
//! started (`HERMOD_TEST_POSTGRES`, its base URL), or, when run without it, on a cluster of
//! this process's own (`scripts/test-postgres`, stopped when the process ends).
//!
//! Shared by the store's tests and testkit (`#[path]`), so it depends on tokio-postgres only.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

fn base_url() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| match std::env::var("HERMOD_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => start_private_cluster(),
    })
}

fn start_private_cluster() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-postgres");
    let output = std::process::Command::new(script)
        .arg(std::process::id().to_string())
        .output()
        .expect("run scripts/test-postgres");
    assert!(
        output.status.success(),
        "scripts/test-postgres failed (is PostgreSQL installed?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The URL of a new, empty database (`sslmode=disable`: loopback, no certificate).
pub async fn fresh_database() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let base = base_url();
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let (client, connection) =
        tokio_postgres::connect(&format!("{base}/postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the test cluster");
    let task = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = task.await;
    format!("{base}/{name}?sslmode=disable")
}
