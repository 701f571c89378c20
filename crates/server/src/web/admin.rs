//! `/admin`: the dashboard (with `hermod check` on request) and accounts, for
//! administrators (`hermod user admin ADDRESS on`). Every action goes through the same core
//! functions as the CLI.

use super::layout::{self, Notice, csrf_field, date_time, human_bytes};
use super::{Admin, AdminForm, Ctx, SignedIn, html, notice_from, see_other};
use crate::selfcheck::Finding;
use crate::{Context, Service};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use hermod_core::accounts::{self, AccountError};
use hermod_store::StoreError;
use hermod_types::{Address, Domain};
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

type QueryMap = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/check", post(check_setup))
        .route("/admin/accounts", get(accounts_page).post(add_account))
        .route("/admin/accounts/change", post(change_account))
}

const DONE: &[(&str, &str)] = &[
    ("added", "The account is added."),
    ("password", "The password is set."),
    (
        "freeze",
        "The account is frozen: it cannot send until unfrozen.",
    ),
    ("unfreeze", "The account may send again."),
    ("bulk-allow", "The account may send bulk mail."),
    ("bulk-guard", "The account is under the bulk guard again."),
    ("admin-on", "The account is an administrator now."),
    ("admin-off", "The account is no administrator any more."),
    ("quota", "The quota is changed."),
    ("send-as", "The senders it may use are saved."),
];

async fn dashboard(State(ctx): Ctx, Admin(signed): Admin) -> Response {
    dashboard_page(&ctx, &signed, None).await
}

/// The whole setup check (DNS, certificate, ports) may take this long; it then stops.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `hermod check`, run on request (it asks DNS, which may be slow: never on a page load),
/// its report shown on the dashboard.
async fn check_setup(State(ctx): Ctx, AdminForm(signed, _): AdminForm) -> Response {
    let mut domains = Vec::new();
    let names = match ctx.store.domains().await {
        Ok(names) => names,
        Err(e) => return super::store_failed(e),
    };
    for domain in names.iter().filter_map(|n| Domain::parse(n).ok()) {
        match ctx.store.dkim_keys(&domain).await {
            Ok(keys) => domains.push((domain, keys)),
            Err(e) => return super::store_failed(e),
        }
    }
    // Without the port check: the server reaching itself says nothing about a firewall,
    // and the Services table shows what listens.
    let check = crate::selfcheck::run(&ctx.config, &domains, &[], false);
    let report = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(findings)) => Ok(findings),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "the check took longer than {} seconds and was stopped",
            CHECK_TIMEOUT.as_secs()
        )),
    };
    dashboard_page(&ctx, &signed, Some(report)).await
}

fn check_report(report: &Result<Vec<Finding>, String>) -> maud::Markup {
    let problems = report
        .as_ref()
        .map_or(0, |f| f.iter().filter(|f| f.is_problem()).count());
    html! {
        @match report {
            Err(e) => p { "The check could not run: " (e) },
            Ok(findings) => {
                p { strong { (problems) } " problem(s) found." }
                table {
                    thead { tr { th scope="col" { "Result" } th scope="col" { "What" } th scope="col" { "Fix" } } }
                    tbody {
                        @for f in findings {
                            tr { td { (f.kind) } td { (f.what) } td { @if let Some(fix) = &f.fix { (fix) } } }
                        }
                    }
                }
            }
        }
    }
}

async fn dashboard_page(
    ctx: &Context,
    signed: &SignedIn,
    check: Option<Result<Vec<Finding>, String>>,
) -> Response {
    let queue = match ctx.store.queue().await {
        Ok(queue) => queue,
        Err(e) => return super::store_failed(e),
    };
    let held = queue.iter().filter(|e| e.held.is_some()).count();
    let oldest = queue.iter().map(|e| e.created).min();
    let m = hermod_types::metrics::metrics();
    let certificate = ctx
        .certificate
        .chain()
        .first()
        .and_then(|leaf| crate::net::x509::parse_tbs(leaf));
    let body = html! {
        section aria-labelledby="numbers" {
            h2 #numbers { "Since the server started" }
            div.grid {
                div.stat { strong { (m.messages_accepted.get("smtp")) } "messages received from other servers" }
                div.stat { strong { (m.messages_accepted.get("submission")) } "messages sent by users" }
                div.stat { strong { (m.deliveries.get("delivered")) } "deliveries to other servers" }
                div.stat { strong { (m.deliveries.get("bounced")) } "deliveries given up (bounced)" }
                div.stat { strong { (m.logins.get("failed")) } "failed logins" }
                div.stat { strong { (m.logins.get("throttled")) } "logins refused by the throttle" }
            }
        }
        section aria-labelledby="queue" {
            h2 #queue { "Outbound queue" }
            div.grid {
                div.stat { strong { (queue.len()) } "messages queued" }
                div.stat { strong { (held) } "held by the bulk guard" }
                div.stat {
                    strong { @match oldest { Some(t) => (date_time(t)), None => "—" } }
                    "oldest entry"
                }
            }
            p { a href="/admin/queue" { "See the queue" } }
        }
        (certificate_and_services(certificate, &ctx.listening))
        section aria-labelledby="check" {
            h2 #check { "Setup check" }
            @if let Some(report) = &check { (check_report(report)) }
            form method="post" action="/admin/check" {
                (csrf_field(&signed.csrf))
                button type="submit" { "Check the setup from outside" }
            }
            p.muted { "As " code { "hermod check" } " does, but without connecting to the ports: DNS records, reverse DNS, the certificate. It may take up to a minute." }
        }
    };
    let page = layout::page("Dashboard", Some(&signed.viewer()), "/admin", None, body);
    html(StatusCode::OK, page)
}

/// When the certificate expires, and what listens where.
fn certificate_and_services(
    certificate: Option<(i64, bool)>,
    listeners: &[(&'static str, String)],
) -> maud::Markup {
    html! {
        section aria-labelledby="certificate" {
            h2 #certificate { "Certificate" }
            @match certificate {
                Some((not_after, self_signed)) => {
                    p {
                        "Valid until " strong { (date_time(not_after)) }
                        " (" (days_left(not_after)) ")."
                        @if self_signed { " Self-signed: email programs will warn; turn on [acme] or install a certificate." }
                    }
                }
                None => p { "No certificate could be read." },
            }
        }
        section aria-labelledby="services" {
            h2 #services { "Services" }
            table {
                thead { tr { th scope="col" { "Service" } th scope="col" { "Listening on" } } }
                tbody {
                    @for (name, addrs) in listeners {
                        tr { td { (name) } td { (addrs) } }
                    }
                }
            }
        }
    }
}

fn days_left(not_after: i64) -> String {
    let days = (not_after - super::session::now()).div_euclid(86_400);
    match days {
        d if d < 0 => "expired".to_owned(),
        1 => "1 day left".to_owned(),
        d => format!("{d} days left"),
    }
}

/// Each service this process listens on, with its addresses (as bound: a configured port 0
/// shows the port it got).
pub(crate) fn listening(listeners: &crate::Listeners) -> Vec<(&'static str, String)> {
    let all = [
        Service::Smtp,
        Service::Submission,
        Service::Submissions,
        Service::Imap,
        Service::Imaps,
        Service::Pop3,
        Service::Pop3s,
        Service::ManageSieve,
        Service::Http,
        Service::Https,
        Service::Metrics,
    ];
    all.into_iter()
        .filter_map(|service| {
            let addrs = listeners.local_addrs(service);
            let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            (!list.is_empty()).then(|| (service.name(), list.join(", ")))
        })
        .collect()
}

async fn accounts_page(State(ctx): Ctx, Admin(signed): Admin, Query(query): QueryMap) -> Response {
    let notice = notice_from(&query, DONE);
    render_accounts(&ctx, &signed, StatusCode::OK, notice).await
}

async fn render_accounts(
    ctx: &Context,
    signed: &SignedIn,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let (users, admins, domains) =
        match tokio::try_join!(ctx.store.users(), ctx.store.admins(), ctx.store.domains()) {
            Ok(all) => all,
            Err(e) => return super::store_failed(e),
        };
    let csrf = &signed.csrf;
    let body = html! {
        section aria-labelledby="add" {
            h2 #add { "Add an account" }
            @if domains.is_empty() {
                p { "Add a domain first: " a href="/admin/domains" { "Domains" } }
            } @else {
                form method="post" action="/admin/accounts" {
                    (csrf_field(csrf))
                    label for="address" { "Email address" }
                    input #address type="email" name="address" required;
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="new-password" minlength="8" required;
                    label for="quota" { "Quota in MiB (empty: no limit)" }
                    input #quota type="number" name="quota" min="1";
                    button type="submit" { "Add account" }
                }
            }
        }
        section aria-labelledby="list" {
            h2 #list { "Accounts" }
            table.stack {
                thead { tr { th scope="col" { "Account" } th scope="col" { "Storage" } th scope="col" { "State" } th scope="col" { "Actions" } } }
                tbody {
                    @for user in &users {
                        @let admin = admins.contains(&user.address);
                        tr {
                            td { (user.address) }
                            td {
                                (human_bytes(user.used))
                                @if let Some(q) = user.quota { " of " (human_bytes(q)) }
                            }
                            td {
                                @if admin { "admin " }
                                @if let Some(reason) = &user.frozen { "frozen (" (reason) ") " }
                                @if user.bulk_allowed { "bulk allowed " }
                                @if let Some(junk) = user.junk_threshold { "Junk from score " (junk) }
                            }
                            td { (account_actions(csrf, user, admin)) }
                        }
                    }
                }
            }
        }
    };
    let page = layout::page(
        "Accounts",
        Some(&signed.viewer()),
        "/admin/accounts",
        notice.as_ref(),
        body,
    );
    html(status, page)
}

fn account_actions(csrf: &str, user: &hermod_store::UserRecord, admin: bool) -> maud::Markup {
    let address = user.address.as_str();
    let (frozen, bulk, send_as) = (user.frozen.is_some(), user.bulk_allowed, &user.send_as);
    let button = |op: &str, label: &str| {
        html! {
            form.inline method="post" action="/admin/accounts/change" {
                (csrf_field(csrf))
                input type="hidden" name="address" value=(address);
                input type="hidden" name="op" value=(op);
                button.secondary type="submit" aria-label={ (label) " " (address) } { (label) }
            }
        }
    };
    let field_id = format!("reset-{}", address.replace(['@', '.'], "-"));
    let quota_id = format!("quota-{}", address.replace(['@', '.'], "-"));
    let send_as_id = format!("send-as-{}", address.replace(['@', '.'], "-"));
    html! {
        @if frozen { (button("unfreeze", "Unfreeze")) } @else { (button("freeze", "Freeze")) }
        @if bulk { (button("bulk-guard", "Guard bulk")) } @else { (button("bulk-allow", "Allow bulk")) }
        @if admin { (button("admin-off", "Remove admin")) } @else { (button("admin-on", "Make admin")) }
        details {
            summary { "Change the quota" }
            form method="post" action="/admin/accounts/change" {
                (csrf_field(csrf))
                input type="hidden" name="address" value=(address);
                input type="hidden" name="op" value="quota";
                label for=(quota_id) { "Quota in MiB for " (address) " (empty: no limit)" }
                input id=(quota_id) type="number" name="quota" min="1";
                button.secondary type="submit" { "Set quota" }
            }
        }
        details {
            summary { "Senders it may use" }
            form method="post" action="/admin/accounts/change" {
                (csrf_field(csrf))
                input type="hidden" name="address" value=(address);
                input type="hidden" name="op" value="send-as";
                label for=(send_as_id) { "Besides " (address) " and its aliases (addresses or @domain; empty: none)" }
                input id=(send_as_id) type="text" name="send_as" value=(send_as.join(" "));
                button.secondary type="submit" { "Save senders" }
            }
        }
        details {
            summary { "Set a new password" }
            form method="post" action="/admin/accounts/change" {
                (csrf_field(csrf))
                input type="hidden" name="address" value=(address);
                input type="hidden" name="op" value="password";
                label for=(field_id) { "New password for " (address) }
                input id=(field_id) type="password" name="password" autocomplete="new-password" minlength="8" required;
                button.secondary type="submit" { "Set password" }
            }
        }
    }
}

async fn add_account(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let refused = |text: String| {
        let notice = Some(Notice::Problem(text));
        render_accounts(&ctx, &signed, StatusCode::UNPROCESSABLE_ENTITY, notice)
    };
    let Ok(address) = Address::parse(form.get("address").trim()) else {
        return refused("That is not an email address.".into()).await;
    };
    let password = form.get("password");
    if password.chars().count() < 8 {
        return refused("A password has at least 8 characters.".into()).await;
    }
    let quota = match parse_quota(form.get("quota")) {
        Ok(quota) => quota,
        Err(text) => return refused(text).await,
    };
    match accounts::add_user(ctx.store.as_ref(), &address, password, quota).await {
        Ok(_) => see_other("/admin/accounts?done=added"),
        Err(e) if is_refusal(&e) => refused(e.to_string()).await,
        Err(e) => super::store_failed(e),
    }
}

/// A quota field: MiB, empty for no limit.
fn parse_quota(field: &str) -> Result<Option<u64>, String> {
    match field.trim() {
        "" => Ok(None),
        mib => match mib.parse::<u64>() {
            Ok(mib) if mib > 0 => Ok(Some(mib.saturating_mul(1024 * 1024))),
            _ => Err("The quota is a whole number of MiB.".into()),
        },
    }
}

/// A refusal to show on the form (the administrator can fix it), not a failure.
fn is_refusal(error: &AccountError) -> bool {
    match error {
        AccountError::Store(e) => !matches!(
            e,
            StoreError::Database(_)
                | StoreError::Io { .. }
                | StoreError::CommitterGone
                | StoreError::TaskFailed(_)
                | StoreError::Postgres(_)
                | StoreError::Unavailable(_)
        ),
        AccountError::Dkim(_) | AccountError::Random => false,
        _ => true,
    }
}

async fn change_account(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let refused = |text: String| {
        let notice = Some(Notice::Problem(text));
        render_accounts(&ctx, &signed, StatusCode::UNPROCESSABLE_ENTITY, notice)
    };
    let Ok(address) = Address::parse(form.get("address")) else {
        return refused("That is not an email address.".into()).await;
    };
    let store = ctx.store.as_ref();
    let op = form.get("op");
    let done: Result<(), AccountError> = match op {
        "password" if form.get("password").chars().count() < 8 => {
            return refused("A password has at least 8 characters.".into()).await;
        }
        "password" => accounts::set_password(store, &address, form.get("password")).await,
        "freeze" => store
            .set_frozen(&address, Some("frozen by the administrator"))
            .await
            .map(drop)
            .map_err(AccountError::from),
        "unfreeze" => store
            .set_frozen(&address, None)
            .await
            .map(drop)
            .map_err(AccountError::from),
        "bulk-allow" | "bulk-guard" => store
            .set_bulk_allowed(&address, op == "bulk-allow")
            .await
            .map_err(AccountError::from),
        "admin-off" if address.normalized() == signed.user.address => {
            let text = "You cannot remove your own admin rights here (use `hermod user admin`).";
            return refused(text.into()).await;
        }
        "admin-on" | "admin-off" => accounts::set_admin(store, &address, op == "admin-on").await,
        "send-as" => {
            let patterns: Vec<String> = form
                .get("send_as")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            accounts::set_send_as(store, &address, &patterns).await
        }
        "quota" => match parse_quota(form.get("quota")) {
            Ok(quota) => accounts::set_quota(store, &address, quota).await,
            Err(text) => return refused(text).await,
        },
        _ => return refused("Unknown action.".into()).await,
    };
    match done {
        Ok(()) => see_other(&format!("/admin/accounts?done={op}")),
        Err(e) if is_refusal(&e) => refused(e.to_string()).await,
        Err(e) => super::store_failed(e),
    }
}
