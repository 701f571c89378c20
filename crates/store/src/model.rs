//! Plain data the store hands out and takes in.

use hermod_types::{Address, Domain, MailboxName, Uid, UidValidity};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub i64);

/// Names one stored message body. 32 lowercase hex digits, so it is always safe as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    /// The time in milliseconds (12 digits), then 80 random bits. Time first makes new ids
    /// sort after older ones, so the index's trees keyed by body grow at their end instead of
    /// changing a random page per message (three trees: a third of the pages a delivery
    /// wrote).
    pub(crate) fn new() -> std::io::Result<BlobId> {
        use std::fmt::Write;
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            & 0xffff_ffff_ffff;
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut id = format!("{millis:012x}");
        for byte in random {
            let _ = write!(id, "{byte:02x}");
        }
        Ok(BlobId(id))
    }

    /// Accepts only the shape [`BlobId::new`] produces; anything else never reaches a path.
    pub fn parse(s: &str) -> Option<BlobId> {
        let ok = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| BlobId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Not `Eq`: the Junk threshold is a float.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: UserId,
    /// The normalized address (lowercase local part, ASCII domain): the login name.
    pub address: String,
    pub password_hash: String,
    pub quota: Option<u64>,
    pub used: u64,
    /// Extra sender addresses (or `@domain` for a whole domain) this user may submit as,
    /// beyond its own address and the aliases that lead to it.
    pub send_as: Vec<String>,
    /// `hermod user bulk ADDRESS allow`: the bulk guard lets this account send one text to
    /// many (a newsletter sender); the rate limits still apply.
    pub bulk_allowed: bool,
    /// Why the bulk guard (or an admin) froze the account's submission, until an admin
    /// unfreezes it.
    pub frozen: Option<String>,
    /// The row id of the user's active Sieve script (ids name one text, never reused).
    pub sieve_script: Option<i64>,
    /// The user's own spam score from which mail is filed into Junk; `None`: the server's
    /// `[spam] junk_threshold`.
    pub junk_threshold: Option<f64>,
}

/// One of an account's app passwords, as its owner sees it (the hash stays in the store
/// except for the login check, [`crate::Accounts::app_password_hashes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPassword {
    pub id: i64,
    pub name: String,
    /// Unix time it was made.
    pub created: i64,
}

/// One of a user's Sieve scripts, as ManageSieve's LISTSCRIPTS shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SieveScriptInfo {
    pub name: String,
    pub size: u64,
    pub active: bool,
}

/// The left side of an alias: one address, or every address of a domain (catch-all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasKey {
    Address(Address),
    CatchAll(Domain),
}

impl AliasKey {
    /// `@example.test` is the catch-all of example.test; anything else must be an address.
    pub fn parse(s: &str) -> Result<AliasKey, hermod_types::AddressError> {
        match s.strip_prefix('@') {
            Some(domain) => Ok(AliasKey::CatchAll(Domain::parse(domain)?)),
            None => Ok(AliasKey::Address(Address::parse(s)?)),
        }
    }

    pub fn domain(&self) -> &Domain {
        match self {
            AliasKey::Address(a) => a.domain(),
            AliasKey::CatchAll(d) => d,
        }
    }

    /// The key as stored: a normalized address or `@domain`.
    pub fn key(&self) -> String {
        match self {
            AliasKey::Address(a) => a.normalized(),
            AliasKey::CatchAll(d) => format!("@{}", d.as_str()),
        }
    }
}

/// IMAP system flags as bits, plus keywords.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub bits: u8,
    pub keywords: Vec<String>,
}

impl Flags {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;

    pub fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    /// Maildir info letters (sorted, as the Maildir spec requires) for these flags.
    pub fn maildir_letters(&self) -> String {
        let pairs = [
            (Self::DRAFT, 'D'),
            (Self::FLAGGED, 'F'),
            (Self::ANSWERED, 'R'),
            (Self::SEEN, 'S'),
            (Self::DELETED, 'T'),
        ];
        pairs
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, c)| *c)
            .collect()
    }

    pub fn from_maildir_letters(letters: &str) -> Flags {
        let mut bits = 0;
        for c in letters.chars() {
            bits |= match c {
                'D' => Self::DRAFT,
                'F' => Self::FLAGGED,
                'R' => Self::ANSWERED,
                'S' => Self::SEEN,
                'T' => Self::DELETED,
                _ => 0,
            };
        }
        Flags {
            bits,
            keywords: Vec::new(),
        }
    }
}

/// RFC 6154 special-use attribute of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl SpecialUse {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }

    /// The attribute as written in LIST and CREATE (`\\Sent`); case-insensitive like every
    /// IMAP atom.
    pub fn parse(s: &str) -> Option<SpecialUse> {
        [
            SpecialUse::Sent,
            SpecialUse::Drafts,
            SpecialUse::Trash,
            SpecialUse::Junk,
            SpecialUse::Archive,
        ]
        .into_iter()
        .find(|u| u.as_str().eq_ignore_ascii_case(s))
    }
}

/// The mailboxes every new user gets, subscribed (email programs that show only subscribed
/// folders show these from the start).
pub const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 5] = [
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: MailboxId,
    pub name: MailboxName,
    pub uid_validity: UidValidity,
    pub uid_next: u32,
    pub highest_modseq: u64,
    pub special_use: Option<SpecialUse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: Uid,
    pub blob: BlobId,
    /// Exact octet count of the stored message (CRLF line endings).
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub internal_date: i64,
    pub flags: Flags,
    pub modseq: u64,
}

/// One copy of a message to file: whose, into which mailbox, with which flags.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub user: UserId,
    pub mailbox: MailboxName,
    pub flags: Flags,
    /// Seconds since the Unix epoch.
    pub internal_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub user: UserId,
    pub mailbox: MailboxId,
    pub uid: Uid,
}

/// A DKIM key of a domain (RFC 6376), as stored: DER bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKeyRecord {
    pub selector: String,
    /// `ed25519` or `rsa`.
    pub algorithm: String,
    /// PKCS#8 (ed25519) or PKCS#1 (rsa) DER.
    pub private_key: Vec<u8>,
    /// The raw key (ed25519) or PKCS#1 DER (rsa).
    pub public_key: Vec<u8>,
}

/// A message handed to the outbound queue, for recipients in other domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbound {
    /// The envelope sender; `None` is the null sender `<>`.
    pub sender: Option<String>,
    pub recipients: Vec<OutboundRecipient>,
    /// DSN (RFC 3461) ENVID and RET, passed on as given.
    pub envid: Option<String>,
    pub ret: Option<String>,
    /// The message needs SMTPUTF8 (RFC 6531) from every server it passes.
    pub smtputf8: bool,
    /// Queue the entry held, with this reason: the relay leaves it until an admin releases
    /// it (`hermod queue release`) or deletes it.
    pub held: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecipient {
    pub address: String,
    /// DSN NOTIFY (`NEVER` or a comma list) and ORCPT, as given.
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// What the store did with a submitted message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submitted {
    pub delivered: Vec<Delivered>,
    pub queue_id: Option<i64>,
}

/// One queue entry, for listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: i64,
    pub blob: BlobId,
    pub sender: String,
    pub created: i64,
    /// (recipient, status, attempts, last error)
    pub recipients: Vec<(String, String, u32, Option<String>)>,
    /// Why the entry is held (the relay does not send it), if it is.
    pub held: Option<String>,
}

/// A queue entry with the recipients still to be tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: i64,
    pub blob: BlobId,
    pub size: u64,
    pub sender: Option<String>,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub envid: Option<String>,
    pub ret: Option<String>,
    pub smtputf8: bool,
    /// A delay notice was sent already (one per message is enough).
    pub delay_notified: bool,
    pub recipients: Vec<QueuedRecipient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    pub address: String,
    pub domain: String,
    pub attempts: u32,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
    pub last_error: Option<String>,
}

/// What one address names in the directory, read in one trip: routing's step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressLookup {
    /// The address's domain is one of ours (nothing else is looked up otherwise).
    pub local_domain: bool,
    pub user: Option<UserRecord>,
    /// The targets of an alias of exactly this address.
    pub alias_targets: Vec<Address>,
    /// The targets of the domain's catch-all alias.
    pub catch_all: Vec<Address>,
}

/// A message the server writes itself (a bounce, a delay notice): filed into local
/// mailboxes, handed to the outbound queue, or both.
#[derive(Debug)]
pub struct Report {
    pub blob: crate::SealedBlob,
    pub targets: Vec<DeliveryTarget>,
    pub outbound: Option<Outbound>,
}

/// Where one recipient of a queue entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    /// Not tried yet.
    Pending,
    /// Tried; to be tried again.
    Deferred,
    Delivered,
    Failed,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Deferred => "deferred",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RecipientState> {
        [
            RecipientState::Pending,
            RecipientState::Deferred,
            RecipientState::Delivered,
            RecipientState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }

    /// Delivered or failed: nothing more will be tried.
    pub fn is_final(self) -> bool {
        matches!(self, RecipientState::Delivered | RecipientState::Failed)
    }
}

/// One recipient of a queue entry: its state and the last reply it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientOutcome {
    pub recipient: String,
    pub state: RecipientState,
    pub last_reply: Option<String>,
}

/// The outcome of one delivery attempt for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueUpdate {
    Delivered { reply: String },
    Deferred { next_attempt: i64, error: String },
    Failed { error: String },
}

/// A Bayesian model's counts, or a change to them: messages learned per class, and per
/// token (a hash) how many spam and ham messages contained it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BayesCounts {
    pub spam_messages: i64,
    pub ham_messages: i64,
    pub tokens: Vec<(u64, i64, i64)>,
}

/// A message a Bayesian model learned, by a digest of its content, so that learning it again
/// is not counted twice (and learning it as the other class moves it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedMessage {
    pub digest: Vec<u8>,
    pub spam: bool,
    /// What the model had learned the message as when the lesson was worked out (from
    /// [`crate::roles::SpamData::bayes_seen`]): the lesson's counts assume it, so the store
    /// refuses the lesson if another learner changed it meanwhile.
    pub before: Option<bool>,
}

/// Where a greylisting triplet stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GreylistState {
    /// New or too early: try again in this many seconds.
    Wait(i64),
    /// It waited long enough: this attempt passes, and later ones will.
    Passed,
    /// Passed before.
    Known,
}

/// The most correspondents an account keeps; beyond, the longest unused are forgotten.
pub const MAX_CORRESPONDENTS: i64 = 5000;
/// A correspondent written to again has its time rewritten only once it is this old (most
/// mail goes to people written to before; the rewrite would cost every submission a write).
pub const CORRESPONDENT_REFRESH_SECS: i64 = 86_400;

/// Whose messages a content fingerprint is counted among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkScope {
    /// What one account submitted (the outbound bulk guard).
    Account(UserId),
    /// Mail from other servers to local users (the `BULK_DUPLICATE` spam rule).
    Inbound,
}

impl BulkScope {
    /// The number stored for the scope (account ids start at 1).
    pub fn key(self) -> i64 {
        match self {
            BulkScope::Account(user) => user.0,
            BulkScope::Inbound => 0,
        }
    }
}

/// One message's content fingerprint and recipients, to count against earlier ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkSighting {
    pub scope: BulkScope,
    /// When (Unix seconds); what the scope saw before `since` no longer counts, and
    /// `at - since` is how long this sighting is remembered.
    pub at: i64,
    pub since: i64,
    /// The signature, compared four bytes (one number) at a time.
    pub signature: Vec<u8>,
    /// The signature's band keys: an earlier content sharing one is a candidate.
    pub bands: Vec<i64>,
    /// A candidate is a copy when at least this many numbers of the signatures agree.
    pub min_equal: usize,
    /// Normalised recipient addresses.
    pub recipients: Vec<String>,
    /// The largest count the caller tells apart: recipients are counted up to `cap` (at
    /// least 1), and a count of `cap` means "`cap` or more". It bounds what the store keeps
    /// per content, so a campaign of any size costs the same per copy.
    pub cap: u64,
}

/// What earlier copies of a message's content reached within the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkCount {
    /// Earlier copies (messages) of the content: 0 exactly when none is in the window;
    /// otherwise every copy since the content was first seen without a gap of a whole
    /// window (for logs; decisions read only whether it is 0).
    pub copies: u64,
    /// Distinct recipients of the earlier copies in the window, up to the sighting's cap.
    pub before: u64,
    /// Distinct recipients of the earlier copies and this message together, up to the cap.
    pub after: u64,
}
