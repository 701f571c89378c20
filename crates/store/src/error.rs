use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("domain {0} already exists")]
    DomainExists(String),
    #[error("unknown domain {0}: add it first with `hermod domain add {0}`")]
    UnknownDomain(String),
    #[error("domain {domain} still has {users} user(s) and {aliases} alias(es): remove them first")]
    DomainInUse {
        domain: String,
        users: u64,
        aliases: u64,
    },
    #[error("user {0} already exists")]
    UserExists(String),
    #[error("no such user: {0}")]
    UnknownUser(String),
    #[error("no such alias: {0}")]
    UnknownAlias(String),
    #[error("{0} is an alias; remove the alias first")]
    AddressIsAlias(String),
    #[error("{0} is already a user; an alias of the same name would never be used")]
    AliasShadowsUser(String),
    #[error("no such mailbox: {0}")]
    UnknownMailbox(String),
    #[error("mailbox {0} already exists")]
    MailboxExists(String),
    #[error("mailbox {0} has child mailboxes: delete or move them first")]
    MailboxHasChildren(String),
    #[error("mailbox {mailbox}: {reason}")]
    MailboxRefused {
        mailbox: String,
        reason: &'static str,
    },
    #[error("invalid keyword {0:?}")]
    BadKeyword(String),
    #[error("no such Sieve script: {0}")]
    UnknownScript(String),
    #[error("a Sieve script named {0} already exists")]
    ScriptExists(String),
    #[error("Sieve script {0} is active: activate another one (or none) first")]
    ScriptActive(String),
    #[error("list {0} already exists")]
    ListExists(String),
    #[error("no such list: {0}")]
    UnknownList(String),
    #[error("{0} is already taken by a user, an alias or a list")]
    AddressTaken(String),
    #[error("an app password named {0:?} exists already: revoke it or pick another name")]
    AppPasswordExists(String),
    #[error(
        "another lesson taught the spam filter some of these messages meanwhile; read again and retry"
    )]
    LessonRaced,
    #[error("user {0} is over quota")]
    OverQuota(String),
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The queue entry a report was about is gone (finished by someone else), or its
    /// delay was already told: the report is not queued a second time.
    #[error("queue entry {0} is gone or already reported")]
    QueueEntryGone(i64),
    #[error("the store's commit thread has stopped")]
    CommitterGone,
    /// A backup that cannot be made or restored, with the reason in one line.
    #[error("{0}")]
    Backup(String),
    #[error("a store task failed: {0}")]
    TaskFailed(String),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot be reached or used (no connection, bad settings).
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }

    /// True when retrying later may succeed (a busy database, a full disk, ...), as opposed to
    /// a request that is wrong in itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Database(_)
                | StoreError::Io { .. }
                | StoreError::CommitterGone
                | StoreError::Postgres(_)
                | StoreError::Unavailable(_)
        )
    }
}
