-- The outbound queue: one entry per message, one row per remote recipient with its own
-- state. Entries are claimed with a lease (claimed_by until claimed_until, Unix seconds),
-- so nodes never deliver one entry at once and a dead node's claims run out. A held entry
-- (held: the reason) waits for an admin. Each entry holds a reference to its body, counted
-- in blobs.refs like a message's.
CREATE TABLE queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    blob_id text NOT NULL REFERENCES blobs(id),
    sender text NOT NULL,
    created bigint NOT NULL,
    envid text,
    ret text,
    smtputf8 boolean NOT NULL DEFAULT false,
    delay_notified boolean NOT NULL DEFAULT false,
    claimed_by text,
    claimed_until bigint NOT NULL DEFAULT 0,
    held text
);
CREATE INDEX queue_by_blob ON queue (blob_id);

CREATE TABLE queue_recipients (
    queue_id bigint NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
    recipient text COLLATE "C" NOT NULL,
    domain text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts bigint NOT NULL DEFAULT 0,
    next_attempt bigint NOT NULL,
    last_error text,
    notify text,
    orcpt text,
    PRIMARY KEY (queue_id, recipient)
);
-- What a claim looks for: recipients still to be tried, by when they are due.
CREATE INDEX queue_due ON queue_recipients (next_attempt, queue_id)
    WHERE status IN ('pending', 'deferred');

CREATE FUNCTION queue_body_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blobs SET refs = refs + 1 WHERE id = NEW.blob_id;
    RETURN NULL;
END $$;
CREATE TRIGGER queue_added AFTER INSERT ON queue
    FOR EACH ROW EXECUTE FUNCTION queue_body_referenced();

CREATE FUNCTION queue_body_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE id = OLD.blob_id;
    RETURN NULL;
END $$;
CREATE TRIGGER queue_removed AFTER DELETE ON queue
    FOR EACH ROW EXECUTE FUNCTION queue_body_released();
