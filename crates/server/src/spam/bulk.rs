//! The inbound side of the bulk guard: the same text arriving from outside for many
//! distinct local recipients within a window is one campaign, `BULK_DUPLICATE`. Mailing
//! lists send one text to many by design: a message with a `List-Id` that a DKIM signature
//! of the list's own domain vouches for is not counted (a `List-Id` alone is trivial to
//! forge, so it exempts nothing).

use super::SpamFilter;
use hermod_config::Bulk;
use hermod_spam::fingerprint::{Fingerprint, MIN_EQUAL};
use hermod_spam::{Hit, verdict};
use hermod_store::{BulkScope, BulkSighting};

/// What the content scan read for the inbound rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Content {
    pub print: Option<Fingerprint>,
    /// The `List-Id` field's identifier (`list.example.org`), lowercase.
    pub list_id: Option<String>,
}

impl Content {
    pub fn of(message: &mail_parser::Message<'_>) -> Content {
        Content {
            print: Fingerprint::of_message(message),
            list_id: message.header_raw("List-Id").and_then(list_identifier),
        }
    }
}

/// The identifier inside a `List-Id` value (RFC 2919: an optional phrase, then `<id>`).
fn list_identifier(value: &str) -> Option<String> {
    let start = value.rfind('<')? + 1;
    let end = start + value[start..].find('>')?;
    let id = value[start..end].trim().to_ascii_lowercase();
    Some(id).filter(|id| id.contains('.'))
}

/// Whether a DKIM signature of the list's domain (the identifier, or a parent domain of it
/// with at least two labels) verified.
fn signed_by_list(list_id: &str, dkim_pass: &[String]) -> bool {
    dkim_pass
        .iter()
        .any(|d| d.contains('.') && (list_id == d || list_id.ends_with(&format!(".{d}"))))
}

impl SpamFilter {
    /// Counts the message among recent inbound mail and says whether it is part of a
    /// campaign. `recipients`: the local accounts it goes to. A store failure scores nothing.
    pub async fn bulk_duplicate(
        &self,
        config: &Bulk,
        content: &Content,
        dkim_pass: &[String],
        recipients: Vec<String>,
        now: i64,
    ) -> Option<Hit> {
        let print = content.print.as_ref()?;
        if config.inbound_recipients == 0 || recipients.is_empty() {
            return None;
        }
        if let Some(list) = &content.list_id
            && signed_by_list(list, dkim_pass)
        {
            return None;
        }
        let sighting = BulkSighting {
            scope: BulkScope::Inbound,
            at: now,
            since: now - config.inbound_window.as_secs() as i64,
            signature: print.to_bytes(),
            bands: print.bands(),
            min_equal: MIN_EQUAL,
            recipients,
            // The rule asks only whether the threshold is reached.
            cap: config.inbound_recipients,
        };
        let count = match self.store.bulk_observe(&sighting).await {
            Ok(count) => count,
            Err(e) => {
                tracing::warn!(error = %e, "inbound bulk count failed; not scored");
                return None;
            }
        };
        let fingerprint = print.label();
        if count.after < config.inbound_recipients {
            tracing::debug!(
                fingerprint,
                copies = count.copies,
                recipients = count.after,
                "inbound bulk count"
            );
            return None;
        }
        tracing::info!(
            fingerprint,
            copies = count.copies,
            recipients = count.after,
            threshold = config.inbound_recipients,
            "BULK_DUPLICATE"
        );
        Some(verdict::check("BULK_DUPLICATE"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_ids_and_their_signatures() {
        assert_eq!(
            list_identifier("Hermod users <Users.Lists.Example.org>").as_deref(),
            Some("users.lists.example.org")
        );
        assert_eq!(list_identifier("<nodots>"), None);
        assert_eq!(list_identifier("no brackets"), None);
        let id = "users.lists.example.org";
        assert!(signed_by_list(id, &["example.org".into()]));
        assert!(signed_by_list(id, &["users.lists.example.org".into()]));
        assert!(!signed_by_list(id, &["ample.org".into()]));
        assert!(!signed_by_list(id, &["spammer.test".into()]));
        assert!(!signed_by_list(id, &[]));
        assert!(!signed_by_list(id, &["org".into()]));
    }
}
