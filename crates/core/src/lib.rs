//! hermod's business rules: which recipients are accepted and where their mail goes (the one
//! delivery pipeline every entrance uses), how passwords are checked. Typed inputs, typed
//! outcomes; never reply text (see server's reply.rs).

pub mod accounts;
pub mod auth;
pub mod bounce;
pub mod bulk;
pub mod dkim;
pub mod lists;
pub mod mtasts;
pub mod netlist;
pub mod outbound;
pub mod pipeline;
pub mod rates;
mod routing;
pub mod selfhost;
pub mod sieve;
pub mod srs;
pub mod submission;
pub mod throttle;
pub mod verified;

pub use routing::{LocalRecipient, RcptOutcome, RejectReason, Router};
