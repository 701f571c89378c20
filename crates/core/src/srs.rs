//! The Sender Rewriting Scheme: a message hermod forwards (a Sieve `redirect`) leaves with
//! an envelope sender in hermod's own domain, so SPF passes at the destination, and a bounce
//! to that address comes back to hermod, which alone can turn it into the original sender
//! again. Form: `SRS0=HHHH=TT=domain=local@our-domain`, where TT is the day (base32, mod
//! 1024) and HHHH the start of an HMAC over TT and the original address: nobody can forge a
//! forwarding address, so the reverse path is no open relay.

use ring::hmac;

/// How long a rewritten address stays valid, in days (bounces come within the queue time).
const MAX_AGE_DAYS: u64 = 21;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#[derive(Clone)]
pub struct Srs {
    key: hmac::Key,
}

impl std::fmt::Debug for Srs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Srs(..)")
    }
}

impl Srs {
    pub fn new(secret: &[u8]) -> Srs {
        Srs {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The forwarding address for `sender` (`local@domain`) in `our_domain`, on `day` (days
    /// since the Unix epoch).
    pub fn forward(&self, sender: &str, our_domain: &str, day: u64) -> String {
        let (local, domain) = sender.rsplit_once('@').unwrap_or((sender, ""));
        let stamp = timestamp(day);
        let hash = self.hash(&stamp, domain, local);
        format!("SRS0={hash}={stamp}={domain}={local}@{our_domain}")
    }

    /// The original sender of a forwarding address's local part, if hermod made it and it
    /// has not expired.
    pub fn reverse(&self, local: &str, day: u64) -> Option<String> {
        let rest = strip_prefix_ignore_case(local, "SRS0=")?;
        let mut parts = rest.splitn(4, '=');
        let (hash, stamp, domain, original) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if domain.is_empty()
            || original.is_empty()
            || !hash.eq_ignore_ascii_case(&self.hash(stamp, domain, original))
        {
            return None;
        }
        let made = decode_timestamp(stamp)?;
        let age = (day % 1024 + 1024 - made) % 1024;
        (age <= MAX_AGE_DAYS).then(|| format!("{original}@{domain}"))
    }

    fn hash(&self, stamp: &str, domain: &str, local: &str) -> String {
        // Case-blind: some servers on the way back lowercase the whole address.
        let data = format!(
            "{}={}={}",
            stamp.to_ascii_uppercase(),
            domain.to_ascii_lowercase(),
            local.to_ascii_lowercase()
        );
        let tag = hmac::sign(&self.key, data.as_bytes());
        tag.as_ref()[..4]
            .iter()
            .map(|b| BASE32[(b & 31) as usize] as char)
            .collect()
    }
}

/// Days since the epoch now.
pub fn today() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

fn timestamp(day: u64) -> String {
    let t = day % 1024;
    [
        BASE32[(t >> 5) as usize] as char,
        BASE32[(t & 31) as usize] as char,
    ]
    .iter()
    .collect()
}

fn decode_timestamp(stamp: &str) -> Option<u64> {
    let value = |c: u8| BASE32.iter().position(|&b| b == c.to_ascii_uppercase());
    match stamp.as_bytes() {
        [a, b] => Some((value(*a)? as u64) << 5 | value(*b)? as u64),
        _ => None,
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_back() {
        let srs = Srs::new(b"secret");
        let day = 20_000;
        let address = srs.forward("Carol.X@Remote.test", "example.test", day);
        let (local, domain) = address.rsplit_once('@').unwrap();
        assert_eq!(domain, "example.test");
        assert!(local.starts_with("SRS0="), "{local}");
        assert!(local.ends_with("=Remote.test=Carol.X"), "{local}");
        assert_eq!(
            srs.reverse(local, day).as_deref(),
            Some("Carol.X@Remote.test")
        );
        // Case may change on the way back (some servers lowercase).
        assert_eq!(
            srs.reverse(&local.to_ascii_lowercase(), day + 3).as_deref(),
            Some("carol.x@remote.test")
        );
        assert_eq!(
            srs.reverse(local, day + 21).as_deref(),
            Some("Carol.X@Remote.test")
        );
        assert_eq!(srs.reverse(local, day + 22), None, "expired");
    }

    #[test]
    fn forgeries_are_refused() {
        let srs = Srs::new(b"secret");
        let day = 20_000;
        let address = srs.forward("carol@remote.test", "example.test", day);
        let local = address.rsplit_once('@').unwrap().0;
        let other_key = Srs::new(b"other");
        assert_eq!(other_key.reverse(local, day), None);
        let redirected = local.replace("=carol", "=mallory");
        assert_eq!(srs.reverse(&redirected, day), None);
        for junk in [
            "",
            "SRS0=",
            "SRS0=AAAA=AA=x",
            "SRS0====",
            "postmaster",
            "SRS0=é",
        ] {
            assert_eq!(srs.reverse(junk, day), None, "{junk}");
        }
    }

    #[test]
    fn timestamps_wrap_around() {
        for day in [0, 31, 32, 1023, 1024, 20_000] {
            assert_eq!(decode_timestamp(&timestamp(day)), Some(day % 1024));
        }
        let srs = Srs::new(b"k");
        let local = srs.forward("a@b.test", "x.test", 1020);
        let local = local.rsplit_once('@').unwrap().0;
        assert!(srs.reverse(local, 1030).is_some(), "across the wrap");
    }
}
