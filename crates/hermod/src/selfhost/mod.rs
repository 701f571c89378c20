//! Self-hosting helpers: the DNS records a domain publishes, `hermod quickstart` and
//! `hermod check`.

pub mod check;
pub mod quickstart;
pub mod records;
