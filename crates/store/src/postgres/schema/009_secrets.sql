-- Secrets every node shares (roles::Coordination::shared_secret): the SRS key, the web
-- session key. Made by the first node that asks; never changed afterwards.
CREATE TABLE secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
