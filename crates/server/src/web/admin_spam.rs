//! `/admin/spam`, for administrators: the block and allow list files (`[spam]
//! blocklist_file` and `allowlist_file`: view, add, remove, through the functions `hermod
//! spam block|allow` use; a change is written to the file and the running filter re-reads
//! its lists at once, as on SIGHUP), and the filter's recent verdicts, whose messages can
//! teach the server-wide model (spam or not).

use super::layout::{self, Notice, csrf_field, date_time};
use super::{Admin, AdminForm, Ctx, SignedIn, html, notice_from, see_other};
use crate::Context;
use crate::imap::learn::learn_server_wide;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use hermod_core::netlist::{ListKind, NetList, NetListError};
use hermod_spam::Class;
use hermod_types::Cidr;
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

const PATH: &str = "/admin/spam";

pub(super) fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route(PATH, get(spam_page))
        .route("/admin/spam/block", post(block))
        .route("/admin/spam/allow", post(allow))
        .route("/admin/spam/train", post(train))
}

const DONE: &[(&str, &str)] = &[
    ("blocked", "Added: new connections from it are refused."),
    ("unblocked", "Removed from the block list."),
    (
        "allowed",
        "Added: mail from it is never refused or filed as spam.",
    ),
    ("unallowed", "Removed from the allow list."),
    (
        "learned",
        "Learned: the server-wide filter counts it from now on.",
    ),
    (
        "known",
        "The filter had already learned that message as that.",
    ),
];

async fn spam_page(
    State(ctx): Ctx,
    Admin(signed): Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&ctx, &signed, StatusCode::OK, notice_from(&q, DONE))
}

fn render(
    ctx: &Context,
    signed: &SignedIn,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let page = layout::page(
        "Spam",
        Some(&signed.viewer()),
        PATH,
        notice.as_ref(),
        html! { (body(ctx, &signed.csrf)) (verdicts(ctx, &signed.csrf)) },
    );
    html(status, page)
}

fn body(ctx: &Context, csrf: &str) -> Markup {
    html! {
        (list_section(ctx, csrf, ListKind::Block))
        (list_section(ctx, csrf, ListKind::Allow))
    }
}

/// What the page says of each list: its heading, what it does, its configuration keys, the
/// form's action and button.
struct ListWords {
    id: &'static str,
    title: &'static str,
    does: &'static str,
    config_key: &'static str,
    action: &'static str,
    button: &'static str,
}

fn words(kind: ListKind) -> ListWords {
    match kind {
        ListKind::Block => ListWords {
            id: "blocklist",
            title: "Block list",
            does: "Clients in these networks are refused when they connect (554 5.7.1).",
            config_key: "blocklist",
            action: "/admin/spam/block",
            button: "Block",
        },
        ListKind::Allow => ListWords {
            id: "allowlist",
            title: "Allow list",
            does: "Clients in these networks are never refused at connect (not even when a \
                   block list names them) and their mail is never refused or filed as spam.",
            config_key: "allowlist",
            action: "/admin/spam/allow",
            button: "Allow",
        },
    }
}

fn list_file(ctx: &Context, kind: ListKind) -> Option<&std::path::Path> {
    let spam = &ctx.config.spam;
    match kind {
        ListKind::Block => spam.blocklist_file.as_deref(),
        ListKind::Allow => spam.allowlist_file.as_deref(),
    }
}

/// One list: the networks from the configuration (shown), those of its file (editable).
fn list_section(ctx: &Context, csrf: &str, kind: ListKind) -> Markup {
    let spam = &ctx.config.spam;
    let words = words(kind);
    let configured = match kind {
        ListKind::Block => &spam.blocklist,
        ListKind::Allow => &spam.allowlist,
    };
    let listed = list_file(ctx, kind).map(|path| (path, NetList { kind, path }.list()));
    let input = format!("{}-network", words.id);
    html! {
        section aria-labelledby=(words.id) {
            h2 id=(words.id) { (words.title) }
            p { (words.does) }
            @if !configured.is_empty() {
                p { "From the configuration (" code { "[spam] " (words.config_key) } ", edit the file to change): "
                    (configured.iter().map(Cidr::to_string).collect::<Vec<_>>().join(", ")) }
            }
            @match &listed {
                None => {
                    p.muted { "No " code { "[spam] " (kind.config_key()) } " is configured: name one to manage the " (kind) " here." }
                }
                Some((_, Err(e))) => { p { "The " (kind) " file cannot be read: " (e.to_string()) } }
                Some((path, Ok(networks))) => {
                    p.muted { "Kept in " code { (path.display()) } "." }
                    @if networks.is_empty() { p.muted { "The file lists no network." } }
                    @else {
                        table {
                            thead { tr { th scope="col" { "Network" } th scope="col" { span.muted { "Action" } } } }
                            tbody {
                                @for network in networks {
                                    tr {
                                        td { (network) }
                                        td { (remove_form(csrf, words.action, &network.to_string())) }
                                    }
                                }
                            }
                        }
                    }
                    form method="post" action=(words.action) {
                        (csrf_field(csrf))
                        input type="hidden" name="op" value="add";
                        label for=(input) { "Address or network (e.g. 192.0.2.0/24)" }
                        input id=(input) type="text" name="network" required;
                        button type="submit" { (words.button) }
                    }
                }
            }
        }
    }
}

/// The last verdicts of the content filter, newest first, each with training buttons while
/// its message is kept.
fn verdicts(ctx: &Context, csrf: &str) -> Markup {
    let recent = ctx.spam.recent.list();
    html! {
        section aria-labelledby="verdicts" {
            h2 #verdicts { "Recent verdicts" }
            p.muted { "The last " (crate::spam::recent::KEPT) " messages the filter judged since the server started. Teaching the filter that one is spam or not changes the server-wide model." }
            @if recent.is_empty() { p.muted { "None yet." } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { "Time" } th scope="col" { "Sender" } th scope="col" { "Recipients" }
                        th scope="col" { "Score" } th scope="col" { "Reasons" } th scope="col" { "Action" }
                        th scope="col" { span.muted { "Teach" } }
                    } }
                    tbody {
                        @for v in &recent {
                            tr {
                                td { (date_time(v.time)) }
                                td { (if v.sender.is_empty() { "<>" } else { v.sender.as_str() }) br; span.muted { (v.client) } }
                                td { (v.recipients.join(", ")) }
                                td { (v.score) }
                                td { code { (v.reasons) } }
                                td { (v.action) }
                                td {
                                    @if v.message.is_some() {
                                        (train_form(csrf, v.id, "spam", "Spam"))
                                        (train_form(csrf, v.id, "ham", "Not spam"))
                                    } @else { span.muted { "too large" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn train_form(csrf: &str, id: u64, class: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action="/admin/spam/train" {
            (csrf_field(csrf))
            input type="hidden" name="id" value=(id);
            input type="hidden" name="class" value=(class);
            button.secondary type="submit" aria-label={ (label) ": message " (id) } { (label) }
        }
    }
}

/// Teaches the server-wide model a recent verdict's message as spam or ham.
async fn train(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let class = match form.get("class") {
        "spam" => Class::Spam,
        "ham" => Class::Ham,
        _ => return see_other(PATH),
    };
    let message = form
        .get("id")
        .parse()
        .ok()
        .and_then(|id| ctx.spam.recent.message(id));
    let Some(message) = message else {
        let text = "That message is no longer kept: only the last verdicts are.".to_owned();
        return render(
            &ctx,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(Notice::Problem(text)),
        );
    };
    match learn_server_wide(ctx.store.as_ref(), message.to_vec(), class).await {
        Ok(0) => see_other(&format!("{PATH}?done=known")),
        Ok(_) => see_other(&format!("{PATH}?done=learned")),
        Err(e) => super::store_failed(e),
    }
}

fn remove_form(csrf: &str, action: &str, network: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(csrf))
            input type="hidden" name="op" value="remove";
            input type="hidden" name="network" value=(network);
            button.danger type="submit" aria-label={ "Remove " (network) } { "Remove" }
        }
    }
}

async fn block(ctx: Ctx, posted: AdminForm) -> Response {
    edit_list(ctx, posted, ListKind::Block).await
}

async fn allow(ctx: Ctx, posted: AdminForm) -> Response {
    edit_list(ctx, posted, ListKind::Allow).await
}

/// Adds or removes a network of a list file, then has the filter re-read its lists.
async fn edit_list(
    State(ctx): Ctx,
    AdminForm(signed, form): AdminForm,
    kind: ListKind,
) -> Response {
    let network = form.get("network").trim();
    let Ok(network) = Cidr::parse(network) else {
        let text = format!("{network:?} is not an IP address or network.");
        return render(
            &ctx,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(Notice::Problem(text)),
        );
    };
    let adding = match form.get("op") {
        "add" => true,
        "remove" => false,
        _ => return see_other(PATH),
    };
    let shared = ctx.clone();
    // File I/O, and the filter re-reads the configuration and the lists: off the runtime.
    let changed = tokio::task::spawn_blocking(move || -> Result<&'static str, NetListError> {
        let list = NetList::configured(kind, list_file(&shared, kind))?;
        let done = match (kind, adding) {
            (ListKind::Block, true) => list.add(network).map(|()| "blocked")?,
            (ListKind::Block, false) => list.remove(network).map(|()| "unblocked")?,
            (ListKind::Allow, true) => list.add(network).map(|()| "allowed")?,
            (ListKind::Allow, false) => list.remove(network).map(|()| "unallowed")?,
        };
        shared.spam.reload_lists(&shared.config);
        Ok(done)
    })
    .await;
    match changed {
        Ok(Ok(done)) => see_other(&format!("{PATH}?done={done}")),
        Ok(Err(e)) => {
            let notice = Some(Notice::Problem(e.to_string()));
            render(&ctx, &signed, StatusCode::UNPROCESSABLE_ENTITY, notice)
        }
        Err(e) => {
            let notice = Some(Notice::Problem(format!("the change failed: {e}")));
            render(&ctx, &signed, StatusCode::INTERNAL_SERVER_ERROR, notice)
        }
    }
}
