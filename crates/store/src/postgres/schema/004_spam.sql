-- The spam filter's memory. Bayesian counts per owner (0: the server-wide model, else a
-- user's id), the messages each model learned (by digest), a generation that moves with
-- every change; greylisting triplets; and the bulk guard's content fingerprints per scope
-- (0: inbound mail, else an account), their MinHash band keys indexed, with the recipients
-- each copy reached.
CREATE TABLE bayes_tokens (
    owner bigint NOT NULL,
    token bigint NOT NULL,
    spam bigint NOT NULL,
    ham bigint NOT NULL,
    PRIMARY KEY (owner, token)
);
CREATE TABLE bayes_totals (
    owner bigint PRIMARY KEY,
    spam bigint NOT NULL,
    ham bigint NOT NULL
);
CREATE TABLE bayes_seen (
    owner bigint NOT NULL,
    digest bytea NOT NULL,
    spam boolean NOT NULL,
    PRIMARY KEY (owner, digest)
);
CREATE TABLE bayes_generation (n bigint NOT NULL);
INSERT INTO bayes_generation VALUES (0);

CREATE TABLE greylist (
    key text PRIMARY KEY,
    first_seen bigint NOT NULL,
    last_seen bigint NOT NULL,
    passed bigint
);
CREATE INDEX greylist_seen ON greylist (last_seen);

CREATE TABLE bulk_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope bigint NOT NULL,
    at bigint NOT NULL,
    signature bytea NOT NULL
);
CREATE INDEX bulk_messages_by_time ON bulk_messages (scope, at);
CREATE TABLE bulk_bands (
    scope bigint NOT NULL,
    band bigint NOT NULL,
    message_id bigint NOT NULL REFERENCES bulk_messages(id) ON DELETE CASCADE,
    PRIMARY KEY (scope, band, message_id)
);
CREATE INDEX bulk_bands_by_message ON bulk_bands (message_id);
CREATE TABLE bulk_recipients (
    message_id bigint NOT NULL REFERENCES bulk_messages(id) ON DELETE CASCADE,
    recipient text NOT NULL,
    PRIMARY KEY (message_id, recipient)
);

-- What the spam data keeps of an account goes with it (owner and scope are not foreign
-- keys: 0 names the server-wide model and inbound mail).
CREATE FUNCTION spam_data_forget_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bulk_messages WHERE scope = OLD.id;
    DELETE FROM bayes_tokens WHERE owner = OLD.id;
    DELETE FROM bayes_totals WHERE owner = OLD.id;
    DELETE FROM bayes_seen WHERE owner = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER spam_data_user_removed AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION spam_data_forget_user();
