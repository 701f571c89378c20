//! Self-hosting helpers: the DNS records a domain publishes, `hermod quickstart` and
//! `hermod check`.

pub mod records;
