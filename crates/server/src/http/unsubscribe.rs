//! RFC 8058 one-click unsubscribe: `POST /list-unsubscribe/TOKEN` with the body
//! `List-Unsubscribe=One-Click` removes the member the token names, with no login and no
//! cookie (the token, sent only in that member's copies, is the authority; see
//! `hermod_core::lists::OneClick`). A GET only shows a page with a button that makes that
//! POST: mail scanners and link previews fetch GET links, and must not unsubscribe anyone.
//! The answer never says whether the address was a member.

use super::{MAX_BODY, REQUEST_TIMEOUT, Reply, method_not_allowed, reply, text};
use crate::Context;
use hermod_core::lists::{ListDeps, ONE_CLICK_PATH, OneClickOutcome};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

/// Whether the web listener should hand `path` (lowercased) here.
pub(super) fn routes(path: &str) -> bool {
    path.starts_with(ONE_CLICK_PATH)
}

pub(super) async fn respond(ctx: &Context, request: Request<Incoming>) -> Reply {
    // The token is case-sensitive (base64url): the path as sent.
    let token = request.uri().path()[ONE_CLICK_PATH.len()..].to_owned();
    if token.is_empty() || token.len() > 2048 || ctx.lists.one_click.is_none() {
        return super::not_found();
    }
    match *request.method() {
        Method::GET | Method::HEAD => confirmation_page(ctx, &token),
        Method::POST => unsubscribe(ctx, request, &token).await,
        _ => method_not_allowed("GET, HEAD, POST"),
    }
}

fn confirmation_page(ctx: &Context, token: &str) -> Reply {
    let Some((list, member)) = ctx.lists.one_click.as_ref().and_then(|o| o.verify(token)) else {
        return invalid();
    };
    let body = page(
        "Unsubscribe",
        &format!(
            "<p>Stop sending posts of <b>{}</b> to <b>{}</b>?</p>\n\
             <form method=\"post\">\n\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\n\
             <button type=\"submit\">Unsubscribe</button>\n</form>",
            escape(&list),
            escape(&member)
        ),
    );
    reply(StatusCode::OK, "text/html; charset=utf-8", body)
}

async fn unsubscribe(ctx: &Context, request: Request<Incoming>, token: &str) -> Reply {
    let limited = Limited::new(request.into_body(), MAX_BODY);
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "request body too slow"),
    };
    // RFC 8058 3.2: the POST carries exactly this key and value (as a form; mail programs
    // send it urlencoded or as multipart, and either holds it literally).
    let one_click = form_urlencoded::parse(&body)
        .any(|(key, value)| key == "List-Unsubscribe" && value == "One-Click")
        || String::from_utf8_lossy(&body).contains("List-Unsubscribe=One-Click");
    if !one_click {
        return text(
            StatusCode::BAD_REQUEST,
            "expected List-Unsubscribe=One-Click",
        );
    }
    let deps = ListDeps {
        store: ctx.store.as_ref(),
        sieve: &ctx.sieve,
        router: &ctx.router,
    };
    match ctx.lists.unsubscribe_one_click(deps, token).await {
        Ok(OneClickOutcome::Invalid) => invalid(),
        Ok(OneClickOutcome::Removed | OneClickOutcome::NotMember) => {
            let body = page(
                "Unsubscribed",
                "<p>You will get no more posts of this list.</p>",
            );
            reply(StatusCode::OK, "text/html; charset=utf-8", body)
        }
        Err(e) => {
            tracing::warn!(error = %e, "one-click unsubscribe failed");
            text(StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
    }
}

fn invalid() -> Reply {
    let body = page(
        "Unknown link",
        "<p>This unsubscribe link is not valid here. Send a message with the subject \
         \"unsubscribe\" to the list's -request address instead.</p>",
    );
    reply(StatusCode::NOT_FOUND, "text/html; charset=utf-8", body)
}

fn page(title: &str, content: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\n\
         <body>\n<h1>{title}</h1>\n{content}\n</body></html>\n"
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
