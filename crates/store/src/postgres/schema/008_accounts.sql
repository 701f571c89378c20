-- The web interface's accounts (see roles::Accounts): who may use /admin, and app passwords
-- (named extra passwords for email programs; only their hashes), gone with their account.
ALTER TABLE users ADD COLUMN admin boolean NOT NULL DEFAULT false;
CREATE TABLE app_passwords (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name text COLLATE "C" NOT NULL,
    hash text NOT NULL,
    created bigint NOT NULL,
    UNIQUE (user_id, name)
);
