//! `/account/spam`: each account's own spam settings. The score from which its mail is
//! filed into Junk (its own, or the server's `[spam] junk_threshold`; never above the
//! reject threshold, as `hermod user spam-threshold` checks too), and a button teaching the
//! account's own filter that everything in its Junk folder is spam (de-duplicated like
//! `hermod spam train`: a message learned before counts once), and the account's known
//! senders (`[spam] known_senders`), each of which it can forget.

use super::layout::{self, Notice, csrf_field};
use super::{Ctx, SignedIn, User, UserForm, html, notice_from, see_other};
use crate::Context;
use crate::imap::learn::learn_junk_folder;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use hermod_core::accounts::{self, AccountError};
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

const PATH: &str = "/account/spam";

pub(super) fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route(PATH, get(spam_page))
        .route("/account/spam/threshold", post(set_threshold))
        .route("/account/spam/train-junk", post(train_junk))
        .route("/account/spam/forget-sender", post(forget_sender))
}

const DONE: &[(&str, &str)] = &[
    (
        "threshold",
        "Your spam setting is saved: it applies to mail arriving from now on.",
    ),
    ("default", "You use the server's spam setting again."),
    (
        "forgotten",
        "That sender is forgotten: its mail is judged like anyone's again.",
    ),
];

/// Known senders shown on the page, the most recently used first.
const KNOWN_SHOWN: usize = 100;

async fn spam_page(
    State(ctx): Ctx,
    User(signed): User,
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
    let known = match ctx.config.spam.known_senders {
        true => match ctx
            .store
            .correspondents_list(signed.user.id, KNOWN_SHOWN)
            .await
        {
            Ok(known) => Some(known),
            Err(e) => return super::store_failed(e),
        },
        false => None,
    };
    let spam = &ctx.config.spam;
    let own = signed.user.junk_threshold;
    let csrf = &signed.csrf;
    let body = html! {
        section aria-labelledby="threshold" {
            h2 #threshold { "When mail goes to Junk" }
            p { "Each arriving message gets a spam score. At or above the threshold it is filed into your Junk folder; at "
                (spam.reject_threshold) " or more the server refuses it for everyone." }
            @match own {
                Some(value) => p { "Your threshold: " strong { (value) } " (the server's is " (spam.junk_threshold) ")." },
                None => p { "You use the server's threshold, " strong { (spam.junk_threshold) } "." },
            }
            form method="post" action="/account/spam/threshold" {
                (csrf_field(csrf))
                label for="junk-threshold" { "Your threshold (lower catches more; empty: the server's)" }
                input #junk-threshold type="number" name="threshold" step="0.1"
                    max=(spam.reject_threshold) value=[own];
                button type="submit" { "Save" }
            }
        }
        section aria-labelledby="train" {
            h2 #train { "Teach your filter" }
            p { "Moving a message into Junk teaches your own filter that it is spam; moving it out, that it is not. "
                "This button teaches it every message now in your Junk folder at once (messages it learned before count once)." }
            form method="post" action="/account/spam/train-junk" {
                (csrf_field(csrf))
                button.secondary type="submit" { "Learn my Junk folder as spam" }
            }
        }
        @if let Some((total, latest)) = &known {
            (known_senders(*total, latest, csrf))
        }
    };
    let page = layout::page(
        "Spam settings",
        Some(&signed.viewer()),
        PATH,
        notice.as_ref(),
        body,
    );
    html(status, page)
}

/// The account's known senders, each with a button that forgets it.
fn known_senders(total: u64, latest: &[(String, i64)], csrf: &str) -> maud::Markup {
    html! {
        section aria-labelledby="known" {
            h2 #known { "Known senders" }
            p { "People you wrote to, and senders whose mail you moved out of Junk. Their mail counts 4 points less spammy for you, "
                "when its domain proves it is really theirs. Moving their mail into Junk forgets them." }
            @if latest.is_empty() {
                p { "None yet." }
            } @else {
                p { (total) " in all" @if total > latest.len() as u64 { "; the " (latest.len()) " used most recently" } ":" }
                table {
                    thead { tr { th { "Address" } th { "Last" } th {} } }
                    tbody {
                        @for (address, at) in latest {
                            tr {
                                td { (address) }
                                td { (layout::date_time(*at)) }
                                td {
                                    form method="post" action="/account/spam/forget-sender" {
                                        (csrf_field(csrf))
                                        input type="hidden" name="address" value=(address);
                                        button.secondary type="submit" { "Forget" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Forgets one known sender of the account.
async fn forget_sender(State(ctx): Ctx, UserForm(signed, form): UserForm) -> Response {
    let address = form.get("address").trim().to_ascii_lowercase();
    let forgotten = ctx
        .store
        .correspondents_forget(signed.user.id, &[address])
        .await;
    match forgotten {
        Ok(()) => see_other(&format!("{PATH}?done=forgotten")),
        Err(e) => super::store_failed(e),
    }
}

/// The threshold field: empty for the server's, else a number.
fn parse_threshold(field: &str) -> Result<Option<f64>, ()> {
    match field.trim() {
        "" => Ok(None),
        number => number
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite())
            .map(Some)
            .ok_or(()),
    }
}

async fn set_threshold(State(ctx): Ctx, UserForm(signed, form): UserForm) -> Response {
    let reject = ctx.config.spam.reject_threshold;
    let refused = |text: String| {
        let notice = Some(Notice::Problem(text));
        render(&ctx, &signed, StatusCode::UNPROCESSABLE_ENTITY, notice)
    };
    let Ok(threshold) = parse_threshold(form.get("threshold")) else {
        return refused("The threshold is a number, like 4.5.".to_owned()).await;
    };
    let Some(address) = signed.address() else {
        return see_other("/login");
    };
    match accounts::set_junk_threshold(ctx.store.as_ref(), &address, threshold, reject).await {
        Ok(()) if threshold.is_some() => see_other(&format!("{PATH}?done=threshold")),
        Ok(()) => see_other(&format!("{PATH}?done=default")),
        Err(e @ AccountError::BadThreshold(_)) => refused(e.to_string()).await,
        Err(e) => super::store_failed(e),
    }
}

/// Learns every message in the account's Junk folder as spam for the account's own model.
async fn train_junk(State(ctx): Ctx, UserForm(signed, _): UserForm) -> Response {
    let user = signed.user.id;
    let lessons =
        match learn_junk_folder(ctx.store.as_ref(), user, ctx.config.spam.max_scan_size).await {
            Ok(lessons) => lessons,
            Err(e) => return super::store_failed(e),
        };
    let (all, learned) = (lessons.in_junk, lessons.learned);
    if learned > 0 {
        ctx.spam.forget_personal(user);
    }
    let text = match (all, learned) {
        (0, _) => "Your Junk folder is empty: nothing to learn.".to_owned(),
        (all, 0) => format!("Your filter already knew all {all} message(s) in Junk as spam."),
        (all, n) => format!(
            "Your filter learned {n} message(s) as spam ({} of the {all} in Junk it knew already).",
            all - n
        ),
    };
    render(&ctx, &signed, StatusCode::OK, Some(Notice::Done(text))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_fields() {
        assert_eq!(parse_threshold(""), Ok(None));
        assert_eq!(parse_threshold(" 4.5 "), Ok(Some(4.5)));
        assert_eq!(parse_threshold("-2"), Ok(Some(-2.0)));
        assert!(parse_threshold("lots").is_err());
        assert!(parse_threshold("inf").is_err());
        assert!(parse_threshold("NaN").is_err());
    }
}
