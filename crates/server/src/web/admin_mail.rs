//! `/admin/domains`, `/admin/aliases` and `/admin/queue`: what mail the server takes and
//! what waits to leave, for administrators.

use super::layout::{self, Notice, csrf_field, date_time};
use super::{Admin, AdminForm, Ctx, SignedIn, html, notice_from, see_other};
use crate::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use hermod_core::accounts;
use hermod_core::bounce::{Deleted, delete_queued};
use hermod_store::AliasKey;
use hermod_types::{Address, Domain};
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

type QueryMap = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route("/admin/domains", get(domains).post(add_domain))
        .route("/admin/domains/remove", post(remove_domain))
        .route("/admin/domains/dkim-rotate", post(rotate_dkim))
        .route("/admin/aliases", get(aliases).post(add_alias))
        .route("/admin/aliases/remove", post(remove_alias))
        .route("/admin/queue", get(queue))
        .route("/admin/queue/act", post(queue_act))
}

const DONE: &[(&str, &str)] = &[
    (
        "domain-added",
        "The domain is added, with new DKIM keys: publish its records.",
    ),
    ("domain-removed", "The domain is removed."),
    (
        "dkim-rotated",
        "New DKIM keys are made: publish their records (the new selectors) now. They sign \
         once hermod sees them in DNS (it asks every 5 minutes); until then the current keys \
         go on signing. Keep the old records until mail they signed is a few days old.",
    ),
    ("alias-added", "The alias is saved."),
    ("alias-removed", "The alias is removed."),
    ("retry", "Its waiting recipients will be tried now."),
    ("release", "Released: the relay sends it within seconds."),
    ("delete", "Deleted from the queue."),
    ("bounce", "Deleted; its sender was told."),
];

/// Renders one admin page: the signed-in check, the page's body, the shell.
async fn admin_page(
    ctx: &Context,
    signed: &SignedIn,
    title: &str,
    path: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let body = match path {
        "/admin/domains" => domains_body(ctx, &signed.csrf).await,
        "/admin/aliases" => aliases_body(ctx, &signed.csrf).await,
        _ => queue_body(ctx, &signed.csrf).await,
    };
    match body {
        Ok(body) => {
            let page = layout::page(title, Some(&signed.viewer()), path, notice.as_ref(), body);
            html(status, page)
        }
        Err(e) => super::store_failed(e),
    }
}

/// A page as a link opens it, with the notice its `?done=` asks for.
async fn show(
    ctx: &Context,
    signed: &SignedIn,
    query: &HashMap<String, String>,
    title: &str,
    path: &str,
) -> Response {
    let notice = notice_from(query, DONE);
    admin_page(ctx, signed, title, path, StatusCode::OK, notice).await
}

async fn domains(State(ctx): Ctx, Admin(signed): Admin, Query(q): QueryMap) -> Response {
    show(&ctx, &signed, &q, "Domains", "/admin/domains").await
}

async fn aliases(State(ctx): Ctx, Admin(signed): Admin, Query(q): QueryMap) -> Response {
    show(&ctx, &signed, &q, "Aliases", "/admin/aliases").await
}

async fn queue(State(ctx): Ctx, Admin(signed): Admin, Query(q): QueryMap) -> Response {
    show(&ctx, &signed, &q, "Queue", "/admin/queue").await
}

/// The DNS records of `domain`, as `hermod domain dns` prints them (without A/AAAA: the
/// server's public addresses are not known here).
async fn records(ctx: &Context, domain: &Domain) -> Result<String, hermod_store::StoreError> {
    let keys = ctx.store.dkim_keys(domain).await?;
    Ok(crate::domain_records(&ctx.config, domain, &keys, &[]))
}

async fn domains_body(ctx: &Context, csrf: &str) -> Result<Markup, hermod_store::StoreError> {
    let mut listed = Vec::new();
    for name in ctx.store.domains().await? {
        let records = match Domain::parse(&name) {
            Ok(domain) => records(ctx, &domain).await?,
            Err(_) => String::new(),
        };
        listed.push((name, records));
    }
    Ok(html! {
        section aria-labelledby="add" {
            h2 #add { "Add a domain" }
            form method="post" action="/admin/domains" {
                (csrf_field(csrf))
                label for="domain" { "Domain" }
                input #domain type="text" name="domain" required;
                button type="submit" { "Add domain" }
            }
        }
        @for (name, records) in &listed {
            section aria-label=(name) {
                h2 { (name) }
                details {
                    summary { "DNS records to publish" }
                    (record_list(records))
                    p { "All of them as a zone file:" }
                    pre data-copy={ "every record of " (name) } { (records) }
                    p.muted { "Add A/AAAA records for the host name too (" code { "hermod domain dns " (name) " --public-ip ADDRESS" } " prints them)." }
                }
                form.inline method="post" action="/admin/domains/dkim-rotate" {
                    (csrf_field(csrf))
                    input type="hidden" name="domain" value=(name);
                    button.secondary type="submit" aria-label={ "Rotate the DKIM keys of " (name) } { "Rotate DKIM keys" }
                }
                form.inline method="post" action="/admin/domains/remove" {
                    (csrf_field(csrf))
                    input type="hidden" name="domain" value=(name);
                    button.danger type="submit" { "Remove " (name) }
                }
            }
        }
    })
}

/// One entry per record (name, TTL, class, type, data: a line of the zone file), each with
/// a copy button where the script runs; the zone file's comments as notes between them.
fn record_list(records: &str) -> Markup {
    html! {
        ul.records {
            @for line in records.lines().filter(|l| !l.trim().is_empty()) {
                @if let Some(comment) = line.strip_prefix(';') {
                    li.muted { (comment.trim()) }
                } @else {
                    @let label = record_label(line);
                    li { code data-copy=(label) { (line) } }
                }
            }
        }
    }
}

/// What a record line is, for its copy button: "the TXT record of _dmarc.example.org".
fn record_label(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match (fields.first(), fields.get(3)) {
        (Some(name), Some(kind)) => format!("the {kind} record of {}", name.trim_end_matches('.')),
        _ => "this record".to_owned(),
    }
}

async fn aliases_body(ctx: &Context, csrf: &str) -> Result<Markup, hermod_store::StoreError> {
    let aliases = ctx.store.aliases().await?;
    Ok(html! {
        section aria-labelledby="add" {
            h2 #add { "Add an alias" }
            form method="post" action="/admin/aliases" {
                (csrf_field(csrf))
                label for="alias" { "Alias (an address, or @domain for a catch-all)" }
                input #alias type="text" name="alias" required;
                label for="targets" { "Delivered to (addresses, separated by spaces or commas)" }
                input #targets type="text" name="targets" required;
                button type="submit" { "Save alias" }
            }
        }
        section aria-labelledby="list" {
            h2 #list { "Aliases" }
            @if aliases.is_empty() { p.muted { "No aliases." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Alias" } th scope="col" { "Delivered to" } th scope="col" { span.muted { "Action" } } } }
                    tbody {
                        @for (alias, targets) in &aliases {
                            tr {
                                td { (alias) }
                                td { (targets.join(", ")) }
                                td {
                                    form.inline method="post" action="/admin/aliases/remove" {
                                        (csrf_field(csrf))
                                        input type="hidden" name="alias" value=(alias);
                                        button.danger type="submit" aria-label={ "Remove " (alias) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn queue_body(ctx: &Context, csrf: &str) -> Result<Markup, hermod_store::StoreError> {
    let entries = ctx.store.queue().await?;
    let act = |id: i64, op: &str, label: &str| {
        html! {
            form.inline method="post" action="/admin/queue/act" {
                (csrf_field(csrf))
                input type="hidden" name="id" value=(id);
                input type="hidden" name="op" value=(op);
                button.secondary type="submit" aria-label={ (label) " message " (id) } { (label) }
            }
        }
    };
    Ok(html! {
        @if entries.is_empty() { section { p { "The queue is empty." } } }
        @for entry in &entries {
            section aria-label={ "Message " (entry.id) } {
                h2 { "Message " (entry.id) }
                p {
                    "From " strong { @if entry.sender.is_empty() { "<> (a report)" } @else { (entry.sender) } }
                    ", queued " (date_time(entry.created)) "."
                }
                @if let Some(reason) = &entry.held {
                    p.notice.problem { "Held by the bulk guard: " (reason) }
                }
                table.stack {
                    thead { tr { th scope="col" { "Recipient" } th scope="col" { "State" } th scope="col" { "Attempts" } th scope="col" { "Last reply" } } }
                    tbody {
                        @for (rcpt, state, attempts, error) in &entry.recipients {
                            tr { td { (rcpt) } td { (state) } td { (attempts) } td { (error.as_deref().unwrap_or("")) } }
                        }
                    }
                }
                @if entry.held.is_some() { (act(entry.id, "release", "Release")) }
                @else { (act(entry.id, "retry", "Retry now")) }
                (act(entry.id, "delete", "Delete"))
                @if !entry.sender.is_empty() { (act(entry.id, "bounce", "Delete and tell the sender")) }
            }
        }
    })
}

async fn refuse(
    ctx: &Context,
    signed: &SignedIn,
    path: &str,
    title: &str,
    text: String,
) -> Response {
    let notice = Some(Notice::Problem(text));
    admin_page(
        ctx,
        signed,
        title,
        path,
        StatusCode::UNPROCESSABLE_ENTITY,
        notice,
    )
    .await
}

async fn add_domain(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let Ok(domain) = Domain::parse(form.get("domain").trim()) else {
        return refuse(
            &ctx,
            &signed,
            "/admin/domains",
            "Domains",
            "That is not a domain name.".into(),
        )
        .await;
    };
    match accounts::add_domain(ctx.store.as_ref(), &domain).await {
        Ok(()) => see_other("/admin/domains?done=domain-added"),
        Err(e) => refuse(&ctx, &signed, "/admin/domains", "Domains", e.to_string()).await,
    }
}

async fn remove_domain(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let removed = match Domain::parse(form.get("domain")) {
        Ok(domain) => ctx
            .store
            .remove_domain(&domain)
            .await
            .map_err(|e| e.to_string()),
        Err(_) => Err("That is not a domain name.".to_owned()),
    };
    match removed {
        Ok(()) => see_other("/admin/domains?done=domain-removed"),
        Err(text) => refuse(&ctx, &signed, "/admin/domains", "Domains", text).await,
    }
}

/// New DKIM keys for a domain (the old ones stay published): `accounts::rotate_dkim`.
async fn rotate_dkim(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let rotated = match Domain::parse(form.get("domain")) {
        Ok(domain) => accounts::rotate_dkim(ctx.store.as_ref(), &domain)
            .await
            .map_err(|e| e.to_string()),
        Err(_) => Err("That is not a domain name.".to_owned()),
    };
    match rotated {
        Ok(_) => see_other("/admin/domains?done=dkim-rotated"),
        Err(text) => refuse(&ctx, &signed, "/admin/domains", "Domains", text).await,
    }
}

async fn add_alias(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let outcome = async {
        let alias = form.get("alias").trim();
        let key = AliasKey::parse(alias).map_err(|_| format!("{alias:?} is no alias"))?;
        let targets = form
            .get("targets")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| Address::parse(t).map_err(|_| format!("{t:?} is not an email address")))
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            return Err("Give at least one address to deliver to.".to_owned());
        }
        accounts::add_alias(ctx.store.as_ref(), &key, &targets)
            .await
            .map_err(|e| e.to_string())
    };
    match outcome.await {
        Ok(()) => see_other("/admin/aliases?done=alias-added"),
        Err(text) => refuse(&ctx, &signed, "/admin/aliases", "Aliases", text).await,
    }
}

async fn remove_alias(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let removed = match AliasKey::parse(form.get("alias")) {
        Ok(key) => ctx
            .store
            .remove_alias(&key)
            .await
            .map_err(|e| e.to_string()),
        Err(_) => Err("That is no alias.".to_owned()),
    };
    match removed {
        Ok(()) => see_other("/admin/aliases?done=alias-removed"),
        Err(text) => refuse(&ctx, &signed, "/admin/aliases", "Aliases", text).await,
    }
}

async fn queue_act(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let Ok(id) = form.get("id").parse::<i64>() else {
        return refuse(
            &ctx,
            &signed,
            "/admin/queue",
            "Queue",
            "No such message.".into(),
        )
        .await;
    };
    let now = super::session::now();
    let op = form.get("op");
    let done: Result<bool, String> = match op {
        "retry" => ctx
            .store
            .queue_retry_now(Some(id), now)
            .await
            .map(|_| true)
            .map_err(|e| e.to_string()),
        "release" => ctx
            .store
            .queue_release_held(id, now)
            .await
            .map_err(|e| e.to_string()),
        "delete" | "bounce" => delete_queued(
            ctx.store.as_ref(),
            &ctx.router,
            &ctx.config.hostname,
            id,
            op == "bounce",
        )
        .await
        .map(|deleted| deleted != Deleted::Missing),
        _ => Err("Unknown action.".to_owned()),
    };
    match done {
        Ok(true) => {
            ctx.outbound_wake.notify_one();
            see_other(&format!("/admin/queue?done={op}"))
        }
        Ok(false) => {
            refuse(
                &ctx,
                &signed,
                "/admin/queue",
                "Queue",
                format!("Message {id} is no longer there (or not held)."),
            )
            .await
        }
        Err(text) => refuse(&ctx, &signed, "/admin/queue", "Queue", text).await,
    }
}
