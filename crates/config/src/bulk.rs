//! The `[bulk]` section: the outbound bulk guard and the inbound `BULK_DUPLICATE` rule.

use crate::walker::Section;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Bulk {
    /// Fingerprint what accounts submit and hold copies of one text sent to too many.
    pub guard: bool,
    /// Distinct external recipients one text may reach per window before further copies
    /// are held.
    pub hold_after: u64,
    /// Past this many, the account's submission is frozen until an admin unfreezes it.
    pub freeze_after: u64,
    pub window: Duration,
    /// Inbound: the same text from outside (not from a list) reaching this many distinct
    /// local recipients per `inbound_window` scores `BULK_DUPLICATE`. 0 turns the rule off.
    pub inbound_recipients: u64,
    pub inbound_window: Duration,
}

impl Default for Bulk {
    fn default() -> Bulk {
        Bulk {
            guard: true,
            hold_after: 50,
            freeze_after: 200,
            window: Duration::from_secs(3600),
            inbound_recipients: 20,
            inbound_window: Duration::from_secs(3600),
        }
    }
}

pub(crate) fn read_bulk(root: &mut Section<'_>, bulk: &mut Bulk) {
    let Some(mut s) = root.section("bulk") else {
        return;
    };
    if let Some(v) = s.boolean("guard") {
        bulk.guard = v;
    }
    if let Some(v) = s.integer("hold_after", 1) {
        bulk.hold_after = v;
    }
    if let Some(v) = s.integer("freeze_after", 1) {
        bulk.freeze_after = v;
    }
    if bulk.freeze_after <= bulk.hold_after {
        s.error(
            "freeze_after",
            format!(
                "must be more than hold_after ({}), got {}",
                bulk.hold_after, bulk.freeze_after
            ),
        );
    }
    if let Some(v) = s.duration("window") {
        bulk.window = v;
    }
    if let Some(v) = s.integer("inbound_recipients", 0) {
        bulk.inbound_recipients = v;
    }
    if let Some(v) = s.duration("inbound_window") {
        bulk.inbound_window = v;
    }
    root.absorb(s);
}
