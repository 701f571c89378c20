-- The spam verdict's parameters that `hermod spam train` fits for a model (owner 0, the
-- server-wide one), in hermod_spam::Calibration's text form.
CREATE TABLE bayes_calibration (
    owner bigint PRIMARY KEY,
    params text NOT NULL
);
