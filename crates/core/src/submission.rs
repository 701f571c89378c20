//! Rules for mail from authenticated users (RFC 6409): who may send as whom, the header
//! fix-ups. (The sending limits are in `rates`, the bulk guard in `bulk`.)

use hermod_message::{field_value, remove_fields, rfc5322_date};
use hermod_store::{AliasKey, Directory, Result, UserRecord};
use hermod_types::Address;
use std::time::SystemTime;

/// Whether `user` may use `sender` as envelope sender or `From:` address: its own address
/// (with or without a `+detail`), an alias that leads to it, or a pattern of its `send_as`
/// list (an address, or `@domain` for a whole domain).
pub async fn may_send_as(
    directory: &dyn Directory,
    user: &UserRecord,
    sender: &Address,
    delimiter: Option<char>,
) -> Result<bool> {
    let key = sender.normalized();
    let base = delimiter.and_then(|d| match sender.local().split_detail(d) {
        (base, Some(_)) => Some(format!(
            "{}@{}",
            base.to_lowercase(),
            sender.domain().as_str()
        )),
        _ => None,
    });
    if key == user.address || base.as_deref() == Some(user.address.as_str()) {
        return Ok(true);
    }
    let domain_pattern = format!("@{}", sender.domain().as_str());
    if user
        .send_as
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&key) || p.eq_ignore_ascii_case(&domain_pattern))
    {
        return Ok(true);
    }
    let targets = directory
        .alias_targets(&AliasKey::Address(sender.clone()))
        .await?;
    Ok(targets.iter().any(|t| t.normalized() == user.address))
}

/// RFC 6409 8: adds `Date:` and `Message-ID:` when missing and removes `Bcc:` (its
/// recipients still get the message: they are in the envelope). `header` is the header
/// section with its final CRLF, without the blank line.
pub fn fix_header(header: &[u8], hostname: &str, id: &str, now: SystemTime) -> Vec<u8> {
    let mut fixed = remove_fields(header, "Bcc");
    if field_value(header, "Date").is_none() {
        fixed.extend_from_slice(format!("Date: {}\r\n", rfc5322_date(now)).as_bytes());
    }
    if field_value(header, "Message-ID").is_none() {
        fixed.extend_from_slice(format!("Message-ID: <{id}@{hostname}>\r\n").as_bytes());
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermod_store::EmbeddedStore;
    use hermod_types::Domain;

    #[tokio::test]
    async fn who_may_send_as_whom() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = EmbeddedStore::open(dir.path()).unwrap();
        let store = embedded.blocking().clone();
        use hermod_store::BlockingStore;
        store
            .add_domain(&Domain::parse("example.test").unwrap())
            .unwrap();
        let addr = |s: &str| Address::parse(s).unwrap();
        store
            .add_user(&addr("alice@example.test"), "h", None)
            .unwrap();
        store
            .add_alias(
                &AliasKey::parse("sales@example.test").unwrap(),
                &[addr("alice@example.test")],
            )
            .unwrap();
        let alice = store.user(&addr("alice@example.test")).unwrap().unwrap();
        let may = async |s: &str, user: &UserRecord| {
            may_send_as(&embedded, user, &addr(s), Some('+'))
                .await
                .unwrap()
        };
        assert!(may("Alice@Example.test", &alice).await);
        assert!(may("alice+lists@example.test", &alice).await);
        assert!(may("sales@example.test", &alice).await);
        assert!(!may("bob@example.test", &alice).await);
        assert!(!may("alice@elsewhere.test", &alice).await);
        store
            .set_send_as(
                &addr("alice@example.test"),
                &["@example.test".into(), "boss@corp.test".into()],
            )
            .unwrap();
        let admin = store.user(&addr("alice@example.test")).unwrap().unwrap();
        assert!(may("bob@example.test", &admin).await && may("boss@corp.test", &admin).await);
        assert!(!may("other@corp.test", &admin).await);
    }

    #[test]
    fn header_fixups() {
        let now = SystemTime::UNIX_EPOCH;
        let fixed = fix_header(
            b"From: a@b.test\r\nBcc: hidden@c.test\r\nSubject: s\r\n",
            "mx.test",
            "abc",
            now,
        );
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            "From: a@b.test\r\nSubject: s\r\nDate: Thu, 1 Jan 1970 00:00:00 +0000\r\nMessage-ID: <abc@mx.test>\r\n"
        );
        let complete = b"Date: x\r\nMessage-ID: <y@z>\r\n";
        assert_eq!(fix_header(complete, "mx.test", "abc", now), complete);
    }
}
