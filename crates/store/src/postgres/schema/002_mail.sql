-- Mail: bodies, mailboxes, messages, the IMAP change log, subscriptions, the body cache.
-- Names mirror the embedded store's schema; see docs/ARCHITECTURE.md, "The PostgreSQL
-- backend", for how UIDs, MODSEQs and quotas stay right with several nodes writing.

CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO meta (key, value) VALUES ('last_uidvalidity', 0);

CREATE TABLE mailboxes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name text COLLATE "C" NOT NULL,
    uidvalidity bigint NOT NULL,
    -- Both taken by UPDATE ... RETURNING inside the writing transaction: the row lock
    -- makes UIDs and MODSEQs ascend in commit order.
    uidnext bigint NOT NULL DEFAULT 1,
    highestmodseq bigint NOT NULL DEFAULT 1,
    special_use text,
    -- Expunges at or below this MODSEQ are not in the change log (always 0 here: the log
    -- starts with the mailbox; kept for the embedded store's shape).
    vanished_floor bigint NOT NULL DEFAULT 0,
    UNIQUE (user_id, name)
);

-- One row per stored body; `refs` counts the message rows (and other roles' rows, e.g.
-- queue entries) naming it. A body's octets are in `blob_chunks`: one row for a small
-- body, 256 KiB rows for a large one, so a reader never needs a large body whole.
CREATE TABLE blobs (
    id text COLLATE "C" PRIMARY KEY,
    size bigint NOT NULL,
    refs bigint NOT NULL DEFAULT 0
);
CREATE INDEX blobs_unreferenced ON blobs (id) WHERE refs <= 0;

CREATE TABLE blob_chunks (
    blob_id text COLLATE "C" NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    seq integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
-- Bodies do not compress well enough to pay for it, and are read in order.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE messages (
    mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid bigint NOT NULL,
    blob_id text COLLATE "C" NOT NULL REFERENCES blobs(id),
    size bigint NOT NULL,
    internal_date bigint NOT NULL,
    flags smallint NOT NULL DEFAULT 0,
    keywords text NOT NULL DEFAULT '',
    modseq bigint NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_by_blob ON messages (blob_id);

-- Reference counts and quota usage follow the message rows in the same statement,
-- including rows removed by ON DELETE CASCADE, so they cannot drift. Statement triggers
-- with transition tables: one update per body and per user, however many rows changed.
CREATE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blobs b SET refs = b.refs + a.n
        FROM (SELECT blob_id, count(*) AS n FROM added GROUP BY blob_id) a
        WHERE b.id = a.blob_id;
    UPDATE users u SET used = u.used + a.total
        FROM (SELECT m.user_id, sum(x.size) AS total FROM added x
              JOIN mailboxes m ON m.id = x.mailbox_id GROUP BY m.user_id) a
        WHERE u.id = a.user_id;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_added AFTER INSERT ON messages
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION messages_added();

CREATE FUNCTION messages_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blobs b SET refs = b.refs - r.n
        FROM (SELECT blob_id, count(*) AS n FROM removed GROUP BY blob_id) r
        WHERE b.id = r.blob_id;
    -- Rows removed by a cascade from `mailboxes` find no mailbox row here and credit
    -- nobody: their user is being removed. DELETE of one mailbox removes its messages first.
    UPDATE users u SET used = u.used - r.total
        FROM (SELECT m.user_id, sum(x.size) AS total FROM removed x
              JOIN mailboxes m ON m.id = x.mailbox_id GROUP BY m.user_id) r
        WHERE u.id = r.user_id;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_removed AFTER DELETE ON messages
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messages_removed();

-- One row per UID a mailbox ever assigned, at the MODSEQ of its latest change: appended
-- (0), flags changed (1) or expunged (2, a tombstone for QRESYNC's VANISHED).
CREATE TABLE changelog (
    mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    kind smallint NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX changelog_by_modseq ON changelog (mailbox_id, modseq);

-- IMAP subscriptions: names, which need not exist.
CREATE TABLE subscriptions (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name text COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, name)
);

-- What the server derived from a stored body (IMAP sort and thread keys), opaque here; it
-- goes with its body.
CREATE TABLE body_cache (
    id text COLLATE "C" PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    data bytea NOT NULL
);
