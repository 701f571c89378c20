//! Web sessions and CSRF tokens, both signed with the server's web key (`web.key` in the
//! data directory, like `srs.key`: every node of one store shares it).
//!
//! A session cookie is `ADDRESS-HEX.EXPIRY.NONCE.PASSWORD-TAG.MAC`: the account, when the
//! session ends (Unix time), a random nonce naming this session, a tag of the account's
//! password hash (changing the password ends every session), and an HMAC-SHA256 over the
//! rest. Nothing is stored server-side. A form's CSRF token is an HMAC of the session's
//! nonce; the login form's is an HMAC of a nonce in a short-lived cookie of its own.

use ring::hmac;
use std::time::Duration;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "hermod_session";
/// The login form's cookie (its CSRF nonce) before there is a session.
pub(crate) const LOGIN_COOKIE: &str = "hermod_login";
/// How long a session lasts after logging in.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// How long a login form stays usable.
pub(crate) const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(3600);

/// The signing key.
pub(crate) struct WebKey(hmac::Key);

/// A session whose cookie verified.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub address: String,
    pub expires: i64,
    nonce: String,
}

pub(crate) use hermod_message::unix_now as now;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A random nonce, hex.
pub(crate) fn nonce() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex(&bytes))
}

impl WebKey {
    pub(crate) fn new(secret: &[u8]) -> WebKey {
        WebKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    fn sign(&self, purpose: &str, data: &str) -> String {
        let message = format!("{purpose}|{data}");
        hex(hmac::sign(&self.0, message.as_bytes()).as_ref())
    }

    /// Constant-time: `ring::hmac::verify` compares the tags.
    fn verify(&self, purpose: &str, data: &str, tag: &str) -> bool {
        let Some(tag) = unhex(tag) else {
            return false;
        };
        let message = format!("{purpose}|{data}");
        hmac::verify(&self.0, message.as_bytes(), &tag).is_ok()
    }

    /// Ties a session to the password it was opened with.
    fn password_tag(&self, password_hash: &str) -> String {
        self.sign("password", password_hash)[..16].to_owned()
    }

    /// A new session's cookie value for `address`, whose password hash is `password_hash`.
    pub(crate) fn session_cookie(&self, address: &str, password_hash: &str) -> Option<String> {
        let expires = now() + SESSION_LIFETIME.as_secs() as i64;
        let payload = format!(
            "{}.{expires}.{}.{}",
            hex(address.as_bytes()),
            nonce()?,
            self.password_tag(password_hash)
        );
        let mac = self.sign("session", &payload);
        Some(format!("{payload}.{mac}"))
    }

    /// The session a cookie value names, if its signature holds and it has not expired.
    /// The password tag is checked by [`WebKey::still_valid`] once the account is read.
    pub(crate) fn open_session(&self, value: &str, at: i64) -> Option<(Session, String)> {
        let (payload, mac) = value.rsplit_once('.')?;
        if !self.verify("session", payload, mac) {
            return None;
        }
        let mut parts = payload.split('.');
        let address = String::from_utf8(unhex(parts.next()?)?).ok()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        let nonce = parts.next()?.to_owned();
        let tag = parts.next()?.to_owned();
        if parts.next().is_some() || expires <= at {
            return None;
        }
        let session = Session {
            address,
            expires,
            nonce,
        };
        Some((session, tag))
    }

    /// Whether a session's password tag still matches the account's password.
    pub(crate) fn still_valid(&self, tag: &str, password_hash: &str) -> bool {
        tag == self.password_tag(password_hash)
    }

    pub(crate) fn csrf_token(&self, session: &Session) -> String {
        self.sign("csrf", &session.nonce)
    }

    pub(crate) fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        self.verify("csrf", &session.nonce, token)
    }

    /// The login form's cookie value (`NONCE.EXPIRY`) and its token.
    pub(crate) fn login_form(&self) -> Option<(String, String)> {
        let expires = now() + LOGIN_FORM_LIFETIME.as_secs() as i64;
        let cookie = format!("{}.{expires}", nonce()?);
        let token = self.sign("login", &cookie);
        Some((cookie, token))
    }

    pub(crate) fn login_form_ok(&self, cookie: &str, token: &str, at: i64) -> bool {
        let expires = cookie
            .rsplit_once('.')
            .and_then(|(_, e)| e.parse::<i64>().ok());
        matches!(expires, Some(e) if e > at) && self.verify("login", cookie, token)
    }
}

/// The value of cookie `name` in a request's Cookie header fields.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A Set-Cookie value: `Secure`, `HttpOnly`, `SameSite=Strict`, for the whole site, with
/// a lifetime (0: delete it).
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        max_age.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_expire_and_refuse_forgeries() {
        let key = WebKey::new(b"0123456789abcdef0123456789abcdef");
        let cookie = key.session_cookie("alice@example.test", "$hash").unwrap();
        let (session, tag) = key.open_session(&cookie, now()).unwrap();
        assert_eq!(session.address, "alice@example.test");
        assert!(key.still_valid(&tag, "$hash"));
        assert!(!key.still_valid(&tag, "$new-hash"));
        // Expired.
        assert!(key.open_session(&cookie, session.expires).is_none());
        // Another key, or a changed address, does not verify.
        let other = WebKey::new(b"another key of thirty-two bytes!");
        assert!(other.open_session(&cookie, now()).is_none());
        let forged = cookie.replacen(&hex(b"alice"), &hex(b"admin"), 1);
        assert!(key.open_session(&forged, now()).is_none());
        assert!(key.open_session("garbage", now()).is_none());

        let token = key.csrf_token(&session);
        assert!(key.csrf_ok(&session, &token));
        assert!(!key.csrf_ok(&session, &token.replace('a', "b")));
        assert!(!key.csrf_ok(&session, ""));
        let (form, token) = key.login_form().unwrap();
        assert!(key.login_form_ok(&form, &token, now()));
        assert!(!key.login_form_ok(&form, &token, now() + 7200));
        assert!(!key.login_form_ok(&form, "00", now()));
    }
}
