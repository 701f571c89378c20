//! The spam defence of the smtp listener: the server-side half of `hermod-spam`. It owns
//! what needs I/O: the allow/block lists (reloaded on SIGHUP), the DNS resolver for block
//! lists, reverse DNS, SPF, DKIM and DMARC (mail-auth), greylisting in the store, and the
//! Bayesian model loaded from the store (reloaded when training changes it).

mod auth;
mod connect;

pub(crate) use auth::Envelope;

use hermod_config::{Config, Spam};
use hermod_spam::{Model, Thresholds};
use hermod_store::Store;
use hermod_types::Cidr;
use mail_auth::MessageAuthenticator;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often a scan checks whether training changed the model.
const MODEL_CHECK_EVERY: Duration = Duration::from_secs(10);

/// Allow and block lists, from the config and the list files.
#[derive(Default)]
pub(crate) struct IpLists {
    block: Vec<Cidr>,
    allow: Vec<Cidr>,
}

impl IpLists {
    /// Reads the lists of `spam` and its files; a missing or bad file is an error.
    pub fn load(spam: &Spam) -> Result<IpLists, String> {
        let mut lists = IpLists {
            block: spam.blocklist.clone(),
            allow: spam.allowlist.clone(),
        };
        for (file, list) in [
            (&spam.blocklist_file, &mut lists.block),
            (&spam.allowlist_file, &mut lists.allow),
        ] {
            if let Some(path) = file {
                list.extend(read_list_file(path)?);
            }
        }
        Ok(lists)
    }

    pub fn blocked(&self, ip: IpAddr) -> bool {
        self.block.iter().any(|n| n.contains(ip))
    }

    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|n| n.contains(ip))
    }
}

fn read_list_file(path: &std::path::Path) -> Result<Vec<Cidr>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let cidr = Cidr::parse(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        out.push(cidr);
    }
    Ok(out)
}

struct LoadedModel {
    model: Arc<Model>,
    generation: i64,
    checked: Instant,
}

pub(crate) struct SpamFilter {
    lists: RwLock<Arc<IpLists>>,
    auth: MessageAuthenticator,
    model: Mutex<LoadedModel>,
    store: Arc<dyn Store>,
    /// Whether DNS failed lately: sender authentication then gives up quickly.
    dns_health: auth::DnsHealth,
}

impl SpamFilter {
    pub fn new(config: &Config, store: Arc<dyn Store>) -> Result<SpamFilter, String> {
        let lists = IpLists::load(&config.spam)?;
        let auth = authenticator(&config.dns.nameservers)?;
        let filter = SpamFilter {
            lists: RwLock::new(Arc::new(lists)),
            auth,
            model: Mutex::new(LoadedModel {
                model: Arc::new(Model::default()),
                generation: -1,
                checked: Instant::now() - MODEL_CHECK_EVERY,
            }),
            store,
            dns_health: Default::default(),
        };
        Ok(filter)
    }

    pub fn lists(&self) -> Arc<IpLists> {
        self.lists.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the lists (SIGHUP): from the configuration file when it still parses, else
    /// from the settings the server started with.
    pub fn reload_lists(&self, started_with: &Config) {
        let spam = match hermod_config::load(&started_with.path) {
            Ok(config) => config.spam,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP: configuration not re-read; reloading list files only");
                started_with.spam.clone()
            }
        };
        match IpLists::load(&spam) {
            Ok(lists) => {
                tracing::info!(
                    blocked = lists.block.len(),
                    allowed = lists.allow.len(),
                    "SIGHUP: allow and block lists reloaded"
                );
                *self.lists.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(lists);
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP: lists not reloaded; keeping the old ones")
            }
        }
    }

    /// The server-wide Bayesian model, reloaded from the store when training changed it.
    /// The server-wide model, if training changed it since `generation`. Building it from
    /// the counts is CPU work for a blocking thread.
    async fn fresh_model(&self, generation: i64) -> Option<(Model, i64)> {
        let now = self.store.bayes_generation().await.ok()?;
        if now == generation {
            return None;
        }
        let counts = self.store.bayes_load(None).await.ok()?;
        let model = tokio::task::spawn_blocking(move || to_model(counts));
        Some((model.await.ok()?, now))
    }

    pub async fn model(&self) -> Arc<Model> {
        let (current, generation) = {
            let loaded = self.model.lock().unwrap_or_else(|e| e.into_inner());
            if loaded.checked.elapsed() < MODEL_CHECK_EVERY {
                return loaded.model.clone();
            }
            (loaded.model.clone(), loaded.generation)
        };
        let fresh = self.fresh_model(generation).await;
        let mut loaded = self.model.lock().unwrap_or_else(|e| e.into_inner());
        loaded.checked = Instant::now();
        if let Some((model, generation)) = fresh {
            tracing::info!(
                spam = model.spam_messages,
                ham = model.ham_messages,
                tokens = model.token_count(),
                "Bayesian model loaded"
            );
            loaded.model = Arc::new(model);
            loaded.generation = generation;
            return loaded.model.clone();
        }
        current
    }
}

pub(crate) fn thresholds(spam: &Spam) -> Thresholds {
    Thresholds {
        junk: spam.junk_threshold,
        reject: spam.reject_threshold,
    }
}

fn to_model(counts: hermod_store::BayesCounts) -> Model {
    Model::from_counts(counts.spam_messages, counts.ham_messages, counts.tokens)
}

/// mail-auth's resolver, asking the configured nameservers (or the system's).
pub(crate) fn authenticator(
    nameservers: &[std::net::SocketAddr],
) -> Result<MessageAuthenticator, String> {
    use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_secs(5);
    opts.attempts = 2;
    let config = if nameservers.is_empty() {
        match mail_auth::hickory_resolver::system_conf::read_system_conf() {
            Ok((config, _)) => config,
            Err(e) => {
                tracing::warn!(error = %e, "no system DNS configuration; SPF, DKIM and DNSBL checks will find nothing");
                ResolverConfig::from_parts(None, Vec::new(), Vec::new())
            }
        }
    } else {
        // Configured nameservers are asked for everything: /etc/hosts stays out of it (on
        // most machines it would name 127.0.0.1 and hide what DNS says).
        opts.use_hosts_file = mail_auth::hickory_resolver::config::ResolveHosts::Never;
        crate::outbound::dns::resolver_config(nameservers)
    };
    MessageAuthenticator::new(config, opts).map_err(|e| e.to_string())
}
