//! Process plumbing shared by the edges: configuration (one validator for `config check`
//! and `run`), the clock, logging, and the shutdown signal. Owns no document logic and
//! never touches the store.

mod axis_config;
pub mod certificates;
pub mod clock;
pub mod config;
pub mod logging;
mod register_config;
pub mod shutdown;
mod signing_config;
pub mod tls;
