//! RFC 5322 section 3.3 dates, always in UTC ("+0000"), without a calendar crate.

use std::time::{SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the Unix epoch now: the time the store and the queue record.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `Sat, 28 Nov 2026 20:42:22 +0000`
pub fn rfc5322_date(time: SystemTime) -> String {
    let mut out = String::with_capacity(32);
    push_rfc5322_date(&mut out, time);
    out
}

/// Appends `rfc5322_date(time)` to `out`. Written digit by digit: `format!` with padded
/// numbers cost more than the calendar arithmetic, and every Received field pays it.
pub fn push_rfc5322_date(out: &mut String, time: SystemTime) {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    out.push_str(DAYS[days.rem_euclid(7) as usize]);
    out.push_str(", ");
    push_decimal(out, u64::from(day));
    out.push(' ');
    out.push_str(MONTHS[(month - 1) as usize]);
    out.push(' ');
    if year < 0 {
        out.push('-');
    }
    push_decimal(out, year.unsigned_abs());
    out.push(' ');
    push_two_digits(out, rem / 3600);
    out.push(':');
    push_two_digits(out, rem % 3600 / 60);
    out.push(':');
    push_two_digits(out, rem % 60);
    out.push_str(" +0000");
}

/// `n` in decimal, without padding.
fn push_decimal(out: &mut String, n: u64) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// `n` (below 100) as two digits, zero-padded.
fn push_two_digits(out: &mut String, n: i64) {
    out.push(char::from(b'0' + (n / 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian calendar
/// (the well-known era-based conversion).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        let at = |s: u64| rfc5322_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(at(1_795_898_542), "Sat, 28 Nov 2026 20:42:22 +0000");
        assert_eq!(at(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 +0000");
        assert_eq!(at(253_402_300_800), "Sat, 1 Jan 10000 00:00:00 +0000");
    }

    /// The digit-by-digit writing says what `format!` with padded numbers said before.
    #[test]
    fn matches_padded_formatting() {
        for secs in (0..5_000_000_000u64)
            .step_by(7_777_777)
            .chain([59, 3_599, 86_399])
        {
            let days = (secs / 86_400) as i64;
            let rem = secs % 86_400;
            let (year, month, day) = civil_from_days(days);
            let expected = format!(
                "{}, {} {} {} {:02}:{:02}:{:02} +0000",
                DAYS[days.rem_euclid(7) as usize],
                day,
                MONTHS[(month - 1) as usize],
                year,
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            );
            assert_eq!(
                rfc5322_date(UNIX_EPOCH + Duration::from_secs(secs)),
                expected
            );
        }
    }
}
