//! Process plumbing shared by the edges: configuration (one validator for `config check`
//! and `run`), the clerks' accounts file, the clock, logging, the HTTP servers' connection
//! handling (limits and time limits), the shutdown signal, liveness
//! heartbeats, the systemd protocol (readiness, watchdog, status) and the daemon's
//! in-process sandbox. Owns no document logic and
//! never touches the store.

mod axis_config;
pub mod certificates;
pub mod clerk_accounts;
pub mod clock;
pub mod config;
pub mod heartbeat;
pub mod http_server;
pub mod lan_tls;
mod limits_config;
pub mod logging;
pub mod provisioned;
mod provisioning_config;
mod register_config;
pub mod sandbox;
pub mod shutdown;
mod signing_config;
pub mod systemd;
pub mod tls;
pub mod update_slots;
