//! A fuzzy fingerprint of what a message says, for finding copies of one mailing among many
//! messages: the bulk guard (an account blasting the same text at many addresses) and the
//! inbound `BULK_DUPLICATE` rule.
//!
//! Spammers vary each copy: a greeting with the recipient's name, tracking links and tokens
//! with per-recipient parameters, dates, random words appended, HTML in one copy and text in
//! the next. So the text is normalised first (decoded MIME, HTML as text, links reduced to
//! their host, every word with a digit and every over-long word dropped, lowercase, a short
//! greeting line dropped), then cut into overlapping word pairs (shingles). Two messages are
//! alike when their sets of shingles overlap much (Jaccard similarity); a MinHash signature
//! estimates that overlap from [`HASHES`] numbers per message, and its bands let a store find
//! the candidates with an index probe instead of comparing every message.

use mail_parser::{Message, PartType};
use std::collections::BTreeSet;

/// Numbers in a signature.
pub const HASHES: usize = 60;
/// Bands of [`ROWS`] numbers each: two messages that agree on a whole band are candidates.
/// With 20 bands of 3, a pair with similarity 0.5 becomes a candidate 93% of the time, one
/// with 0.7 more than 99.9%, one with 0.2 14% (and is then dropped by the comparison).
pub const BANDS: usize = 20;
pub const ROWS: usize = HASHES / BANDS;
/// Signatures agreeing in at least this many of their numbers are copies of one text
/// (an estimated Jaccard similarity of 0.5 or more).
pub const MIN_EQUAL: usize = HASHES / 2;
/// Texts with fewer distinct shingles say too little to be told apart ("thanks!", "ok see
/// you then"): they get no fingerprint, and the duplicate checks skip them.
pub const MIN_SHINGLES: usize = 5;
/// Longer words are tokens, hashes or encoded data that differ between copies.
const MAX_WORD: usize = 20;
/// Text read per message: the start says what a mailing is.
const MAX_TEXT: usize = 64 * 1024;

/// A message's MinHash signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub signature: [u32; HASHES],
}

impl Fingerprint {
    /// The fingerprint of a whole message (header and body), if it says enough.
    pub fn of(raw: &[u8]) -> Option<Fingerprint> {
        Fingerprint::of_message(&crate::parse(raw)?)
    }

    /// The fingerprint of a parsed message: its subject and its text (each text part, or
    /// the HTML part as text where there is no text alternative), and the hosts it links to.
    pub fn of_message(message: &Message<'_>) -> Option<Fingerprint> {
        let mut text = Normalised::default();
        if let Some(subject) = message.subject() {
            text.add_text(strip_reply_prefixes(subject), false);
        }
        let mut read = 0;
        for pos in 0..message.text_body_count() {
            let Some(body) = message.body_text(pos) else {
                continue;
            };
            let body = truncate(&body, MAX_TEXT.saturating_sub(read));
            read += body.len();
            text.add_text(body, pos == 0);
        }
        // Links in HTML are attributes, which the HTML-to-text conversion drops: their hosts
        // are read from the markup, so the HTML copy and the text copy share them.
        for part in &message.parts {
            if let PartType::Html(html) = &part.body {
                for host in link_hosts(truncate(html, MAX_TEXT)) {
                    text.hosts.insert(host);
                }
            }
        }
        text.fingerprint()
    }

    /// The fingerprint of plain text (a subject and a body), for tests and tools.
    pub fn of_text(subject: &str, body: &str) -> Option<Fingerprint> {
        let mut text = Normalised::default();
        text.add_text(strip_reply_prefixes(subject), false);
        text.add_text(body, true);
        text.fingerprint()
    }

    /// How many of the signatures' numbers agree.
    pub fn equal_slots(&self, other: &Fingerprint) -> usize {
        self.signature
            .iter()
            .zip(&other.signature)
            .filter(|(a, b)| a == b)
            .count()
    }

    /// The estimated Jaccard similarity of the two texts' shingles, 0 to 1.
    pub fn similarity(&self, other: &Fingerprint) -> f64 {
        self.equal_slots(other) as f64 / HASHES as f64
    }

    pub fn is_copy_of(&self, other: &Fingerprint) -> bool {
        self.equal_slots(other) >= MIN_EQUAL
    }

    /// One number per band (which band is part of it): the keys a store indexes.
    pub fn bands(&self) -> Vec<i64> {
        self.signature
            .chunks(ROWS)
            .enumerate()
            .map(|(band, rows)| {
                let mut h = fnv(FNV_START, &(band as u32).to_le_bytes());
                for row in rows {
                    h = fnv(h, &row.to_le_bytes());
                }
                h as i64
            })
            .collect()
    }

    /// The signature as bytes (little-endian numbers), as a store keeps it.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signature
            .iter()
            .flat_map(|n| n.to_le_bytes())
            .collect()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Fingerprint> {
        if bytes.len() != HASHES * 4 {
            return None;
        }
        let mut signature = [0u32; HASHES];
        for (slot, chunk) in signature.iter_mut().zip(bytes.chunks_exact(4)) {
            *slot = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Some(Fingerprint { signature })
    }

    /// A short name for logs: the first band's key in hex. Copies often, not always, share
    /// it; the log is for people following one mailing.
    pub fn label(&self) -> String {
        format!("{:08x}", self.bands()[0] as u64 >> 32)
    }
}

/// The words and link hosts of a message, normalised.
#[derive(Default)]
struct Normalised {
    /// The words, lowercase, one after another in one string (a few hundred per message:
    /// one allocation, not one each); `ends` says where each ends.
    text: String,
    ends: Vec<usize>,
    hosts: BTreeSet<String>,
}

impl Normalised {
    /// Adds the words of `text`; `body_start`: a short greeting line at its start is left
    /// out ("Hi Anna," / "Dear Mr. Smith:"), since it names the recipient.
    fn add_text(&mut self, text: &str, body_start: bool) {
        let mut lines = text.lines().skip_while(|l| l.trim().is_empty()).peekable();
        if body_start && lines.peek().is_some_and(|l| is_greeting(l)) {
            lines.next();
        }
        for line in lines {
            for chunk in line.split_whitespace() {
                if may_be_link(chunk)
                    && let Some(host) = url_host(chunk)
                {
                    self.hosts.insert(host);
                    continue;
                }
                if chunk.contains('@') {
                    continue; // an address: often the recipient's own
                }
                for word in chunk.split(|c: char| !c.is_alphanumeric()) {
                    self.add_word(word);
                }
            }
        }
    }

    /// Adds one word, lowercase, unless it is too short, too long or has a digit.
    fn add_word(&mut self, word: &str) {
        if word.is_ascii() {
            // Most words: bytes are characters, and the only numeric ones are digits.
            if word.len() < 2 || word.len() > MAX_WORD || word.bytes().any(|b| b.is_ascii_digit()) {
                return;
            }
            self.text
                .extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            let chars = word.chars().count();
            if !(2..=MAX_WORD).contains(&chars) || word.chars().any(char::is_numeric) {
                return;
            }
            // `str::to_lowercase`, not per character: a final sigma lowercases differently.
            self.text.push_str(&word.to_lowercase());
        }
        self.ends.push(self.text.len());
    }

    fn words(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }

    /// The distinct shingles: each pair of neighbouring words (a lone word alone), and the
    /// link hosts.
    fn shingles(&self) -> Vec<u64> {
        let mut set: Vec<u64> = self
            .words()
            .zip(self.words().skip(1))
            .map(|(first, second)| {
                fnv(
                    fnv(fnv(FNV_START, first.as_bytes()), b" "),
                    second.as_bytes(),
                )
            })
            .collect();
        if self.ends.len() == 1 {
            set.push(fnv(FNV_START, self.text.as_bytes()));
        }
        for host in &self.hosts {
            set.push(fnv(fnv(FNV_START, b"host:"), host.as_bytes()));
        }
        set.sort_unstable();
        set.dedup();
        set
    }

    fn fingerprint(&self) -> Option<Fingerprint> {
        let shingles = self.shingles();
        if shingles.len() < MIN_SHINGLES {
            return None;
        }
        let mut signature = [u32::MAX; HASHES];
        for shingle in shingles {
            for (slot, seed) in signature.iter_mut().zip(&SEEDS) {
                let value = (mix(shingle ^ seed) >> 32) as u32;
                *slot = (*slot).min(value);
            }
        }
        Some(Fingerprint { signature })
    }
}

/// A greeting line: at most five words, ending in a comma or colon, or starting with a
/// salutation ("Hello Anna" without the comma).
fn is_greeting(line: &str) -> bool {
    let line = line.trim();
    let words = line.split_whitespace().count();
    if words == 0 || words > 5 {
        return false;
    }
    let first = line
        .split(|c: char| !c.is_alphabetic())
        .next()
        .unwrap_or("")
        .to_lowercase();
    line.ends_with(',')
        || line.ends_with(':')
        || ["hi", "hello", "dear", "hey", "greetings"].contains(&first.as_str())
}

fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        // `get` rather than slicing: a subject may start with any character.
        let prefix = ["re:", "fw:", "fwd:"].iter().find(|p| {
            s.get(..p.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(p))
        });
        match prefix {
            Some(p) => s = s[p.len()..].trim_start(),
            None => return s,
        }
    }
}

/// Whether `url_host` could find a link in `chunk`: the test without its allocation, for
/// the words that are not links.
fn may_be_link(chunk: &str) -> bool {
    let start = chunk.trim_start_matches(|c: char| "<>()[]\"'.,;".contains(c));
    chunk.contains("://")
        || start
            .get(..4)
            .is_some_and(|s| s.eq_ignore_ascii_case("www."))
}

/// The host of a link (`https://host/...`, `www.host...`), lowercase, without port.
fn url_host(chunk: &str) -> Option<String> {
    let chunk = chunk.trim_matches(|c: char| "<>()[]\"'.,;".contains(c));
    let lower = chunk.to_ascii_lowercase();
    let rest = if let Some(at) = lower.find("://") {
        &lower[at + 3..]
    } else if lower.starts_with("www.") {
        &lower[..]
    } else {
        return None;
    };
    let host: String = rest
        .split(['/', '?', '#', ':'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_owned();
    Some(host).filter(|h| h.contains('.'))
}

/// The hosts of `http://` and `https://` links anywhere in `html` (attributes included).
fn link_hosts(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut hosts = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("http") {
        let start = from + at;
        let end = lower[start..]
            .find(|c: char| c.is_whitespace() || "\"'<>".contains(c))
            .map_or(lower.len(), |e| start + e);
        if let Some(host) = url_host(&lower[start..end]) {
            hosts.push(host);
        }
        from = end.max(start + 4);
    }
    hosts
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a: stable across builds and versions, as stored signatures need.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64's finaliser: spreads every input bit over the output.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash functions' keys (the i-th: the mix of (i + 1) times the golden ratio), made
/// once at compile time rather than for every shingle.
const SEEDS: [u64; HASHES] = {
    let mut seeds = [0; HASHES];
    let mut i = 0;
    while i < HASHES {
        seeds[i] = mix((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        i += 1;
    }
    seeds
};

#[cfg(test)]
#[path = "fingerprint_tests.rs"]
mod tests;
