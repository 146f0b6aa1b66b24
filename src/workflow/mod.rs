//! The document life cycle: what a document must contain to be accepted, how it is
//! numbered, and which state follows which. Decides; never touches SQLite or files
//! directly (that is `store`) and never speaks HTTP (that is `web`).

pub mod intake;
pub mod meta;

pub use intake::{accept_outgoing, IncomingFile, IntakeContext, IntakeError, IntakeRequest};
pub use meta::{MetaError, OutgoingMeta};
