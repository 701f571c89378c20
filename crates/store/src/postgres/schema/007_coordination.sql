-- What the nodes agree on besides mail (see roles::Coordination): leases (the POP3 maildrop
-- lock) and counters over sliding windows in buckets (the login throttle).
CREATE TABLE coordination_leases (
    name text PRIMARY KEY,
    owner text NOT NULL,
    until bigint NOT NULL
);
CREATE TABLE coordination_counters (
    key text NOT NULL,
    bucket bigint NOT NULL,
    amount bigint NOT NULL,
    PRIMARY KEY (key, bucket)
);
CREATE INDEX coordination_counters_by_bucket ON coordination_counters (bucket);
