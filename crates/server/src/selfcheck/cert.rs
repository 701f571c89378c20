//! What `hermod check` needs to know about the server's certificate: the names it is valid
//! for (webpki decides, as clients do) and when it expires (`net::x509`).

use crate::net::x509::parse_tbs;
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
    pub fn load(path: &Path) -> Result<CertInfo, String> {
        let shown = path.display();
        let der = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read {shown}: {e}"))?
            .next()
            .ok_or_else(|| format!("no certificate in {shown}"))?
            .map_err(|e| format!("bad PEM in {shown}: {e}"))?;
        let (not_after, self_signed) =
            parse_tbs(&der).ok_or_else(|| format!("{shown}: not an X.509 certificate"))?;
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
    }
}
