//! One-click unsubscribe (RFC 8058): each member's copy of a post names an HTTPS link that
//! unsubscribes that member from that list on a POST, without a login. The link's token is
//! the list and the member with an HMAC over both under a key of the server's, so it cannot
//! be made for anyone else, and the web handler needs no stored state to check it.

use super::text::command_address;
use super::{ListDeps, ListEngine};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hermod_store::{ListRecord, Result};
use ring::hmac;

/// The path under which the links live (the web listener routes it here).
pub const ONE_CLICK_PATH: &str = "/list-unsubscribe/";
/// The HMAC kept in a token: 128 bits is beyond guessing.
const MAC_LEN: usize = 16;
/// Separates the token's HMAC input from anything else the key might ever sign.
const PURPOSE: &[u8] = b"hermod list one-click unsubscribe\0";

/// Makes and checks one-click links for `base` (`https://host[:port]`).
#[derive(Clone)]
pub struct OneClick {
    key: hmac::Key,
    base: String,
}

impl std::fmt::Debug for OneClick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OneClick({})", self.base)
    }
}

impl OneClick {
    pub fn new(secret: &[u8], base: &str) -> OneClick {
        OneClick {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The link that unsubscribes `member` (normalized) from `list` (its address).
    pub fn url(&self, list: &str, member: &str) -> String {
        format!("{}{ONE_CLICK_PATH}{}", self.base, self.token(list, member))
    }

    /// `base64url(list NUL member).base64url(mac)`.
    pub fn token(&self, list: &str, member: &str) -> String {
        let subject = format!("{list}\0{member}");
        let mac = self.mac(subject.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(subject),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// The list and member a token names, when this server made it.
    pub fn verify(&self, token: &str) -> Option<(String, String)> {
        let (subject, mac) = token.split_once('.')?;
        let subject = URL_SAFE_NO_PAD.decode(subject).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let expected = self.mac(&subject);
        // Constant time: a timing difference must not reveal how much of a guess was right.
        let differs = mac.len() != MAC_LEN
            || mac
                .iter()
                .zip(expected.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0;
        if differs {
            return None;
        }
        let subject = String::from_utf8(subject).ok()?;
        let (list, member) = subject.split_once('\0')?;
        Some((list.to_owned(), member.to_owned()))
    }

    fn mac(&self, subject: &[u8]) -> [u8; MAC_LEN] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(PURPOSE);
        context.update(subject);
        let tag = context.sign();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        out
    }
}

/// The `List-Unsubscribe` fields of `member`'s copy: the link first (RFC 8058 asks for
/// the HTTPS URI, and mail programs take the first they can use), the mailto address after.
pub(crate) fn unsubscribe_fields(
    one_click: Option<&OneClick>,
    list: &ListRecord,
    member: Option<&str>,
) -> String {
    let mailto = format!("<mailto:{}>", command_address(list, "unsubscribe"));
    match (one_click, member) {
        (Some(one_click), Some(member)) => format!(
            "List-Unsubscribe: <{}>, {mailto}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            one_click.url(&list.address, member)
        ),
        _ => format!("List-Unsubscribe: {mailto}\r\n"),
    }
}

/// What a one-click request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneClickOutcome {
    /// The member was removed (and told).
    Removed,
    /// The token was good but the address was no member (already gone): nothing to do.
    NotMember,
    /// The token was not made here, or names a list that no longer exists.
    Invalid,
}

impl ListEngine {
    /// Unsubscribes the member a one-click token names. The token alone authorizes it: it
    /// was sent only in that member's copies.
    pub async fn unsubscribe_one_click(
        &self,
        deps: ListDeps<'_>,
        token: &str,
    ) -> Result<OneClickOutcome> {
        let Some(one_click) = &self.one_click else {
            return Ok(OneClickOutcome::Invalid);
        };
        let Some((address, member)) = one_click.verify(token) else {
            return Ok(OneClickOutcome::Invalid);
        };
        let Some(list) = deps.store.list(&address).await? else {
            return Ok(OneClickOutcome::Invalid);
        };
        if !deps.store.list_remove_member(list.id, &member).await? {
            return Ok(OneClickOutcome::NotMember);
        }
        tracing::info!(list = list.address, member, "unsubscribed (one-click)");
        let subject = format!("{}: You have left", list.address);
        let body = format!("You are no longer a member of {}.\n", list.address);
        let notice = super::text::notice(&self.hostname, &list, &member, &subject, &[], &body);
        super::send(deps, &member, notice).await?;
        Ok(OneClickOutcome::Removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_list_and_member_and_cannot_be_forged() {
        let one_click = OneClick::new(b"0123456789abcdef0123456789abcdef", "https://mx.a.test/");
        let url = one_click.url("team@a.test", "bob@b.test");
        let token = url
            .strip_prefix("https://mx.a.test/list-unsubscribe/")
            .unwrap();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        let named = one_click.verify(token);
        assert_eq!(named, Some(("team@a.test".into(), "bob@b.test".into())));
        // Someone else's address under bob's MAC, a truncated MAC, another key: refused.
        let (_, mac) = token.split_once('.').unwrap();
        let subject = URL_SAFE_NO_PAD.encode("team@a.test\0carol@b.test");
        assert_eq!(one_click.verify(&format!("{subject}.{mac}")), None);
        assert_eq!(one_click.verify(&token[..token.len() - 2]), None);
        let other = OneClick::new(b"another key, just as long as the first", "https://x");
        assert_eq!(other.verify(token), None);
        assert_eq!(one_click.verify("nonsense"), None);
    }
}
