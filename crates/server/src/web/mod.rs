//! The web interface (issue #19): `/account`, every account's self-service, and `/admin`,
//! the operator's administration. Server-rendered HTML (maud), routed by axum inside the
//! HTTP listener's hyper connection. Every page works without JavaScript; one small static
//! script (`/web.js`) only adds copy buttons where it runs. Every form carries a CSRF token;
//! sessions are signed cookies (see `session.rs`). A handler names who may call it by an
//! argument (`User`, `Admin`, `UserForm`, `AdminForm`): the session, the role and a form's
//! CSRF token are checked before it runs. Served on the HTTPS listener, and on plain HTTP
//! only to loopback clients (local use and tests).

mod account;
mod account_forms;
mod account_spam;
mod admin;
mod admin_lists;
mod admin_mail;
mod admin_spam;
mod layout;
mod session;

use crate::{Context, Service};
pub(crate) use admin::listening;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hermod_store::UserRecord;
use hermod_types::Address;
use http_body_util::{BodyExt, Limited};
use layout::{Notice, Viewer};
use maud::Markup;
pub(crate) use session::WebKey;
use session::{LOGIN_COOKIE, SESSION_COOKIE, Session};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A form is a few fields; a vacation text is the longest.
const MAX_FORM: usize = 64 * 1024;

type Ctx = State<Arc<Context>>;

/// The client's address, put into each request for the login throttle.
#[derive(Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// Whether `path` (lowercased) is the web interface's.
pub(crate) fn is_web_path(path: &str) -> bool {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    matches!(path, "/" | "/login" | "/logout" | "/web.css" | "/web.js")
        || under("/account")
        || under("/admin")
}

fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route("/", get(|| async { see_other("/account") }))
        .route("/web.css", get(style))
        .route("/web.js", get(script))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .merge(account::routes())
        .merge(account_spam::routes())
        .merge(admin::routes())
        .merge(admin_mail::routes())
        .merge(admin_lists::routes())
        .merge(admin_spam::routes())
        .fallback(|| async { problem_page(StatusCode::NOT_FOUND, "No such page.") })
}

/// Answers a request for a web path. Plain HTTP is refused to clients not on loopback:
/// passwords and session cookies travel over TLS only.
pub(crate) async fn handle<B>(
    ctx: Arc<Context>,
    service: Service,
    peer: SocketAddr,
    request: axum::http::Request<B>,
) -> axum::http::Response<http_body_util::Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let response = if !served_to(service, peer) {
        problem_page(
            StatusCode::FORBIDDEN,
            "The web interface is served over HTTPS only.",
        )
    } else {
        let mut request = request.map(|body| Body::new(Limited::new(body, MAX_FORM)));
        request.extensions_mut().insert(Peer(peer));
        let mut router = routes().with_state(ctx);
        match tower_service::Service::call(&mut router, request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    };
    let (mut parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    secure_headers(&mut parts.headers);
    axum::http::Response::from_parts(parts, http_body_util::Full::new(body))
}

/// Whether the web interface answers on this listener for this client: always over HTTPS,
/// over plain HTTP only on loopback.
fn served_to(service: Service, peer: SocketAddr) -> bool {
    match service {
        Service::Https => true,
        Service::Http => peer.ip().is_loopback(),
        _ => false,
    }
}

/// No framing, no sniffing, no inline scripts or styles (only this site's own files), no
/// referrer to other sites, no caching of pages with personal data.
fn secure_headers(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name, value| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
}

async fn style() -> Response {
    static_file(layout::STYLE, "text/css; charset=utf-8")
}

async fn script() -> Response {
    static_file(layout::SCRIPT, "text/javascript; charset=utf-8")
}

/// A file every page shares, cached by browsers for an hour.
fn static_file(content: &'static str, content_type: &'static str) -> Response {
    let mut response = content.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    response
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (status, axum::response::Html(markup.into_string())).into_response()
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A page that only says what went wrong.
fn problem_page(status: StatusCode, text: &str) -> Response {
    let notice = Notice::Problem(text.to_owned());
    let body = maud::html! { p { a href="/account" { "Back to your account" } } };
    let title = status.canonical_reason().unwrap_or("Error");
    html(status, layout::page(title, None, "", Some(&notice), body))
}

fn store_failed(error: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %error, "web: store request failed");
    problem_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The server could not do that just now; try again.",
    )
}

/// A form's fields (the last value of a repeated name wins).
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn checked(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// A signed-in account, read fresh from the store for this request.
pub(crate) struct SignedIn {
    pub session: Session,
    pub user: UserRecord,
    pub admin: bool,
    pub csrf: String,
}

impl SignedIn {
    fn viewer(&self) -> Viewer<'_> {
        Viewer {
            address: &self.user.address,
            admin: self.admin,
            csrf: &self.csrf,
        }
    }

    fn address(&self) -> Option<Address> {
        Address::parse(&self.user.address).ok()
    }
}

/// The account a request's session cookie names, if the cookie verifies, has not expired,
/// and the account still exists with the password the session was opened with.
async fn signed_in(ctx: &Context, headers: &HeaderMap) -> Result<Option<SignedIn>, Response> {
    let Some(value) = session::cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some((session, tag)) = ctx.web_key.open_session(value, session::now()) else {
        return Ok(None);
    };
    let Ok(address) = Address::parse(&session.address) else {
        return Ok(None);
    };
    let user = match ctx.store.user(&address).await {
        Ok(Some(user)) if ctx.web_key.still_valid(&tag, &user.password_hash) => user,
        Ok(_) => return Ok(None),
        Err(e) => return Err(store_failed(e)),
    };
    let admin = ctx.store.is_admin(&address).await.map_err(store_failed)?;
    let csrf = ctx.web_key.csrf_token(&session);
    Ok(Some(SignedIn {
        session,
        user,
        admin,
        csrf,
    }))
}

/// Who may see a page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Account,
    Admin,
}

/// The signed-in account for a page: without a session, off to the login page; an account
/// that is no admin gets 403 for `/admin`.
async fn require(ctx: &Context, headers: &HeaderMap, need: Need) -> Result<SignedIn, Response> {
    let Some(signed) = signed_in(ctx, headers).await? else {
        return Err(see_other("/login"));
    };
    if need == Need::Admin && !signed.admin {
        return Err(problem_page(
            StatusCode::FORBIDDEN,
            "This page is for administrators.",
        ));
    }
    Ok(signed)
}

/// [`require`] for a form: the session, and the form's CSRF token for it.
async fn require_form(
    ctx: &Context,
    headers: &HeaderMap,
    body: &[u8],
    need: Need,
) -> Result<(SignedIn, Form), Response> {
    let signed = require(ctx, headers, need).await?;
    let form = Form::parse(body);
    if !ctx.web_key.csrf_ok(&signed.session, form.get("csrf")) {
        return Err(problem_page(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site: reload the page and try again.",
        ));
    }
    Ok((signed, form))
}

/// A handler's signed-in account, any account: a request without a valid session is sent
/// to the login page before the handler runs.
pub(crate) struct User(pub SignedIn);

/// [`User`] for the administrators' pages: any other account gets 403.
pub(crate) struct Admin(pub SignedIn);

/// A form posted by a signed-in account, its CSRF token checked before the handler runs.
pub(crate) struct UserForm(pub SignedIn, pub Form);

/// [`UserForm`] for the administrators' forms.
pub(crate) struct AdminForm(pub SignedIn, pub Form);

impl FromRequestParts<Arc<Context>> for User {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Context>) -> Result<Self, Response> {
        require(ctx, &parts.headers, Need::Account).await.map(User)
    }
}

impl FromRequestParts<Arc<Context>> for Admin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Context>) -> Result<Self, Response> {
        require(ctx, &parts.headers, Need::Admin).await.map(Admin)
    }
}

impl FromRequest<Arc<Context>> for UserForm {
    type Rejection = Response;
    async fn from_request(request: Request, ctx: &Arc<Context>) -> Result<Self, Response> {
        let (signed, form) = signed_form(request, ctx, Need::Account).await?;
        Ok(UserForm(signed, form))
    }
}

impl FromRequest<Arc<Context>> for AdminForm {
    type Rejection = Response;
    async fn from_request(request: Request, ctx: &Arc<Context>) -> Result<Self, Response> {
        let (signed, form) = signed_form(request, ctx, Need::Admin).await?;
        Ok(AdminForm(signed, form))
    }
}

/// The body first (a form over [`MAX_FORM`] is refused as such), then [`require_form`].
async fn signed_form(
    request: Request,
    ctx: &Arc<Context>,
    need: Need,
) -> Result<(SignedIn, Form), Response> {
    let headers = request.headers().clone();
    let body = Bytes::from_request(request, ctx)
        .await
        .map_err(IntoResponse::into_response)?;
    require_form(ctx, &headers, &body, need).await
}

/// The notice a redirect after a form asks for (`?done=KEY`): fixed texts only, so nothing
/// from the URL is ever shown.
fn notice_from(query: &HashMap<String, String>, texts: &[(&str, &str)]) -> Option<Notice> {
    let key = query.get("done")?;
    texts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, text)| Notice::Done((*text).to_owned()))
}

async fn login_page(State(ctx): Ctx, headers: HeaderMap) -> Response {
    match signed_in(&ctx, &headers).await {
        Ok(Some(_)) => see_other("/account"),
        Err(response) => response,
        Ok(None) => login_form(&ctx, StatusCode::OK, None, ""),
    }
}

/// The login form, with a fresh CSRF nonce in its own cookie.
fn login_form(ctx: &Context, status: StatusCode, notice: Option<Notice>, name: &str) -> Response {
    let Some((cookie, token)) = ctx.web_key.login_form() else {
        return store_failed("no randomness for the login form");
    };
    let body = maud::html! {
        section {
            form method="post" action="/login" {
                (layout::csrf_field(&token))
                label for="address" { "Email address" }
                input #address type="email" name="address" value=(name) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
            p.muted { "Use your account's own password: app passwords are for email programs only." }
        }
    };
    let mut response = html(
        status,
        layout::page("Log in", None, "/login", notice.as_ref(), body),
    );
    let lifetime = session::LOGIN_FORM_LIFETIME;
    let set = session::set_cookie(LOGIN_COOKIE, &cookie, lifetime);
    if let Ok(value) = HeaderValue::from_str(&set) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn login(
    State(ctx): Ctx,
    axum::Extension(Peer(peer)): axum::Extension<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let cookie = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !ctx
        .web_key
        .login_form_ok(cookie, form.get("csrf"), session::now())
    {
        let text = "The login form expired or did not come from this site; try again.";
        return login_form(
            &ctx,
            StatusCode::FORBIDDEN,
            Some(Notice::Problem(text.into())),
            "",
        );
    }
    let name = form.get("address").trim();
    let outcome = hermod_core::auth::web_login(
        ctx.store.as_ref(),
        &ctx.throttle,
        peer.ip(),
        name,
        form.get("password"),
    )
    .await;
    use hermod_core::auth::LoginOutcome;
    match outcome {
        Err(e) => store_failed(e),
        Ok(LoginOutcome::Accepted(user)) => logged_in(&ctx, &user).await,
        Ok(LoginOutcome::Refused { delay }) => {
            tokio::time::sleep(delay).await;
            let text = "Wrong email address or password.";
            let notice = Some(Notice::Problem(text.into()));
            login_form(&ctx, StatusCode::UNAUTHORIZED, notice, name)
        }
        Ok(LoginOutcome::Locked { retry_after }) => {
            let text = format!(
                "Too many failed logins: try again in {} minute(s).",
                retry_after.as_secs().div_ceil(60)
            );
            let notice = Some(Notice::Problem(text));
            let mut response = login_form(&ctx, StatusCode::TOO_MANY_REQUESTS, notice, name);
            if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// Opens the session: administrators land on the dashboard, everyone else on their account.
async fn logged_in(ctx: &Context, user: &UserRecord) -> Response {
    let Some(value) = ctx
        .web_key
        .session_cookie(&user.address, &user.password_hash)
    else {
        return store_failed("no randomness for a session");
    };
    let admin = match Address::parse(&user.address) {
        Ok(address) => ctx.store.is_admin(&address).await.unwrap_or(false),
        Err(_) => false,
    };
    let mut response = see_other(if admin { "/admin" } else { "/account" });
    set_session_cookie(&mut response, &value);
    let gone = session::set_cookie(LOGIN_COOKIE, "", std::time::Duration::ZERO);
    if let Ok(value) = HeaderValue::from_str(&gone) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn set_session_cookie(response: &mut Response, value: &str) {
    let set = session::set_cookie(SESSION_COOKIE, value, session::SESSION_LIFETIME);
    if let Ok(value) = HeaderValue::from_str(&set) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Forgets the session in this browser. (The cookie is the whole session: a copy taken
/// elsewhere stays valid until it expires or the password changes.)
async fn logout(_signed_in: UserForm) -> Response {
    let mut response = see_other("/login");
    let gone = session::set_cookie(SESSION_COOKIE, "", std::time::Duration::ZERO);
    if let Ok(value) = HeaderValue::from_str(&gone) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The web key: the store's shared secret `web.key` (a file in the data directory on the
/// embedded store), made on first start; a session cookie works on every node.
pub(crate) async fn web_key(store: &dyn hermod_store::Coordination) -> Result<WebKey, String> {
    let secret = store
        .shared_secret("web.key")
        .await
        .map_err(|e| format!("web.key: {e}"))?;
    Ok(WebKey::new(&secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_serves_loopback_only() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(served_to(Service::Https, at("203.0.113.7:5000")));
        assert!(served_to(Service::Http, at("127.0.0.1:5000")));
        assert!(served_to(Service::Http, at("[::1]:5000")));
        assert!(!served_to(Service::Http, at("203.0.113.7:5000")));
        assert!(!served_to(Service::Http, at("[2001:db8::1]:5000")));
        assert!(!served_to(Service::Metrics, at("127.0.0.1:5000")));
    }

    #[test]
    fn web_paths() {
        for path in [
            "/",
            "/login",
            "/logout",
            "/web.css",
            "/web.js",
            "/account",
            "/account/security",
            "/admin",
            "/admin/queue",
        ] {
            assert!(is_web_path(path), "{path}");
        }
        for path in [
            "/accounts",
            "/administrator",
            "/mail/config-v1.1.xml",
            "/.well-known/mta-sts.txt",
            "/metrics",
        ] {
            assert!(!is_web_path(path), "{path}");
        }
    }
}
