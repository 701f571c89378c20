//! The messages the benchmarks send and store: headers and lines of ordinary words, a
//! different sequence per message from a small deterministic generator, so every server under
//! test gets byte-for-byte the same mail whether it arrives over SMTP or is written straight
//! into a Maildir (W6's baseline).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Words the bodies are made of, so a spam filter and a search have real text to read.
const WORDS: [&str; 32] = [
    "meeting", "report", "quarter", "budget", "customer", "delivery", "schedule", "review",
    "project", "invoice", "thanks", "please", "attached", "tomorrow", "morning", "office",
    "numbers", "update", "team", "question", "answer", "version", "release", "server", "market",
    "price", "order", "account", "support", "weekly", "summary", "agenda",
];

/// 2026-11-28 10:00:00 UTC, the date of every message unless dates are spread.
const BASE_TIME: i64 = 1_795_860_000;

/// What the messages look like beyond their size.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    /// Date fields spread over about a year in an order unrelated to the message number (so
    /// SORT (DATE) has work to do); otherwise all messages carry the same date.
    pub spread_dates: bool,
    /// A word that is in no other message, put in every `every`th message's first body
    /// line (message 0, every, 2 * every, ...): what W6's full-text SEARCH looks for.
    pub marker: Option<(String, usize)>,
}

impl Shape {
    /// Parses `WORD:EVERY` for `marker`.
    pub fn parse_marker(spec: &str) -> Result<(String, usize)> {
        let (word, every) = spec.split_once(':').context("expected WORD:EVERY")?;
        let every: usize = every.parse().context("EVERY must be a number")?;
        anyhow::ensure!(
            every > 0 && !word.is_empty(),
            "expected WORD:EVERY, EVERY > 0"
        );
        Ok((word.to_owned(), every))
    }

    /// How many of `messages` messages carry the marker.
    pub fn marked(&self, messages: usize) -> usize {
        match &self.marker {
            Some((_, every)) if messages > 0 => (messages - 1) / every + 1,
            _ => 0,
        }
    }
}

/// Message `n` of about `size` bytes, CRLF line ends, no SMTP dot-stuffing needed (no line
/// starts with a dot).
pub fn message(size: usize, n: usize, shape: &Shape) -> String {
    let date = if shape.spread_dates {
        // 7919 is prime, so n -> n * 7919 mod 524287 visits the minutes in a scrambled order.
        rfc5322_date(BASE_TIME - ((n as i64 * 7919) % 524_287) * 60)
    } else {
        "Sat, 28 Nov 2026 10:00:00 +0000".to_owned()
    };
    let mut text = format!(
        "From: bench@load.test\r\nTo: users@example.test\r\nSubject: load {n}\r\n\
         Date: {date}\r\nMessage-ID: <{n}@load.test>\r\n\r\n"
    );
    let mut line = String::with_capacity(80);
    if let Some((word, every)) = &shape.marker
        && n.is_multiple_of(*every)
    {
        line.push_str(word);
        line.push(' ');
    }
    let mut state = n as u64 * 2_654_435_761 + 1;
    while text.len() + line.len() + 12 <= size {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let word = WORDS[(state >> 59) as usize];
        if line.len() + word.len() + 1 > 74 {
            text.push_str(&line);
            text.push_str("\r\n");
            line.clear();
        }
        line.push_str(word);
        line.push(' ');
    }
    text.push_str(&line);
    text.push_str("\r\n");
    text
}

/// `secs` since the epoch as an RFC 5322 date in UTC, e.g. "Sat, 28 Nov 2026 10:00:00 +0000".
fn rfc5322_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01, counting in
/// 400-year eras that start on 1 March (so the leap day is the last day of a year).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes messages 0..`messages` as files into the Maildir `dir` (its `cur/`, unread),
/// creating `cur`, `new` and `tmp`: W6's baseline mailbox without a delivery agent.
pub fn write_maildir(dir: &Path, messages: usize, size: usize, shape: &Shape) -> Result<()> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    for n in 0..messages {
        let body = message(size, n, shape);
        // Maildir's unique name, with the size Dovecot reads instead of a stat (S=).
        let name = format!("{}.M{n}P1.bench,S={}:2,", BASE_TIME + n as i64, body.len());
        let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("cur").join(name))?);
        file.write_all(body.as_bytes())?;
        file.flush()?;
    }
    println!(
        "workload=maildir messages={messages} marked={} dir={}",
        shape.marked(messages),
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(BASE_TIME), "Sat, 28 Nov 2026 10:00:00 +0000");
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_709_251_199),
            "Thu, 29 Feb 2024 23:59:59 +0000"
        );
    }

    #[test]
    fn marker_and_sizes() {
        let shape = Shape {
            spread_dates: true,
            marker: Some(("zanzibar".into(), 10)),
        };
        assert!(message(4096, 20, &shape).contains("\r\n\r\nzanzibar "));
        assert!(!message(4096, 21, &shape).contains("zanzibar"));
        assert_eq!(shape.marked(21), 3);
        let plain = message(4096, 7, &Shape::default());
        assert!(plain.len() <= 4096 && plain.len() > 4000);
        assert!(plain.contains("Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"));
    }
}
