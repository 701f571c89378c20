//! The embedded index: SQLite in WAL mode, fsync on every commit.

use crate::Result;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Every step from an empty database to the current schema, in order.
const MIGRATIONS: [&str; 19] = [
    SCHEMA,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
    MIGRATION_7,
    MIGRATION_8,
    MIGRATION_9,
    MIGRATION_10,
    MIGRATION_11,
    MIGRATION_12,
    MIGRATION_13,
    MIGRATION_14,
    MIGRATION_15,
    MIGRATION_16,
    MIGRATION_17,
    MIGRATION_18,
    MIGRATION_19,
];

const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('last_uidvalidity', 0);

CREATE TABLE domains (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL REFERENCES domains(name),
    password TEXT NOT NULL,
    quota INTEGER,
    used INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE aliases (
    alias TEXT NOT NULL,
    target TEXT NOT NULL,
    domain TEXT NOT NULL REFERENCES domains(name),
    PRIMARY KEY (alias, target)
);

CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    special_use TEXT,
    UNIQUE (user_id, name)
);

CREATE TABLE blobs (
    id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    blob_id TEXT NOT NULL REFERENCES blobs(id),
    size INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    flags INTEGER NOT NULL DEFAULT 0,
    keywords TEXT NOT NULL DEFAULT '',
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_by_blob ON messages (blob_id);

-- Reference counts and quota usage follow the message rows in the same transaction,
-- including rows removed by ON DELETE CASCADE, so they cannot drift.
CREATE TRIGGER message_added AFTER INSERT ON messages BEGIN
    UPDATE blobs SET refs = refs + 1 WHERE id = NEW.blob_id;
    UPDATE users SET used = used + NEW.size
        WHERE id = (SELECT user_id FROM mailboxes WHERE id = NEW.mailbox_id);
END;
CREATE TRIGGER message_removed AFTER DELETE ON messages BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE id = OLD.blob_id;
    UPDATE users SET used = used - OLD.size
        WHERE id = (SELECT user_id FROM mailboxes WHERE id = OLD.mailbox_id);
END;
"#;

/// Version 2: who may send as what (submission), and the outbound queue.
const MIGRATION_2: &str = r#"
ALTER TABLE users ADD COLUMN send_as TEXT NOT NULL DEFAULT '';

CREATE TABLE queue (
    id INTEGER PRIMARY KEY,
    blob_id TEXT NOT NULL REFERENCES blobs(id),
    sender TEXT NOT NULL,
    created INTEGER NOT NULL,
    envid TEXT,
    ret TEXT
);

CREATE TABLE queue_recipients (
    queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    domain TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT,
    notify TEXT,
    orcpt TEXT,
    PRIMARY KEY (queue_id, recipient)
) WITHOUT ROWID;
CREATE INDEX queue_due ON queue_recipients (status, next_attempt);

CREATE TRIGGER queue_added AFTER INSERT ON queue BEGIN
    UPDATE blobs SET refs = refs + 1 WHERE id = NEW.blob_id;
END;
CREATE TRIGGER queue_removed AFTER DELETE ON queue BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE id = OLD.blob_id;
END;
"#;

/// Version 3: DKIM signing keys per domain.
const MIGRATION_3: &str = r#"
CREATE TABLE dkim_keys (
    domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    private_key BLOB NOT NULL,
    public_key BLOB NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (domain, selector)
);
"#;

/// Version 4: what the relay must know of a queued message.
const MIGRATION_4: &str = r#"
ALTER TABLE queue ADD COLUMN smtputf8 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 5: the spam filter's Bayesian counts (owner 0 is the server-wide model) and the
/// greylisting triplets.
const MIGRATION_5: &str = r#"
CREATE TABLE bayes_tokens (
    owner INTEGER NOT NULL,
    token INTEGER NOT NULL,
    spam INTEGER NOT NULL,
    ham INTEGER NOT NULL,
    PRIMARY KEY (owner, token)
) WITHOUT ROWID;
CREATE TABLE bayes_totals (
    owner INTEGER PRIMARY KEY,
    spam INTEGER NOT NULL,
    ham INTEGER NOT NULL
);
CREATE TABLE bayes_generation (n INTEGER NOT NULL);
INSERT INTO bayes_generation VALUES (0);
CREATE TABLE greylist (
    key TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    passed INTEGER
);
CREATE INDEX greylist_seen ON greylist (last_seen);
"#;

/// Version 6: small message bodies inside the index (see `blob.rs`), kept apart from `blobs`
/// so that reference-count updates do not rewrite them; and an index of unreferenced bodies
/// so that collecting garbage does not scan every body.
const MIGRATION_6: &str = r#"
ALTER TABLE blobs ADD COLUMN inline INTEGER NOT NULL DEFAULT 0;
CREATE TABLE blob_data (
    id TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TRIGGER blob_removed AFTER DELETE ON blobs WHEN OLD.inline BEGIN
    DELETE FROM blob_data WHERE id = OLD.id;
END;
CREATE INDEX blobs_unreferenced ON blobs (refs) WHERE refs <= 0;
"#;

/// Version 7: which messages each Bayesian model learned (by digest), so that learning a
/// message twice does not count it twice.
const MIGRATION_7: &str = r#"
CREATE TABLE bayes_seen (
    owner INTEGER NOT NULL,
    digest BLOB NOT NULL,
    spam INTEGER NOT NULL,
    PRIMARY KEY (owner, digest)
) WITHOUT ROWID;
"#;

/// Version 8: the IMAP mail model.
///
/// `changelog` holds one row per UID a mailbox ever assigned, at the MODSEQ of its latest
/// change: appended (0), flags changed (1) or expunged (2). A change deletes the message's
/// previous row (found by the message's MODSEQ, no extra index) and adds the new one, so the
/// log stays as large as the set of UIDs, ordered by MODSEQ for "what changed since", and an
/// expunge stays as a tombstone for QRESYNC. Existing messages enter as appends; expunges
/// from before the log are unknown, which `vanished_floor` records: asked about changes since
/// an older MODSEQ, the store reports every missing UID instead.
///
/// `users.mail_generation` grows with every change to a user's mail (bumped by the message
/// triggers, which already update the user row for the quota, and by the other writes):
/// change notifications compare it, also across processes.
const MIGRATION_8: &str = r#"
CREATE TABLE changelog (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    modseq INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, modseq, uid)
) WITHOUT ROWID;
INSERT INTO changelog (mailbox_id, modseq, uid, kind)
    SELECT mailbox_id, modseq, uid, 0 FROM messages;
ALTER TABLE mailboxes ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET vanished_floor = highestmodseq;

ALTER TABLE users ADD COLUMN mail_generation INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER message_added;
CREATE TRIGGER message_added AFTER INSERT ON messages BEGIN
    UPDATE blobs SET refs = refs + 1 WHERE id = NEW.blob_id;
    UPDATE users SET used = used + NEW.size, mail_generation = mail_generation + 1
        WHERE id = (SELECT user_id FROM mailboxes WHERE id = NEW.mailbox_id);
END;
DROP TRIGGER message_removed;
CREATE TRIGGER message_removed AFTER DELETE ON messages BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE id = OLD.blob_id;
    UPDATE users SET used = used - OLD.size, mail_generation = mail_generation + 1
        WHERE id = (SELECT user_id FROM mailboxes WHERE id = OLD.mailbox_id);
END;

-- IMAP subscriptions: names, which need not exist.
CREATE TABLE subscriptions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
"#;

/// Version 9: queue entries are claimed with a lease (owner, expiry), so two processes on
/// one store never deliver an entry at once and a dead one's claims run out.
const MIGRATION_9: &str = r#"
ALTER TABLE queue ADD COLUMN claimed_by TEXT;
ALTER TABLE queue ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 10: Sieve scripts (RFC 5228) per user, the active one named in `users`, and what
/// vacation and `duplicate` (RFC 5230, RFC 7352) remember. A script row is never changed in
/// place: putting a script again makes a new row (ids are never reused), so an id names one
/// text and compiled scripts are cached by it.
const MIGRATION_10: &str = r#"
CREATE TABLE sieve_scripts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content BLOB NOT NULL,
    UNIQUE (user_id, name)
);
ALTER TABLE users ADD COLUMN sieve_script INTEGER;
CREATE TABLE sieve_seen (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
"#;

/// Version 11: the bulk guard. Accounts may be allowed to send bulk or frozen; queue
/// entries may be held (the relay leaves them until an admin releases them); and content
/// fingerprints of recent messages, per account (and one scope, 0, for inbound mail), with
/// their MinHash band keys indexed so that finding earlier copies is an index probe, and the
/// recipients each copy went to.
const MIGRATION_11: &str = r#"
ALTER TABLE users ADD COLUMN bulk_allowed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN frozen TEXT;
ALTER TABLE queue ADD COLUMN held TEXT;
CREATE TABLE bulk_messages (
    id INTEGER PRIMARY KEY,
    scope INTEGER NOT NULL,
    at INTEGER NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX bulk_messages_by_time ON bulk_messages (scope, at);
CREATE TABLE bulk_bands (
    scope INTEGER NOT NULL,
    band INTEGER NOT NULL,
    message_id INTEGER NOT NULL REFERENCES bulk_messages(id) ON DELETE CASCADE,
    PRIMARY KEY (scope, band, message_id)
) WITHOUT ROWID;
CREATE INDEX bulk_bands_by_message ON bulk_bands (message_id);
CREATE TABLE bulk_recipients (
    message_id INTEGER NOT NULL REFERENCES bulk_messages(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    PRIMARY KEY (message_id, recipient)
) WITHOUT ROWID;
"#;

/// Version 12: what the server derived from a stored body (the IMAP sort and thread keys),
/// kept per body so that SORT and THREAD do not parse every message each time. Opaque to the
/// store; it goes when its body goes.
const MIGRATION_12: &str = r#"
CREATE TABLE body_cache (
    id TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER body_cache_removed AFTER DELETE ON blobs BEGIN
    DELETE FROM body_cache WHERE id = OLD.id;
END;
"#;

/// Version 13: mailing lists. Members are pending (asked by mail, not yet confirmed), active
/// or suspended (bounced too often); held posts keep their whole message here until a
/// moderator decides, archived posts (lists with `archive`) for good; confirmation tokens
/// are random and expire.
const MIGRATION_13: &str = r#"
CREATE TABLE lists (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL REFERENCES domains(name),
    owner TEXT NOT NULL,
    mode TEXT NOT NULL,
    moderated INTEGER NOT NULL,
    refuse_non_members INTEGER NOT NULL,
    archive INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE list_members (
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    state TEXT NOT NULL,
    bounces INTEGER NOT NULL DEFAULT 0,
    since INTEGER NOT NULL,
    PRIMARY KEY (list_id, address)
) WITHOUT ROWID;
CREATE TABLE list_moderators (
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    PRIMARY KEY (list_id, address)
) WITHOUT ROWID;
CREATE TABLE list_held (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    sender TEXT,
    subject TEXT NOT NULL,
    received INTEGER NOT NULL,
    content BLOB NOT NULL
);
CREATE TABLE list_posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    sender TEXT,
    subject TEXT NOT NULL,
    received INTEGER NOT NULL,
    content BLOB NOT NULL
);
CREATE TABLE list_tokens (
    token TEXT PRIMARY KEY,
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Version 14: the web interface's accounts. `admin` marks who may use `/admin`; app
/// passwords are extra passwords for email programs (IMAP, POP3, submission, ManageSieve),
/// each with a name so its owner can tell them apart and revoke one; only their hashes are
/// kept. They go with their account.
const MIGRATION_14: &str = r#"
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
CREATE TABLE app_passwords (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
"#;

/// Version 15: each account's own spam setting, the score from which its mail is filed
/// into Junk (NULL: the server's `[spam] junk_threshold`).
const MIGRATION_15: &str = r#"
ALTER TABLE users ADD COLUMN junk_threshold REAL;
"#;

/// Version 16: the bulk guard keeps clusters, not messages (see `crate::bulk`). One row per
/// message made counting a campaign's copies cost as much as the campaign so far; a cluster
/// is one content, its band keys and at most `cap` of its latest recipients, each with when
/// it was last sent a copy. `expires` (the last copy plus the window) lets the forgetting go
/// a few clusters at a time. What the old tables counted is dropped: the guard's memory is
/// one window, and an upgrade starts it afresh.
const MIGRATION_16: &str = r#"
DROP TABLE bulk_recipients;
DROP TABLE bulk_bands;
DROP TABLE bulk_messages;
CREATE TABLE bulk_clusters (
    id INTEGER PRIMARY KEY,
    scope INTEGER NOT NULL,
    signature BLOB NOT NULL,
    sightings INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    kept INTEGER NOT NULL
);
CREATE INDEX bulk_clusters_by_scope ON bulk_clusters (scope);
CREATE INDEX bulk_clusters_by_expiry ON bulk_clusters (expires);
CREATE TABLE bulk_bands (
    scope INTEGER NOT NULL,
    band INTEGER NOT NULL,
    cluster_id INTEGER NOT NULL REFERENCES bulk_clusters(id) ON DELETE CASCADE,
    PRIMARY KEY (scope, band, cluster_id)
) WITHOUT ROWID;
CREATE INDEX bulk_bands_by_cluster ON bulk_bands (cluster_id);
CREATE TABLE bulk_recipients (
    cluster_id INTEGER NOT NULL REFERENCES bulk_clusters(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, recipient)
) WITHOUT ROWID;
CREATE INDEX bulk_recipients_by_time ON bulk_recipients (cluster_id, last_seen);
"#;

/// Version 17: the spam verdict's parameters that `hermod spam train` fits for a model (owner
/// 0, the server-wide one), in `hermod_spam::Calibration`'s text form.
const MIGRATION_17: &str = r#"
CREATE TABLE bayes_calibration (
    owner INTEGER PRIMARY KEY,
    params TEXT NOT NULL
);
"#;

/// Version 18: the bulk guard's clusters move to a database file of their own
/// (`super::counters`): written for every scanned message, their pages rode on every
/// delivery's fsync and checkpoint. What they counted is dropped, as in version 16: the
/// guard's memory is one window, and counting starts afresh in the new file.
const MIGRATION_18: &str = r#"
DROP TABLE bulk_recipients;
DROP TABLE bulk_bands;
DROP TABLE bulk_clusters;
"#;

/// Version 19: whom each account has sent mail to (lowercase addresses), and when last: mail
/// whose authenticated author is one of them scores `KNOWN_SENDER` for that account. Keyed
/// by address first, as delivery asks "which of these recipients wrote to this author".
const MIGRATION_19: &str = r#"
CREATE TABLE correspondents (
    address TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    last_sent INTEGER NOT NULL,
    PRIMARY KEY (address, user_id)
) WITHOUT ROWID;
CREATE INDEX correspondents_by_user ON correspondents (user_id, last_sent);
"#;

pub(crate) fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // FULL: every commit is fsynced before it returns; a 250 relies on that.
    configure(&conn, "FULL")?;
    Ok(conn)
}

/// What every connection of the embedded store sets, with its `synchronous` level (the
/// index's FULL; the bulk guard's own file, `super::counters`, NORMAL).
pub(crate) fn configure(conn: &Connection, synchronous: &str) -> Result<()> {
    // Another process (the CLI, or a second node later) may hold the write lock briefly.
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints (one per delivery in a group commit) journal the pages they touch; in
    // memory that is a copy, in a temporary file it was a write system call per page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // A WAL that grew during a burst is cut back to this size once it starts over.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // Every statement on a hot path is prepared once per connection and kept.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // Version n has run the first n steps; a store never skips one.
    while let Some(step) = usize::try_from(version)
        .ok()
        .and_then(|v| MIGRATIONS.get(v))
    {
        tx.execute_batch(step)?;
        version += 1;
    }
    tx.pragma_update(None, "user_version", version)?;
    if version != SCHEMA_VERSION {
        return Err(crate::StoreError::Corrupt(format!(
            "store schema version {version} is not supported by this hermod (expects {SCHEMA_VERSION})"
        )));
    }
    tx.commit()?;
    Ok(())
}

/// Builds the schema of an older hermod (its first `steps` migrations), to test upgrades.
#[cfg(test)]
pub(crate) fn migrate_partially(conn: &Connection, steps: usize) -> Result<()> {
    for step in &MIGRATIONS[..steps] {
        conn.execute_batch(step)?;
    }
    conn.pragma_update(None, "user_version", steps as i64)?;
    Ok(())
}
