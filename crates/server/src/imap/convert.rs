//! Between the codec's values and the store's: flags, dates, mailbox names.

use hermod_proto::imap::{Date, DateTime, Flag, Mailbox};
use hermod_store::{Flags, is_valid_keyword};
use hermod_types::MailboxName;

const SYSTEM: [(u8, Flag); 5] = [
    (Flags::ANSWERED, Flag::Answered),
    (Flags::FLAGGED, Flag::Flagged),
    (Flags::DELETED, Flag::Deleted),
    (Flags::SEEN, Flag::Seen),
    (Flags::DRAFT, Flag::Draft),
];

/// The flags a client asks to store. `\Recent` and unknown system flags cannot be set
/// (RFC 9051 2.3.2); a keyword must be one the store can keep.
pub(super) fn store_flags(list: &[Flag]) -> Result<Flags, &'static str> {
    let mut flags = Flags::default();
    for flag in list {
        match flag {
            Flag::Extension(_) => return Err("that system flag cannot be set"),
            Flag::Keyword(k) if !is_valid_keyword(k) => return Err("invalid keyword"),
            Flag::Keyword(k) => {
                if !flags.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    flags.keywords.push(k.clone());
                }
            }
            system => {
                let bit = SYSTEM.iter().find(|(_, f)| f == system).map_or(0, |s| s.0);
                flags.bits |= bit;
            }
        }
    }
    Ok(flags)
}

/// A message's flags as FETCH FLAGS shows them.
pub(super) fn wire_flags(flags: &Flags) -> Vec<Flag> {
    let system = SYSTEM.iter().filter(|(bit, _)| flags.has(*bit));
    let mut list: Vec<Flag> = system.map(|(_, f)| f.clone()).collect();
    list.extend(flags.keywords.iter().cloned().map(Flag::Keyword));
    list
}

/// The five system flags, for FLAGS and PERMANENTFLAGS.
pub(super) fn system_flags() -> Vec<Flag> {
    SYSTEM.iter().map(|(_, f)| f.clone()).collect()
}

/// The store's name for a client's mailbox name; `None` if it can name no mailbox (broken
/// modified UTF-7, or a name the store refuses).
pub(super) fn mailbox_name(mailbox: &Mailbox) -> Option<MailboxName> {
    if !mailbox.is_decoded() {
        return None;
    }
    // A trailing delimiter names the same mailbox (RFC 9051 6.3.4).
    let name = mailbox.as_str();
    let name = name.strip_suffix('/').unwrap_or(name);
    MailboxName::parse(name).ok()
}

pub(super) fn wire_mailbox(name: &MailboxName) -> Mailbox {
    Mailbox::new(name.as_str())
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(super) fn days_from_civil(date: Date) -> i64 {
    let (y, m, d) = (
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date {
        year: year.clamp(0, 9999) as u16,
        month: month as u8,
        day: day as u8,
    }
}

/// INTERNALDATE of a message stored at `epoch` seconds, in UTC.
pub(super) fn internal_date(epoch: i64) -> DateTime {
    let secs = epoch.rem_euclid(86_400);
    DateTime {
        date: civil_from_days(epoch.div_euclid(86_400)),
        hour: (secs / 3600) as u8,
        minute: (secs / 60 % 60) as u8,
        second: (secs % 60) as u8,
        zone_minutes: 0,
    }
}

/// Seconds since the epoch of APPEND's date-time.
pub(super) fn epoch_of(d: &DateTime) -> i64 {
    let local = days_from_civil(d.date) * 86_400
        + i64::from(d.hour) * 3600
        + i64::from(d.minute) * 60
        + i64::from(d.second);
    local - i64::from(d.zone_minutes) * 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_day_counts() {
        for days in [-1, 0, 59, 11_016, 19_782, 20_000, 47_482] {
            assert_eq!(days_from_civil(civil_from_days(days)), days);
        }
        let d = internal_date(1_700_000_000);
        assert_eq!((d.date.year, d.date.month, d.date.day), (2023, 11, 14));
        assert_eq!((d.hour, d.minute, d.second), (22, 13, 20));
        assert_eq!(epoch_of(&d), 1_700_000_000);
        let zoned = DateTime {
            zone_minutes: 60,
            hour: 23,
            ..d
        };
        assert_eq!(epoch_of(&zoned), 1_700_000_000);
    }

    #[test]
    fn flags_convert_both_ways() {
        let flags = store_flags(&[Flag::Seen, Flag::Keyword("$Junk".into()), Flag::Seen]).unwrap();
        assert_eq!(flags.bits, Flags::SEEN);
        assert_eq!(
            wire_flags(&flags),
            [Flag::Seen, Flag::Keyword("$Junk".into())]
        );
        assert!(store_flags(&[Flag::Extension("Recent".into())]).is_err());
    }

    #[test]
    fn a_name_in_broken_modified_utf7_names_no_mailbox() {
        assert!(mailbox_name(&Mailbox::undecodable("a&'b")).is_none());
        assert_eq!(
            mailbox_name(&Mailbox::new("Work/")).unwrap().as_str(),
            "Work"
        );
    }
}
