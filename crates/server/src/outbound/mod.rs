//! Outbound delivery: the queue runner that relays queued mail to other servers, with
//! retries and bounces.

mod client;
pub(crate) mod dns;
mod runner;

pub(crate) use runner::run;
