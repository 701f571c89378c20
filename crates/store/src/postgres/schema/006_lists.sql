-- Mailing lists. Members are pending (asked by mail, not yet confirmed), active or suspended
-- (bounced too often); held posts keep their whole message until a moderator decides,
-- archived posts (lists with `archive`) for good; confirmation tokens are random, single
-- use, and expire. Addresses are normalized; those listed in order are COLLATE "C" (byte
-- order, as the embedded store sorts, whatever the database's locale).
CREATE TABLE lists (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address text COLLATE "C" NOT NULL UNIQUE,
    domain text COLLATE "C" NOT NULL REFERENCES domains(name),
    owner text NOT NULL,
    mode text NOT NULL,
    moderated boolean NOT NULL,
    refuse_non_members boolean NOT NULL,
    archive boolean NOT NULL,
    created bigint NOT NULL
);
CREATE TABLE list_members (
    list_id bigint NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    address text COLLATE "C" NOT NULL,
    state text NOT NULL,
    bounces bigint NOT NULL DEFAULT 0,
    since bigint NOT NULL,
    PRIMARY KEY (list_id, address)
);
CREATE TABLE list_moderators (
    list_id bigint NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    address text COLLATE "C" NOT NULL,
    PRIMARY KEY (list_id, address)
);
CREATE TABLE list_held (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list_id bigint NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    sender text,
    subject text NOT NULL,
    received bigint NOT NULL,
    content bytea NOT NULL
);
CREATE INDEX list_held_by_list ON list_held (list_id, id);
CREATE TABLE list_posts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list_id bigint NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    sender text,
    subject text NOT NULL,
    received bigint NOT NULL,
    content bytea NOT NULL
);
CREATE INDEX list_posts_by_list ON list_posts (list_id, id);
CREATE TABLE list_tokens (
    token text PRIMARY KEY,
    list_id bigint NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    address text NOT NULL,
    action text NOT NULL,
    expires bigint NOT NULL
);
CREATE INDEX list_tokens_expiry ON list_tokens (expires);
CREATE INDEX list_tokens_by_list ON list_tokens (list_id);
