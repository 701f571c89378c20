//! `[lists]`: mailing lists (`hermod list`): bounce handling, confirmations by mail, posting
//! rates, and the one-click unsubscribe link (RFC 8058).

use crate::walker::Section;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Lists {
    /// Bounces after which a member is suspended (gets no posts; the owner is told).
    pub suspend_after_bounces: u64,
    /// How long a member stays suspended before it is removed (the owner is told); zero
    /// keeps suspended members until the owner acts.
    pub remove_suspended_after: Duration,
    /// How long a confirmation sent by mail (subscribe, unsubscribe) stays valid.
    pub confirm_expiry: Duration,
    /// Posts one list distributes per hour and per day; a post over either is refused with a
    /// temporary error (its sender retries later). Zero: no limit.
    pub max_posts_per_hour: u64,
    pub max_posts_per_day: u64,
    /// Where one-click unsubscribe links point (`https://HOST[:PORT]`): `None` derives it
    /// from the hostname and the first HTTPS listener that is not on loopback (no such
    /// listener: no link); `Some("")` turns the links off.
    pub unsubscribe_url: Option<String>,
}

impl Default for Lists {
    fn default() -> Lists {
        Lists {
            suspend_after_bounces: 3,
            remove_suspended_after: Duration::from_secs(30 * 24 * 3600),
            confirm_expiry: Duration::from_secs(3 * 24 * 3600),
            max_posts_per_hour: 60,
            max_posts_per_day: 500,
            unsubscribe_url: None,
        }
    }
}

pub(crate) fn read_lists(root: &mut Section<'_>, lists: &mut Lists) {
    let Some(mut s) = root.section("lists") else {
        return;
    };
    if let Some(v) = s.integer("suspend_after_bounces", 1) {
        lists.suspend_after_bounces = v;
    }
    if let Some(v) = s.duration_or_zero("remove_suspended_after") {
        lists.remove_suspended_after = v;
    }
    if let Some(v) = s.duration("confirm_expiry") {
        lists.confirm_expiry = v;
    }
    if let Some(v) = s.integer("max_posts_per_hour", 0) {
        lists.max_posts_per_hour = v;
    }
    if let Some(v) = s.integer("max_posts_per_day", 0) {
        lists.max_posts_per_day = v;
    }
    if let Some(v) = s.string("unsubscribe_url") {
        let v = v.trim_end_matches('/').to_owned();
        let base = v.strip_prefix("https://").unwrap_or("");
        if !v.is_empty() && (base.is_empty() || base.contains(['/', '?', '#', ' '])) {
            s.error(
                "unsubscribe_url",
                "an https:// URL with a host (and port), no path; or \"\" for none".into(),
            );
        } else {
            lists.unsubscribe_url = Some(v);
        }
    }
    root.absorb(s);
}

impl Lists {
    /// The base of one-click unsubscribe links for this configuration, if any.
    pub fn one_click_base(&self, hostname: &str, https: &[std::net::SocketAddr]) -> Option<String> {
        if let Some(url) = &self.unsubscribe_url {
            return (!url.is_empty()).then(|| url.clone());
        }
        // A link only people on this machine could follow helps nobody.
        let public = https.iter().find(|a| !a.ip().is_loopback())?;
        Some(match public.port() {
            443 => format!("https://{hostname}"),
            port => format!("https://{hostname}:{port}"),
        })
    }
}
