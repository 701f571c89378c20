-- The bulk guard keeps clusters, not messages (see the store's `bulk` module). One row per
-- message made counting a campaign's copies cost as much as the campaign so far; a cluster
-- is one content of a scope (0: inbound mail, else an account), its band keys and at most
-- `cap` of its latest recipients, each with when it was last sent a copy. `expires` (the
-- last copy plus the window) lets the forgetting go a few clusters at a time. What the old
-- tables counted is dropped: the guard's memory is one window, and an upgrade starts it
-- afresh.
DROP TABLE bulk_recipients;
DROP TABLE bulk_bands;
DROP TABLE bulk_messages;

CREATE TABLE bulk_clusters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope bigint NOT NULL,
    signature bytea NOT NULL,
    sightings bigint NOT NULL,
    last_at bigint NOT NULL,
    expires bigint NOT NULL,
    kept bigint NOT NULL
);
CREATE INDEX bulk_clusters_by_scope ON bulk_clusters (scope);
CREATE INDEX bulk_clusters_by_expiry ON bulk_clusters (expires);
CREATE TABLE bulk_bands (
    scope bigint NOT NULL,
    band bigint NOT NULL,
    cluster_id bigint NOT NULL REFERENCES bulk_clusters(id) ON DELETE CASCADE,
    PRIMARY KEY (scope, band, cluster_id)
);
CREATE INDEX bulk_bands_by_cluster ON bulk_bands (cluster_id);
CREATE TABLE bulk_recipients (
    cluster_id bigint NOT NULL REFERENCES bulk_clusters(id) ON DELETE CASCADE,
    recipient text COLLATE "C" NOT NULL,
    last_seen bigint NOT NULL,
    PRIMARY KEY (cluster_id, recipient)
);
CREATE INDEX bulk_recipients_by_time ON bulk_recipients (cluster_id, last_seen);

-- What the spam data keeps of an account goes with it (004's function, on the new table).
CREATE OR REPLACE FUNCTION spam_data_forget_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bulk_clusters WHERE scope = OLD.id;
    DELETE FROM bayes_tokens WHERE owner = OLD.id;
    DELETE FROM bayes_totals WHERE owner = OLD.id;
    DELETE FROM bayes_seen WHERE owner = OLD.id;
    RETURN NULL;
END $$;
