//! The document life cycle: what a document must contain to be accepted, how it is
//! numbered, and which state follows which. Decides; never touches SQLite or files
//! directly (that is `store`) and never speaks HTTP (that is `web`).

pub mod business;
pub mod business_packets;
pub mod clerk;
pub mod directory;
pub mod evidence;
pub mod exchange;
pub mod intake;
pub mod meta;
pub mod register;
pub mod register_export;
mod register_html;
pub mod signing;

pub use exchange::StorageFull;
pub use intake::{
    accept_outgoing, check_storage, IncomingFile, IntakeContext, IntakeError, IntakeRequest,
};
pub use meta::{MetaError, OutgoingMeta};
pub use signing::{AgencyKey, SignaturePolicy};
