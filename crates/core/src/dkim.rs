//! DKIM (RFC 6376, ed25519 per RFC 8463): keys made per domain, signatures on mail that
//! leaves, and the DNS records a domain needs. The cryptography is mail-auth's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hermod_store::DkimKeyRecord;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_auth::dkim::generate::DkimKeyPair;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};

pub const ED25519_SELECTOR: &str = "hermod-ed25519";
pub const RSA_SELECTOR: &str = "hermod-rsa";

/// The header fields signed when present (RFC 6376 5.4.1); From is required. RFC 8058 3.1:
/// a one-click unsubscribe counts only when the signature covers its two fields.
const SIGNED_HEADERS: [&str; 14] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// A new ed25519 key and a new rsa-2048 key (receivers that do not know ed25519 yet check
/// the RSA signature), under the first generation's selectors.
pub fn generate_keys() -> Result<Vec<DkimKeyRecord>, String> {
    generate_generation(1)
}

/// The generation a selector names: `hermod-ed25519` is the first, `hermod-ed25519-N` the
/// Nth (made by rotation). Selectors hermod did not make count as generation 0, so any key
/// hermod made signs in preference to them.
pub fn generation(selector: &str) -> u32 {
    [ED25519_SELECTOR, RSA_SELECTOR]
        .iter()
        .find_map(|base| {
            let rest = selector.strip_prefix(base)?;
            match rest.strip_prefix('-') {
                None if rest.is_empty() => Some(1),
                None => None,
                Some(number) => number.parse().ok().filter(|&n| n >= 2),
            }
        })
        .unwrap_or(0)
}

/// The keys that sign: of each algorithm, the newest generation's. Older keys stay in the
/// store (and in DNS) so that mail they signed still verifies.
pub fn signing_keys(keys: &[DkimKeyRecord]) -> Vec<DkimKeyRecord> {
    let mut newest: Vec<&DkimKeyRecord> = Vec::new();
    for key in keys {
        match newest.iter_mut().find(|k| k.algorithm == key.algorithm) {
            Some(kept) if generation(&kept.selector) < generation(&key.selector) => *kept = key,
            Some(_) => {}
            None => newest.push(key),
        }
    }
    newest.into_iter().cloned().collect()
}

/// Whether a rotation left some algorithm with more than one key: then which of them
/// signs depends on what DNS publishes ([`signing_keys_published`]).
pub fn rotated(keys: &[DkimKeyRecord]) -> bool {
    let mut algorithms: Vec<&str> = keys.iter().map(|k| k.algorithm.as_str()).collect();
    algorithms.sort_unstable();
    algorithms.windows(2).any(|pair| pair[0] == pair[1])
}

/// The keys that sign after a rotation: of each algorithm, the newest key whose record
/// `published` says DNS serves. A receiver that cannot find a signature's key treats the
/// mail as unsigned (and DMARC may then refuse it), so a new key signs only once its record
/// is out. Where DNS shows none of an algorithm's keys (the records were never published,
/// or DNS cannot be asked), the newest signs, as [`signing_keys`] picks: nothing better is
/// known.
pub fn signing_keys_published(
    keys: &[DkimKeyRecord],
    published: impl Fn(&DkimKeyRecord) -> bool,
) -> Vec<DkimKeyRecord> {
    let seen: Vec<DkimKeyRecord> = keys.iter().filter(|k| published(k)).cloned().collect();
    let mut signing = signing_keys(&seen);
    for newest in signing_keys(keys) {
        if !signing.iter().any(|k| k.algorithm == newest.algorithm) {
            signing.push(newest);
        }
    }
    signing
}

/// Whether a TXT value found at a key's selector publishes that key (its `p=` tag, spaces
/// ignored, as DNS tools split long values).
pub fn record_matches(found: &str, key: &DkimKeyRecord) -> bool {
    let public = |text: &str| {
        let text: String = text.split_whitespace().collect();
        text.split(';')
            .find_map(|tag| tag.strip_prefix("p=").map(str::to_owned))
    };
    public(found).is_some_and(|p| Some(p) == public(&dkim_txt(key)))
}

/// New keys for a rotation: one generation past the newest of `existing`, so their selectors
/// are new and the old ones stay published.
pub fn rotated_keys(existing: &[DkimKeyRecord]) -> Result<Vec<DkimKeyRecord>, String> {
    let newest = existing
        .iter()
        .map(|k| generation(&k.selector))
        .max()
        .unwrap_or(0);
    generate_generation(newest + 1)
}

/// The selector of `base` in `generation` (the first has no number).
fn selector(base: &str, generation: u32) -> String {
    if generation <= 1 {
        base.to_owned()
    } else {
        format!("{base}-{generation}")
    }
}

fn generate_generation(generation: u32) -> Result<Vec<DkimKeyRecord>, String> {
    let ed = DkimKeyPair::generate_ed25519().map_err(|e| e.to_string())?;
    let rsa = DkimKeyPair::generate_rsa(2048).map_err(|e| e.to_string())?;
    Ok(vec![
        DkimKeyRecord {
            selector: selector(ED25519_SELECTOR, generation),
            algorithm: "ed25519".into(),
            private_key: ed.private_key().to_vec(),
            public_key: ed.public_key().to_vec(),
        },
        DkimKeyRecord {
            selector: selector(RSA_SELECTOR, generation),
            algorithm: "rsa".into(),
            private_key: rsa.private_key().to_vec(),
            public_key: rsa.public_key().to_vec(),
        },
    ])
}

/// `DKIM-Signature:` fields (one per key, CRLF-terminated) for `message` sent from
/// `domain`. `message` is the whole message as it will be sent.
pub fn sign(keys: &[DkimKeyRecord], domain: &str, message: &[u8]) -> Result<String, String> {
    let mut out = String::new();
    for key in keys {
        let header = match key.algorithm.as_str() {
            "ed25519" => {
                let signing =
                    Ed25519Key::from_pkcs8_der(&key.private_key).map_err(|e| e.to_string())?;
                DkimSigner::from_key(signing)
                    .domain(domain)
                    .selector(&key.selector)
                    .headers(SIGNED_HEADERS)
                    .sign(message)
            }
            "rsa" => {
                let der = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(key.private_key.clone()));
                let signing = RsaKey::<Sha256>::from_key_der(der).map_err(|e| e.to_string())?;
                DkimSigner::from_key(signing)
                    .domain(domain)
                    .selector(&key.selector)
                    .headers(SIGNED_HEADERS)
                    .sign(message)
            }
            other => return Err(format!("unknown DKIM algorithm {other}")),
        };
        out.push_str(&header.map_err(|e| e.to_string())?.to_header());
    }
    Ok(out)
}

/// DER length octets.
fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..=127 => vec![len as u8],
        128..=255 => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo, the form DKIM `p=` expects
/// (RFC 6376 3.6.1).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0x03];
    bits.extend(der_len(pkcs1.len() + 1));
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    out.extend(der_len(ALGORITHM.len() + bits.len()));
    out.extend_from_slice(&ALGORITHM);
    out.extend(bits);
    out
}

/// The TXT value of a key's `<selector>._domainkey` record.
pub fn dkim_txt(key: &DkimKeyRecord) -> String {
    let public = if key.algorithm == "rsa" {
        rsa_spki(&key.public_key)
    } else {
        key.public_key.clone()
    };
    format!(
        "v=DKIM1; k={}; p={}",
        key.algorithm,
        STANDARD.encode(public)
    )
}

/// A TXT value as zone-file strings of at most 255 octets each.
pub(crate) fn quoted(value: &str) -> String {
    let chunks: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    chunks.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_both_keys_and_prints_records() {
        let keys = generate_keys().unwrap();
        let message =
            b"From: alice@example.test\r\nTo: bob@remote.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let headers = sign(&keys, "example.test", message).unwrap();
        assert_eq!(headers.matches("DKIM-Signature:").count(), 2, "{headers}");
        assert!(
            headers.contains("a=ed25519-sha256") && headers.contains("a=rsa-sha256"),
            "{headers}"
        );
        assert!(
            headers.contains("d=example.test") && headers.contains("s=hermod-rsa"),
            "{headers}"
        );
        assert!(dkim_txt(&keys[0]).starts_with("v=DKIM1; k=ed25519; p="));
        assert_eq!(quoted(&"x".repeat(300)).matches('"').count(), 4);
        // An RSA-2048 SubjectPublicKeyInfo starts with this DER prefix.
        assert!(
            dkim_txt(&keys[1]).contains("p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
            "{}",
            dkim_txt(&keys[1])
        );
    }

    #[test]
    fn after_a_rotation_the_newest_published_key_signs() {
        let first = generate_keys().unwrap();
        let second = rotated_keys(&first).unwrap();
        assert!(!rotated(&first));
        let mut all = first.clone();
        all.extend(second.clone());
        assert!(rotated(&all));
        let selectors = |keys: Vec<DkimKeyRecord>| -> Vec<String> {
            keys.into_iter().map(|k| k.selector).collect()
        };
        let old_only = signing_keys_published(&all, |k| first.contains(k));
        assert_eq!(selectors(old_only), ["hermod-ed25519", "hermod-rsa"]);
        let both = signing_keys_published(&all, |_| true);
        assert_eq!(selectors(both), ["hermod-ed25519-2", "hermod-rsa-2"]);
        // Nothing seen: the newest, as before rotation-awareness.
        let none = signing_keys_published(&all, |_| false);
        assert_eq!(selectors(none), ["hermod-ed25519-2", "hermod-rsa-2"]);
        // One algorithm's new record out, the other's not yet.
        let mixed = signing_keys_published(&all, |k| k != &second[1]);
        assert_eq!(selectors(mixed), ["hermod-ed25519-2", "hermod-rsa"]);
    }

    #[test]
    fn a_record_matches_its_key_only() {
        let keys = generate_keys().unwrap();
        let txt = dkim_txt(&keys[1]);
        assert!(record_matches(&txt, &keys[1]));
        // Split as zone files and some DNS servers split it.
        let split = format!("{} {}", &txt[..100], &txt[100..]);
        assert!(record_matches(&split, &keys[1]));
        assert!(!record_matches(&txt, &keys[0]));
        assert!(!record_matches("v=DKIM1; k=rsa; p=", &keys[1]));
        assert!(!record_matches("v=spf1 -all", &keys[1]));
    }

    #[test]
    fn rotation_adds_a_generation_and_signs_with_it_only() {
        let first = generate_keys().unwrap();
        let second = rotated_keys(&first).unwrap();
        let selectors: Vec<_> = second.iter().map(|k| k.selector.as_str()).collect();
        assert_eq!(selectors, ["hermod-ed25519-2", "hermod-rsa-2"]);
        let mut all = first.clone();
        all.extend(second.clone());
        let signing = signing_keys(&all);
        assert_eq!(signing, second);
        // Numeric, not textual: generation 10 is newer than 9.
        for number in [9, 10] {
            all.extend(second.iter().map(|k| DkimKeyRecord {
                selector: selector(&k.selector[..k.selector.len() - 2], number),
                ..k.clone()
            }));
        }
        assert_eq!(signing_keys(&all)[0].selector, "hermod-ed25519-10");
        assert_eq!(signing_keys(&all)[1].selector, "hermod-rsa-10");
        assert_eq!(generation("hermod-rsa"), 1);
        assert_eq!(generation("hermod-rsa-1"), 0);
        assert_eq!(generation("hermod-rsax"), 0);
        assert_eq!(generation("other"), 0);
    }
}
