//! The dashboard's setup check (`hermod check`, run on request) against a real server on
//! loopback, whose DNS knows none of its names: the report lists the problems with their
//! fixes; non-admins and forms without their token are refused.

#[path = "web/client.rs"]
mod client;

use client::signed_in;
use hermod_testkit::TestServer;
use hermod_types::Address;

#[tokio::test]
async fn the_dashboard_runs_the_setup_check_on_request() {
    let server = TestServer::start().await;
    server.add_user("root@example.test", "root-password");
    server.add_user("alice@example.test", "alice-password");
    let root_address = Address::parse("root@example.test").unwrap();
    server.store.set_admin(&root_address, true).unwrap();
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let dashboard = root.get("/admin").await;
    assert!(dashboard.body.contains("Check the setup from outside"));
    assert!(
        !dashboard.body.contains("problem(s) found"),
        "not on a page load"
    );

    let csrf = dashboard.csrf();
    let report = root.post("/admin/check", &[("csrf", &csrf)]).await;
    assert_eq!(report.status, 200, "{}", report.body);
    let content_type = report.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for needle in [
        "problem(s) found",
        "mx.example.test does not resolve",
        "MX record of example.test",
        "publish example.test. MX 10 mx.example.test.",
        "certificate valid for mx.example.test",
    ] {
        assert!(report.body.contains(needle), "{needle} in {}", report.body);
    }
    assert!(
        !report.body.contains("answer on"),
        "no port check from the server itself"
    );

    assert_eq!(root.post("/admin/check", &[]).await.status, 403);
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let csrf = alice.get("/account").await.csrf();
    let refused = alice.post("/admin/check", &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, 403);
    server.stop().await;
}
