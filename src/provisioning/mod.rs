//! Provisioning's shared vocabulary: what travels between the axis (the provincial device
//! CA and issuer of configuration) and a box that enrols with it. The enrolment code
//! ([`code`]), the signed configuration bundle ([`bundle`]) and the enrolment protocol's
//! paths and bodies ([`messages`]).
//!
//! Like `vdxp`, it sits between `axis` (server) and the box's side (`sync::enrol_client`,
//! `system::provisioned`) so neither imports the other. No sockets, no files, no storage.

pub mod bundle;
pub mod code;
pub mod key_kind;
pub mod messages;
pub mod pem;

pub use bundle::{BundleError, BundleStanding, ConfigBundle, SignedBundle};
pub use code::{CodeError, EnrolmentCode};
