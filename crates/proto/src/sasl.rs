//! SASL PLAIN (RFC 4616), shared by SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("invalid base64")]
    Base64,
    #[error("malformed PLAIN message")]
    Malformed,
    #[error("authentication cancelled")]
    Cancelled,
}

/// The credentials of a PLAIN exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// Who to act as; empty means the same as `authcid`.
    pub authzid: String,
    pub authcid: String,
    pub password: String,
}

/// Decodes a client response: base64 of `authzid NUL authcid NUL password`. A lone `*`
/// cancels the exchange (RFC 4954 4, RFC 5034 4).
pub fn decode_plain(response: &str) -> Result<PlainCredentials, SaslError> {
    let response = response.trim();
    if response == "*" {
        return Err(SaslError::Cancelled);
    }
    let bytes = STANDARD.decode(response).map_err(|_| SaslError::Base64)?;
    let text = String::from_utf8(bytes).map_err(|_| SaslError::Malformed)?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if authcid.is_empty() || password.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok(PlainCredentials {
        authzid: authzid.to_owned(),
        authcid: authcid.to_owned(),
        password: password.to_owned(),
    })
}

/// Base64 of `text` (for SASL challenges such as LOGIN's prompts).
pub fn encode(text: &[u8]) -> String {
    STANDARD.encode(text)
}

/// Decodes a base64 response to text.
pub fn decode_text(response: &str) -> Result<String, SaslError> {
    if response.trim() == "*" {
        return Err(SaslError::Cancelled);
    }
    let bytes = STANDARD
        .decode(response.trim())
        .map_err(|_| SaslError::Base64)?;
    String::from_utf8(bytes).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let creds = decode_plain(&encode(b"\0alice@example.test\0s3cret")).unwrap();
        assert_eq!(
            (
                creds.authzid.as_str(),
                creds.authcid.as_str(),
                creds.password.as_str()
            ),
            ("", "alice@example.test", "s3cret")
        );
        let with_authz = decode_plain(&encode(b"admin\0alice\0pw")).unwrap();
        assert_eq!(with_authz.authzid, "admin");
        assert_eq!(decode_plain("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_plain("!!!"), Err(SaslError::Base64));
        for bad in [&b"alice\0pw"[..], b"\0\0pw", b"\0alice\0", b"a\0b\0c\0d"] {
            assert_eq!(
                decode_plain(&encode(bad)),
                Err(SaslError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(decode_text(&encode(b"user")).unwrap(), "user");
    }
}
