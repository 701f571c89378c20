//! `[lists]`: mailing lists (`hermod list`): bounce handling and confirmations by mail.

use crate::walker::Section;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Lists {
    /// Bounces after which a member is suspended (gets no posts; the owner is told).
    pub suspend_after_bounces: u64,
    /// How long a confirmation sent by mail (subscribe, unsubscribe) stays valid.
    pub confirm_expiry: Duration,
}

impl Default for Lists {
    fn default() -> Lists {
        Lists {
            suspend_after_bounces: 3,
            confirm_expiry: Duration::from_secs(3 * 24 * 3600),
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
    if let Some(v) = s.duration("confirm_expiry") {
        lists.confirm_expiry = v;
    }
    root.absorb(s);
}
