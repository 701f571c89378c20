//! The I/O half of mailing lists: the DMARC policy lookup that decides whether a post's
//! author is rewritten (see `hermod_core::lists`), and the engine as `[lists]` sets it up.

use hermod_config::Config;
use hermod_core::lists::{BoxFuture, DmarcPolicy, ListEngine};
use mail_auth::MessageAuthenticator;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::dmarc::{Dmarc, Policy};
use mail_auth::hickory_resolver::proto::rr::RData;
use std::sync::Arc;
use std::time::Duration;

/// A DNS answer slower than this counts as no policy (the post goes out unchanged).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The list engine as the configuration sets it up, with DMARC lookups through the
/// configured nameservers.
pub fn list_engine(config: &Config) -> Result<ListEngine, String> {
    let auth = crate::spam::authenticator(&config.dns.nameservers)?;
    Ok(ListEngine {
        hostname: config.hostname.clone(),
        suspend_after: u32::try_from(config.lists.suspend_after_bounces).unwrap_or(u32::MAX),
        confirm_expiry: config.lists.confirm_expiry.as_secs() as i64,
        dmarc: Some(Arc::new(DnsDmarc { auth })),
    })
}

struct DnsDmarc {
    auth: MessageAuthenticator,
}

impl DnsDmarc {
    async fn record(&self, domain: &str) -> Option<Dmarc> {
        let name = format!("_dmarc.{domain}.");
        let lookup = self.auth.resolver().txt_lookup(name);
        let answer = tokio::time::timeout(LOOKUP_TIMEOUT, lookup)
            .await
            .ok()?
            .ok()?;
        answer.answers().iter().find_map(|record| {
            let RData::TXT(txt) = &record.data else {
                return None;
            };
            let bytes: Vec<u8> = txt.txt_data.iter().flat_map(|c| c.to_vec()).collect();
            Dmarc::parse(&bytes).ok()
        })
    }
}

impl DmarcPolicy for DnsDmarc {
    /// The domain's own record, else its parent's (a simple stand-in for the organizational
    /// domain of RFC 7489 3.2) with its subdomain policy (which the parser sets to `p` when
    /// absent).
    fn strict<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let strict = |p: &Policy| matches!(p, Policy::Quarantine | Policy::Reject);
            if let Some(record) = self.record(domain).await {
                return strict(&record.p);
            }
            let parent = domain.split_once('.').map(|(_, p)| p);
            match parent.filter(|p| p.contains('.')) {
                Some(parent) => self.record(parent).await.is_some_and(|r| strict(&r.sp)),
                None => false,
            }
        })
    }
}
