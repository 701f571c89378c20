-- Whom each account has sent mail to (lowercase addresses), and when last: mail whose
-- authenticated author is one of them scores KNOWN_SENDER for that account. Keyed by
-- address first, as delivery asks "which of these recipients wrote to this author".
CREATE TABLE correspondents (
    address text COLLATE "C" NOT NULL,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    last_sent bigint NOT NULL,
    PRIMARY KEY (address, user_id)
);
CREATE INDEX correspondents_by_user ON correspondents (user_id, last_sent);
