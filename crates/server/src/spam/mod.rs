//! The spam defence of the smtp listener: the server-side half of `hermod-spam`. It owns
//! what needs I/O: the allow/block lists (reloaded on SIGHUP), the DNS resolver for block
//! lists, reverse DNS, SPF, DKIM and DMARC (mail-auth), greylisting in the store, and the
//! Bayesian model loaded from the store (reloaded when training changes it).

mod auth;
mod bulk;
mod connect;
pub(crate) mod recent;

pub(crate) use auth::Envelope;
pub(crate) use bulk::Content;
pub(crate) use recent::{RecentVerdict, RecentVerdicts};

use hermod_config::{Config, Spam};
use hermod_spam::{Calibration, Model, Thresholds};
use hermod_store::{Store, UserId};
use hermod_types::Cidr;
use mail_auth::MessageAuthenticator;
use std::collections::HashMap;
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
                list.extend(hermod_core::netlist::read(path).map_err(|e| e.to_string())?);
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

struct LoadedModel {
    model: Arc<Model>,
    generation: i64,
    checked: Instant,
}

/// Users' own models (their lessons from moving mail into and out of Junk), as loaded at
/// a store generation.
#[derive(Default)]
struct PersonalModels {
    generation: i64,
    /// `None`: the user has learned nothing.
    models: HashMap<UserId, Option<Arc<Model>>>,
    /// How many of `models` are models (they can be large; the `None`s are not).
    loaded: usize,
}

/// Personal models kept in memory at most (each can hold many tokens), and entries in all;
/// past either the cache starts over.
const MAX_PERSONAL: usize = 64;
const MAX_ENTRIES: usize = 100_000;

pub(crate) struct SpamFilter {
    lists: RwLock<Arc<IpLists>>,
    auth: MessageAuthenticator,
    model: Mutex<LoadedModel>,
    personal: Mutex<PersonalModels>,
    store: Arc<dyn Store>,
    /// Whether DNS failed lately: sender authentication then gives up quickly.
    dns_health: auth::DnsHealth,
    /// The last verdicts, for the web interface's spam page.
    pub recent: RecentVerdicts,
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
            personal: Mutex::default(),
            store,
            dns_health: Default::default(),
            recent: RecentVerdicts::default(),
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
        let calibration = match self.store.bayes_calibration().await.ok()? {
            Some(text) => Calibration::from_text(&text).unwrap_or_else(|| {
                tracing::warn!(stored = %text, "spam calibration unreadable; using the default");
                Calibration::default()
            }),
            None => Calibration::default(),
        };
        let model = tokio::task::spawn_blocking(move || to_model(counts));
        let mut model = model.await.ok()?;
        model.calibration = calibration;
        Some((model, now))
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
                junk_cut = model.calibration.junk_cut,
                "Bayesian model loaded"
            );
            loaded.model = Arc::new(model);
            loaded.generation = generation;
            return loaded.model.clone();
        }
        current
    }
}

impl SpamFilter {
    /// Each user's own model (`None` for a user who has taught nothing). Kept while the
    /// store's Bayes generation, as [`SpamFilter::model`] last saw it, stays the same (so a
    /// lesson from elsewhere counts within its check interval, and a delivery costs no
    /// query); this process's own lessons drop their user's entry at once
    /// ([`SpamFilter::forget_personal`]).
    pub async fn personal_models(&self, users: &[UserId]) -> Vec<Option<Arc<Model>>> {
        let generation = self
            .model
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation;
        let mut out = Vec::with_capacity(users.len());
        for &user in users {
            let cached = {
                let mut cache = self.personal.lock().unwrap_or_else(|e| e.into_inner());
                if cache.generation != generation
                    || cache.loaded >= MAX_PERSONAL
                    || cache.models.len() >= MAX_ENTRIES
                {
                    *cache = PersonalModels {
                        generation,
                        ..PersonalModels::default()
                    };
                }
                cache.models.get(&user).cloned()
            };
            let model = match cached {
                Some(model) => model,
                None => {
                    let model = self.load_personal(user).await;
                    let mut cache = self.personal.lock().unwrap_or_else(|e| e.into_inner());
                    if cache.generation == generation {
                        cache.loaded += usize::from(model.is_some());
                        if let Some(Some(_)) = cache.models.insert(user, model.clone()) {
                            cache.loaded -= 1;
                        }
                    }
                    model
                }
            };
            out.push(model);
        }
        out
    }

    /// `user` learned something: their model is read again when next needed.
    pub fn forget_personal(&self, user: UserId) {
        let mut cache = self.personal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Some(_)) = cache.models.remove(&user) {
            cache.loaded -= 1;
        }
    }

    async fn load_personal(&self, user: UserId) -> Option<Arc<Model>> {
        let counts = self.store.bayes_load(Some(user)).await.ok()?;
        if counts.spam_messages == 0 && counts.ham_messages == 0 {
            return None;
        }
        let model = tokio::task::spawn_blocking(move || to_model(counts));
        Some(Arc::new(model.await.ok()?))
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

/// mail-auth's resolver, asking the configured nameservers (or the system's). `hermod check`
/// looks things up through it too, so it sees what the server sees.
pub fn authenticator(nameservers: &[std::net::SocketAddr]) -> Result<MessageAuthenticator, String> {
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
