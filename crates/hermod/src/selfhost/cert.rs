//! What `hermod check` needs to know about the server's certificate: the names it is valid
//! for (webpki decides, as clients do) and when it expires (read from the DER here: the
//! validity is four levels into the structure, not worth an X.509 crate).

use anyhow::{Context, Result, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;

pub struct CertInfo {
    der: CertificateDer<'static>,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
    /// Issuer and subject are the same name (hermod's generated certificate, or any other
    /// that no client trusts without being told to).
    pub self_signed: bool,
}

impl CertInfo {
    /// The leaf (first) certificate of a PEM chain.
    pub fn load(path: &Path) -> Result<CertInfo> {
        let der = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .next()
            .with_context(|| format!("no certificate in {}", path.display()))?
            .with_context(|| format!("bad PEM in {}", path.display()))?;
        let (not_after, self_signed) = parse_tbs(&der)
            .with_context(|| format!("{}: not an X.509 certificate", path.display()))?;
        Ok(CertInfo {
            der,
            not_after,
            self_signed,
        })
    }

    pub fn valid_for(&self, name: &str) -> bool {
        let Ok(cert) = webpki::EndEntityCert::try_from(&self.der) else {
            return false;
        };
        let Ok(name) = ServerName::try_from(name) else {
            return false;
        };
        cert.verify_is_valid_for_subject_name(&name).is_ok()
    }
}

/// One DER element: (tag, contents, the rest after it).
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first().context("truncated")?;
    let (&first, mut rest) = rest.split_first().context("truncated")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            bail!("bad length");
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        rest = &rest[count..];
        len
    };
    if rest.len() < len {
        bail!("truncated");
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// notAfter and whether issuer == subject, from Certificate.tbsCertificate (RFC 5280 4.1).
fn parse_tbs(der: &[u8]) -> Result<(i64, bool)> {
    let (_, certificate, _) = element(der)?;
    let (_, tbs, _) = element(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after; // [0] version
    }
    let (_, _, rest) = element(rest)?; // serialNumber
    let (_, _, rest) = element(rest)?; // signature
    let (_, issuer, rest) = element(rest)?;
    let (_, validity, rest) = element(rest)?;
    let (_, subject, _) = element(rest)?;
    let (_, _, validity_rest) = element(validity)?; // notBefore
    let (tag, not_after, _) = element(validity_rest)?;
    Ok((parse_time(tag, not_after)?, issuer == subject))
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as Unix seconds.
fn parse_time(tag: u8, text: &[u8]) -> Result<i64> {
    let text = std::str::from_utf8(text).context("time")?;
    let digits = text.strip_suffix('Z').context("time zone")?;
    let (year, rest) = match tag {
        0x17 if digits.len() == 12 => {
            let yy: i64 = digits[..2].parse()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        0x18 if digits.len() == 14 => (digits[..4].parse()?, &digits[4..]),
        _ => bail!("unknown time format"),
    };
    let field = |i: usize| -> Result<i64> { Ok(rest[i..i + 2].parse()?) };
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["mx.example.test".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 3, 4);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, cert.pem()).unwrap();
        let info = CertInfo::load(&path).unwrap();
        // 2031-03-04T00:00:00Z
        assert_eq!(info.not_after, 1_930_348_800);
        assert!(info.self_signed);
        assert!(info.valid_for("mx.example.test"));
        assert!(!info.valid_for("mta-sts.example.test"));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(parse_time(0x17, b"491231235959Z").unwrap(), 2_524_607_999);
    }
}
