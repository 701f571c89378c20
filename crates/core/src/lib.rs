//! hermod's business rules: which recipients are accepted and where their mail goes, how
//! passwords are checked. Typed inputs, typed outcomes; never reply text (see server's reply.rs).

pub mod auth;
pub mod bounce;
mod delivery;
pub mod dkim;
pub mod outbound;
mod routing;
pub mod submission;
pub mod throttle;

pub use delivery::deliver_local;
pub use routing::{LocalRecipient, RcptOutcome, RejectReason, Router};
