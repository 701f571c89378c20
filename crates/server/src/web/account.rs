//! `/account`: what every account does for itself: see its usage and the settings for email
//! programs, change its password, manage app passwords, set a vacation reply and filter
//! rules (written as Sieve: `hermod_core::sieve::settings`).

use super::layout::{self, Notice, csrf_field, human_bytes};
use super::{Ctx, Form, SignedIn, User, UserForm, html, notice_from, see_other};
use crate::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use hermod_core::accounts::{self, AccountError};
use hermod_core::sieve::settings::{self, Action, Field, Rule, Settings};
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

type QueryMap = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route("/account", get(overview))
        .route("/account/security", get(security))
        .route("/account/password", post(change_password))
        .route("/account/app-passwords", post(create_app_password))
        .route("/account/app-passwords/revoke", post(revoke_app_password))
        .route("/account/vacation", get(vacation).post(save_vacation))
        .route("/account/rules", post(add_rule))
        .route("/account/rules/remove", post(remove_rule))
}

const DONE: &[(&str, &str)] = &[
    ("password", "Your password is changed."),
    (
        "revoked",
        "The app password is revoked: programs using it can no longer log in.",
    ),
    ("vacation", "Your vacation reply is saved."),
    ("rule", "The rule is added."),
    ("removed", "The rule is removed."),
];

async fn overview(State(ctx): Ctx, User(signed): User) -> Response {
    let user = &signed.user;
    let body = html! {
        section aria-labelledby="usage" {
            h2 #usage { "Storage" }
            @match user.quota {
                Some(quota) => {
                    p { (human_bytes(user.used)) " of " (human_bytes(quota)) " used." }
                    meter min="0" max=(quota) value=(user.used.min(quota)) aria-label="Storage used" {}
                }
                None => p { (human_bytes(user.used)) " used (no limit)." },
            }
        }
        (program_settings(&ctx, &user.address))
        p.muted { "Signed in until " (layout::date_time(signed.session.expires)) "." }
    };
    let page = layout::page(
        "Your account",
        Some(&signed.viewer()),
        "/account",
        None,
        body,
    );
    html(StatusCode::OK, page)
}

/// What to type into an email program, and the links that do it for you.
fn program_settings(ctx: &Context, address: &str) -> Markup {
    let encoded: String = form_urlencoded::byte_serialize(address.as_bytes()).collect();
    let hostname = &ctx.config.hostname;
    let offered: Vec<_> = ctx
        .client_services
        .iter()
        .filter_map(|s| Some((s, s.port?)))
        .collect();
    html! {
        section aria-labelledby="programs" {
            h2 #programs { "Email programs" }
            p { "Most programs set themselves up from your address. If yours asks, use:" }
            table {
                thead { tr { th scope="col" { "Service" } th scope="col" { "Server" } th scope="col" { "Port" } th scope="col" { "Security" } } }
                tbody {
                    @for (service, port) in &offered {
                        tr {
                            td { (service_label(service.srv_name)) }
                            td { (hostname) }
                            td { (port) }
                            td { @if service.implicit_tls { "SSL/TLS" } @else { "STARTTLS" } }
                        }
                    }
                }
            }
            p { "User name: " strong { (address) } ". Password: your password, or better an app password." }
            ul {
                li { a href={ "/mail/config-v1.1.xml?emailaddress=" (encoded) } { "Automatic setup file (Thunderbird and others)" } }
                li { a href={ "/apple/profile.mobileconfig?emailaddress=" (encoded) } { "Profile for iPhone, iPad and Mac" } }
            }
        }
    }
}

fn service_label(srv_name: &str) -> &'static str {
    match srv_name {
        "submissions" | "submission" => "Outgoing mail (SMTP)",
        "imaps" | "imap" => "Incoming mail (IMAP)",
        _ => "Incoming mail (POP3)",
    }
}

async fn security(State(ctx): Ctx, User(signed): User, Query(query): QueryMap) -> Response {
    let notice = notice_from(&query, DONE);
    security_page(&ctx, &signed, StatusCode::OK, notice, None).await
}

async fn security_page(
    ctx: &Context,
    signed: &SignedIn,
    status: StatusCode,
    notice: Option<Notice>,
    new_secret: Option<(&str, &str)>,
) -> Response {
    let passwords = match ctx.store.app_passwords(signed.user.id).await {
        Ok(passwords) => passwords,
        Err(e) => return super::store_failed(e),
    };
    let csrf = &signed.csrf;
    let body = html! {
        section aria-labelledby="change" {
            h2 #change { "Change your password" }
            form method="post" action="/account/password" {
                (csrf_field(csrf))
                label for="current" { "Current password" }
                input #current type="password" name="current" autocomplete="current-password" required;
                label for="new" { "New password" }
                input #new type="password" name="new" autocomplete="new-password" minlength="8" required;
                label for="confirm" { "New password again" }
                input #confirm type="password" name="confirm" autocomplete="new-password" minlength="8" required;
                button type="submit" { "Change password" }
            }
        }
        (app_passwords_section(&passwords, csrf, new_secret))
    };
    let page = layout::page(
        "Passwords",
        Some(&signed.viewer()),
        "/account/security",
        notice.as_ref(),
        body,
    );
    html(status, page)
}

/// The account's app passwords, the one just made (shown once), and the form making one.
fn app_passwords_section(
    passwords: &[hermod_store::AppPassword],
    csrf: &str,
    new_secret: Option<(&str, &str)>,
) -> Markup {
    html! {
        section aria-labelledby="apps" {
            h2 #apps { "App passwords" }
            p { "Give each email program its own password: it works for IMAP, POP3, sending and filters, never for this site, and you can revoke it alone." }
            @if let Some((name, secret)) = new_secret {
                div.notice.done role="status" {
                    p { "The app password for " strong { (name) } " is:" }
                    p { span.secret { (secret) } }
                    p { "Type it into the program now: it is shown only this once." }
                }
            }
            @if passwords.is_empty() {
                p.muted { "No app passwords yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Made" } th scope="col" { span.muted { "Action" } } } }
                    tbody {
                        @for p in passwords {
                            tr {
                                td { (p.name) }
                                td { (layout::date_time(p.created)) }
                                td {
                                    form.inline method="post" action="/account/app-passwords/revoke" {
                                        (csrf_field(csrf))
                                        input type="hidden" name="id" value=(p.id);
                                        button.danger type="submit" aria-label={ "Revoke " (p.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/account/app-passwords" {
                (csrf_field(csrf))
                label for="app-name" { "Name (e.g. the program or device)" }
                input #app-name type="text" name="name" maxlength="64" required;
                button type="submit" { "Create app password" }
            }
        }
    }
}

fn problem(error: impl std::fmt::Display) -> Option<Notice> {
    Some(Notice::Problem(error.to_string()))
}

async fn change_password(State(ctx): Ctx, UserForm(signed, form): UserForm) -> Response {
    let (new, confirm) = (form.get("new"), form.get("confirm"));
    let refused = if new != confirm {
        Some("The two new passwords differ.".to_owned())
    } else if new.chars().count() < 8 {
        Some("A password has at least 8 characters.".to_owned())
    } else {
        None
    };
    if let Some(text) = refused {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return security_page(&ctx, &signed, status, problem(text), None).await;
    }
    let changed =
        accounts::change_password(ctx.store.as_ref(), &signed.user, form.get("current"), new).await;
    match changed {
        Ok(()) => {}
        Err(e @ (AccountError::WrongPassword | AccountError::Hash(_))) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return security_page(&ctx, &signed, status, problem(e), None).await;
        }
        Err(e) => return super::store_failed(e),
    }
    // The old session ended with the old password; this browser gets a new one.
    let Some(address) = signed.address() else {
        return see_other("/login");
    };
    let user = match ctx.store.user(&address).await {
        Ok(Some(user)) => user,
        Ok(None) => return see_other("/login"),
        Err(e) => return super::store_failed(e),
    };
    let mut response = see_other("/account/security?done=password");
    if let Some(value) = ctx
        .web_key
        .session_cookie(&user.address, &user.password_hash)
    {
        super::set_session_cookie(&mut response, &value);
    }
    response
}

async fn create_app_password(State(ctx): Ctx, UserForm(signed, form): UserForm) -> Response {
    let name = form.get("name").trim().to_owned();
    let now = super::session::now();
    match accounts::create_app_password(ctx.store.as_ref(), signed.user.id, &name, now).await {
        Ok((_, secret)) => {
            security_page(&ctx, &signed, StatusCode::OK, None, Some((&name, &secret))).await
        }
        Err(e @ AccountError::Store(hermod_store::StoreError::AppPasswordExists(_)))
        | Err(e @ (AccountError::BadName | AccountError::TooManyAppPasswords)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            security_page(&ctx, &signed, status, problem(e), None).await
        }
        Err(e) => super::store_failed(e),
    }
}

async fn revoke_app_password(State(ctx): Ctx, UserForm(signed, form): UserForm) -> Response {
    let Ok(id) = form.get("id").parse::<i64>() else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return security_page(
            &ctx,
            &signed,
            status,
            problem("No such app password."),
            None,
        )
        .await;
    };
    match ctx.store.revoke_app_password(signed.user.id, id).await {
        Ok(true) => see_other("/account/security?done=revoked"),
        Ok(false) => {
            let status = StatusCode::NOT_FOUND;
            security_page(
                &ctx,
                &signed,
                status,
                problem("No such app password."),
                None,
            )
            .await
        }
        Err(e) => super::store_failed(e),
    }
}

async fn vacation(State(ctx): Ctx, User(signed): User, Query(query): QueryMap) -> Response {
    let notice = notice_from(&query, DONE);
    vacation_page(&ctx, &signed, StatusCode::OK, notice, None).await
}

async fn vacation_page(
    ctx: &Context,
    signed: &SignedIn,
    status: StatusCode,
    notice: Option<Notice>,
    shown: Option<&Settings>,
) -> Response {
    let (saved, active) = match settings::load(ctx.store.as_ref(), signed.user.id).await {
        Ok(loaded) => loaded,
        Err(e) => return super::store_failed(e),
    };
    let current = shown.unwrap_or(&saved);
    let body = super::account_forms::vacation_body(current, active, &saved, &signed.csrf);
    let page = layout::page(
        "Vacation and filters",
        Some(&signed.viewer()),
        "/account/vacation",
        notice.as_ref(),
        body,
    );
    html(status, page)
}

/// Loads the saved settings, lets `change` edit them with the posted form, and saves them
/// (Sieve).
async fn edit_settings(
    ctx: &Context,
    UserForm(signed, form): UserForm,
    change: impl FnOnce(&mut Settings, &Form) -> Result<&'static str, String>,
) -> Response {
    let (mut edited, _) = match settings::load(ctx.store.as_ref(), signed.user.id).await {
        Ok(loaded) => loaded,
        Err(e) => return super::store_failed(e),
    };
    let done = match change(&mut edited, &form) {
        Ok(done) => done,
        Err(text) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return vacation_page(ctx, &signed, status, problem(text), Some(&edited)).await;
        }
    };
    let (store, engine) = (ctx.store.as_ref(), &ctx.sieve);
    let saved = settings::save(
        store,
        engine,
        signed.user.id,
        &signed.user.address,
        edited.clone(),
    );
    match saved.await {
        Ok(()) => see_other(&format!("/account/vacation?done={done}")),
        Err(settings::SettingsError::Put(hermod_core::sieve::PutError::Store(e))) => {
            super::store_failed(e)
        }
        Err(e) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            vacation_page(ctx, &signed, status, problem(e), Some(&edited)).await
        }
    }
}

async fn save_vacation(State(ctx): Ctx, posted: UserForm) -> Response {
    edit_settings(&ctx, posted, |settings, form| {
        let optional = |name: &str| {
            let value = form.get(name).trim();
            (!value.is_empty()).then(|| value.to_owned())
        };
        let v = &mut settings.vacation;
        v.enabled = form.checked("enabled");
        v.from = optional("from");
        v.until = optional("until");
        v.subject = form.get("subject").trim().to_owned();
        v.text = form.get("text").replace("\r\n", "\n");
        Ok("vacation")
    })
    .await
}

async fn add_rule(State(ctx): Ctx, posted: UserForm) -> Response {
    edit_settings(&ctx, posted, |settings, form| {
        let field = Field::parse(form.get("field")).ok_or("Choose what the rule looks at.")?;
        let action = match form.get("action") {
            "fileinto" => Action::FileInto(form.get("folder").trim().to_owned()),
            "flag" => Action::Flag,
            "discard" => Action::Discard,
            _ => return Err("Choose what the rule does.".to_owned()),
        };
        if settings.rules.len() >= MAX_RULES {
            return Err(format!("At most {MAX_RULES} rules: remove one first."));
        }
        settings.rules.push(Rule {
            field,
            value: form.get("value").trim().to_owned(),
            action,
        });
        Ok("rule")
    })
    .await
}

/// Enough for simple sorting; anything more is a job for a hand-written script.
const MAX_RULES: usize = 50;

async fn remove_rule(State(ctx): Ctx, posted: UserForm) -> Response {
    edit_settings(&ctx, posted, |settings, form| {
        let index = form
            .get("index")
            .parse::<usize>()
            .ok()
            .filter(|i| *i < settings.rules.len())
            .ok_or("No such rule.")?;
        settings.rules.remove(index);
        Ok("removed")
    })
    .await
}
