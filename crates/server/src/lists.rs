//! The I/O half of mailing lists: the DMARC policy lookup that decides whether a post's
//! author is rewritten (see `hermod_core::lists`), the engine as `[lists]` sets it up, and
//! the hourly removal of members suspended too long.

use hermod_config::Config;
use hermod_core::lists::{BoxFuture, DmarcPolicy, ListDeps, ListEngine, OneClick, PostingRate};
use mail_auth::MessageAuthenticator;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::dmarc::{Dmarc, Policy};
use mail_auth::hickory_resolver::proto::rr::RData;
use std::sync::Arc;
use std::time::Duration;

/// A DNS answer slower than this counts as no policy (the post goes out unchanged).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The list engine as the configuration sets it up, with DMARC lookups through the
/// configured nameservers; one-click links signed with the store's shared `lists.key`, the
/// same on every node.
pub async fn list_engine(
    config: &Config,
    store: &dyn hermod_store::Coordination,
) -> Result<ListEngine, String> {
    let auth = crate::spam::authenticator(&config.dns.nameservers)?;
    let lists = &config.lists;
    let one_click = match lists.one_click_base(&config.hostname, &config.listen.https) {
        Some(base) => {
            let key = store
                .shared_secret("lists.key")
                .await
                .map_err(|e| format!("lists.key: {e}"))?;
            Some(OneClick::new(&key, &base))
        }
        None => None,
    };
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let clock = Arc::new(hermod_core::rates::SystemClock);
    Ok(ListEngine {
        hostname: config.hostname.clone(),
        suspend_after: clamp(lists.suspend_after_bounces),
        remove_suspended_after: lists.remove_suspended_after.as_secs() as i64,
        confirm_expiry: lists.confirm_expiry.as_secs() as i64,
        dmarc: Some(Arc::new(DnsDmarc { auth })),
        one_click,
        posting: PostingRate::new(
            clamp(lists.max_posts_per_hour),
            clamp(lists.max_posts_per_day),
            clock,
        ),
    })
}

/// How often suspended members are looked at: removal is measured in days, an hour late
/// is nothing.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Removes members suspended longer than `[lists] remove_suspended_after`, hourly, until
/// shutdown.
pub(crate) async fn sweep(ctx: Arc<crate::Context>, mut shutdown: crate::shutdown::Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.wait() => return,
        }
        let deps = ListDeps {
            store: ctx.store.as_ref(),
            sieve: &ctx.sieve,
            router: &ctx.router,
        };
        let now = hermod_message::unix_now();
        if let Err(e) = ctx.lists.remove_long_suspended(deps, now).await {
            tracing::warn!(error = %e, "removing suspended list members failed");
        }
    }
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
