-- Sieve scripts (RFC 5228) per user; users.sieve_script names the active one. A row is never
-- changed in place: putting a script again makes a new row (identity ids are never reused),
-- so an id names one text forever and compiled scripts are cached by it. sieve_seen is what
-- vacation and `duplicate` (RFC 5230, RFC 7352) remember, until it expires.
CREATE TABLE sieve_scripts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name text COLLATE "C" NOT NULL,
    content bytea NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE sieve_seen (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key text NOT NULL,
    expires bigint NOT NULL,
    PRIMARY KEY (user_id, key)
);
-- Expired keys are swept a few at a time: found by this index, not by a scan.
CREATE INDEX sieve_seen_expiry ON sieve_seen (expires);
