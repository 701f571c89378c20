-- The directory: domains, accounts, aliases, DKIM keys. Names mirror the embedded store's
-- schema (sqlite/schema.rs, with the columns its later migrations added), so the other
-- roles' tables reference these (`users(id)`, `domains(name)`). Text that is sorted or
-- matched by prefix is COLLATE "C": byte order, whatever the database's locale.

CREATE TABLE domains (
    name text COLLATE "C" PRIMARY KEY,
    created bigint NOT NULL
);

CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address text COLLATE "C" NOT NULL UNIQUE,
    domain text COLLATE "C" NOT NULL REFERENCES domains(name),
    password text NOT NULL,
    quota bigint,
    -- Octets of the user's messages, kept by the triggers on `messages` (002).
    used bigint NOT NULL DEFAULT 0,
    -- Space-separated extra sender addresses (or @domain patterns).
    send_as text NOT NULL DEFAULT '',
    -- Grows with every committed change to the user's mail: change notifications compare it.
    mail_generation bigint NOT NULL DEFAULT 0,
    -- The active Sieve script's id (the Scripts role's table; no foreign key across roles).
    sieve_script bigint,
    bulk_allowed boolean NOT NULL DEFAULT false,
    frozen text
);
CREATE INDEX users_by_domain ON users (domain, id);

CREATE TABLE aliases (
    alias text COLLATE "C" NOT NULL,
    target text COLLATE "C" NOT NULL,
    domain text COLLATE "C" NOT NULL REFERENCES domains(name),
    PRIMARY KEY (alias, target)
);
CREATE INDEX aliases_by_domain ON aliases (domain);

CREATE TABLE dkim_keys (
    domain text COLLATE "C" NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    selector text COLLATE "C" NOT NULL,
    algorithm text NOT NULL,
    private_key bytea NOT NULL,
    public_key bytea NOT NULL,
    created bigint NOT NULL,
    PRIMARY KEY (domain, selector)
);
