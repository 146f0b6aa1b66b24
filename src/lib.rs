//! docgate: the firmware of a gateway appliance for government electronic document
//! exchange (edXML, QCVN 102:2016).
//!
//! The binary in `main.rs` is a thin command-line edge over this library; tests reach the
//! parts through it. Dependencies point one way: `web` → `workflow` → `store`, `edxml`;
//! `system` is configuration and process plumbing used by the edges. See `ARCHITECTURE.md`.

pub mod axis;
pub mod boot;
pub mod edxml;
pub mod enrolment;
pub mod signature;
pub mod store;
pub mod sync;
pub mod system;
pub mod token;
pub mod web;
pub mod workflow;

pub mod demo;
pub mod gateway;
pub mod provisioning;
pub mod vdxp;
