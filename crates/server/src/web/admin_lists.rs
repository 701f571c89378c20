//! `/admin/lists`: mailing lists for administrators: create and delete, members, and the
//! posts held for moderation (approve, reject), through the list engine the CLI uses.

use super::layout::{self, Notice, csrf_field, date_time};
use super::{Admin, AdminForm, Ctx, SignedIn, html, notice_from, see_other};
use crate::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use hermod_core::lists::ListDeps;
use hermod_store::{ListMode, ListRecord, ListSettings, MemberState, StoreError};
use hermod_types::Address;
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

const PATH: &str = "/admin/lists";

pub(super) fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route(PATH, get(lists).post(create))
        .route("/admin/lists/act", post(act))
}

const DONE: &[(&str, &str)] = &[
    ("created", "The list is created."),
    ("deleted", "The list is deleted."),
    ("add", "The member is added."),
    ("remove", "The member is removed."),
    ("approve", "The post went to the members."),
    ("reject", "The post is rejected."),
];

async fn lists(
    State(ctx): Ctx,
    Admin(signed): Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&ctx, &signed, StatusCode::OK, notice_from(&q, DONE)).await
}

async fn render(
    ctx: &Context,
    signed: &SignedIn,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    match body(ctx, &signed.csrf).await {
        Ok(body) => {
            let page = layout::page(
                "Mailing lists",
                Some(&signed.viewer()),
                PATH,
                notice.as_ref(),
                body,
            );
            html(status, page)
        }
        Err(e) => super::store_failed(e),
    }
}

async fn body(ctx: &Context, csrf: &str) -> Result<Markup, StoreError> {
    let mut sections = Vec::new();
    for list in ctx.store.lists().await? {
        let members = ctx.store.list_members(list.id).await?;
        let held = ctx.store.list_held(list.id, false).await?;
        sections.push(list_section(csrf, &list, &members, &held));
    }
    Ok(html! {
        section aria-labelledby="create" {
            h2 #create { "Create a list" }
            form method="post" action=(PATH) {
                (csrf_field(csrf))
                label for="list" { "List address" }
                input #list type="email" name="list" required;
                label for="owner" { "Owner (told of held posts; may always post)" }
                input #owner type="email" name="owner" required;
                label for="mode" { "Who posts" }
                select #mode name="mode" {
                    option value="discussion" { "Members (discussion)" }
                    option value="announce" { "Owner and moderators only (announcements)" }
                }
                label.check for="moderated" { input #moderated type="checkbox" name="moderated"; "Members' posts wait for a moderator" }
                label.check for="refuse" { input #refuse type="checkbox" name="refuse_non_members"; "Refuse non-members' posts (instead of holding them)" }
                label.check for="archive" { input #archive type="checkbox" name="archive"; "Keep an archive" }
                button type="submit" { "Create list" }
            }
        }
        @if sections.is_empty() { section { p.muted { "No mailing lists yet." } } }
        @for section in sections { (section) }
    })
}

fn act_button(
    csrf: &str,
    list: &str,
    op: &str,
    extra: &[(&str, String)],
    label: &str,
    class: &str,
) -> Markup {
    html! {
        form.inline method="post" action="/admin/lists/act" {
            (csrf_field(csrf))
            input type="hidden" name="list" value=(list);
            input type="hidden" name="op" value=(op);
            @for (name, value) in extra { input type="hidden" name=(name) value=(value); }
            button class=(class) type="submit" { (label) }
        }
    }
}

fn list_section(
    csrf: &str,
    list: &ListRecord,
    members: &[hermod_store::ListMember],
    held: &[hermod_store::ListPost],
) -> Markup {
    let s = &list.settings;
    let field = format!("member-{}", list.id);
    html! {
        section aria-label=(list.address) {
            h2 { (list.address) }
            p {
                (s.mode.as_str()) ", owner " (s.owner)
                @if s.moderated { ", moderated" }
                @if s.archive { ", archived" }
                "."
            }
            h3 { "Held posts" }
            @if held.is_empty() { p.muted { "None." } }
            @for post in held {
                p {
                    strong { (post.subject) } " from " (post.sender.as_deref().unwrap_or("<>"))
                    ", " (date_time(post.received)) " "
                    (act_button(csrf, &list.address, "approve", &[("id", post.id.to_string())], "Approve", "secondary"))
                    (act_button(csrf, &list.address, "reject", &[("id", post.id.to_string())], "Reject", "danger"))
                }
            }
            h3 { "Members" }
            @if members.is_empty() { p.muted { "No members." } }
            @else {
                table.stack {
                    thead { tr { th scope="col" { "Address" } th scope="col" { "State" } th scope="col" { "Bounces" } th scope="col" { span.muted { "Action" } } } }
                    tbody {
                        @for m in members {
                            tr {
                                td { (m.address) } td { (m.state.as_str()) } td { (m.bounces) }
                                td { (act_button(csrf, &list.address, "remove", &[("address", m.address.clone())], "Remove", "danger")) }
                            }
                        }
                    }
                }
            }
            form method="post" action="/admin/lists/act" {
                (csrf_field(csrf))
                input type="hidden" name="list" value=(list.address);
                input type="hidden" name="op" value="add";
                label for=(field) { "Add a member to " (list.address) " (no confirmation asked)" }
                input id=(field) type="email" name="address" required;
                button.secondary type="submit" { "Add member" }
            }
            (act_button(csrf, &list.address, "delete", &[], "Delete this list", "danger"))
        }
    }
}

async fn create(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let parsed = (
        Address::parse(form.get("list").trim()),
        Address::parse(form.get("owner").trim()),
    );
    let (Ok(address), Ok(owner)) = parsed else {
        let notice = Some(Notice::Problem(
            "The list and its owner are email addresses.".into(),
        ));
        return render(&ctx, &signed, StatusCode::UNPROCESSABLE_ENTITY, notice).await;
    };
    let settings = ListSettings {
        owner: owner.normalized(),
        mode: if form.get("mode") == "announce" {
            ListMode::Announce
        } else {
            ListMode::Discussion
        },
        moderated: form.checked("moderated"),
        refuse_non_members: form.checked("refuse_non_members"),
        archive: form.checked("archive"),
    };
    match ctx.store.list_create(&address, &settings).await {
        Ok(_) => see_other("/admin/lists?done=created"),
        Err(e) => {
            let notice = Some(Notice::Problem(e.to_string()));
            render(&ctx, &signed, StatusCode::UNPROCESSABLE_ENTITY, notice).await
        }
    }
}

async fn act(State(ctx): Ctx, AdminForm(signed, form): AdminForm) -> Response {
    let op = form.get("op");
    let done = match ctx.store.list(form.get("list")).await {
        Ok(Some(list)) => act_on(&ctx, &list, op, form.get("address"), form.get("id")).await,
        Ok(None) => Err("No such list.".to_owned()),
        Err(e) => return super::store_failed(e),
    };
    match done {
        Ok(()) => see_other(&format!("/admin/lists?done={op}")),
        Err(text) => {
            let notice = Some(Notice::Problem(text));
            render(&ctx, &signed, StatusCode::UNPROCESSABLE_ENTITY, notice).await
        }
    }
}

async fn act_on(
    ctx: &Context,
    list: &ListRecord,
    op: &str,
    address: &str,
    id: &str,
) -> Result<(), String> {
    let store = ctx.store.as_ref();
    let member = || {
        Address::parse(address.trim())
            .map(|a| a.normalized())
            .map_err(|_| format!("{address:?} is not an email address"))
    };
    let id = || {
        id.parse::<i64>()
            .map_err(|_| "No such held post.".to_owned())
    };
    let deps = ListDeps {
        store,
        sieve: &ctx.sieve,
        router: &ctx.router,
    };
    let text = |e: StoreError| e.to_string();
    match op {
        "delete" => store
            .list_delete(&list.address)
            .await
            .map_err(|e| e.to_string()),
        "add" => store
            .list_set_member(list.id, &member()?, MemberState::Active)
            .await
            .map_err(|e| e.to_string()),
        "remove" => match store.list_remove_member(list.id, &member()?).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("{address} is no member.")),
            Err(e) => Err(e.to_string()),
        },
        "approve" => match ctx.lists.approve(deps, list, id()?).await.map_err(text)? {
            Some(_) => {
                ctx.outbound_wake.notify_one();
                Ok(())
            }
            None => Err("No such held post.".to_owned()),
        },
        "reject" => match ctx
            .lists
            .reject(deps, list, id()?, None)
            .await
            .map_err(text)?
        {
            Some(_) => Ok(()),
            None => Err("No such held post.".to_owned()),
        },
        _ => Err("Unknown action.".to_owned()),
    }
}
