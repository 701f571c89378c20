-- Each account's own spam setting: the score from which its mail is filed into Junk
-- (NULL: the server's [spam] junk_threshold).
ALTER TABLE users ADD COLUMN junk_threshold double precision;
