//! berth-conformance: an OCI runtime-spec conformance suite for runc-compatible
//! runtimes.
//!
//! - [`checker`] runs inside the container (binary `berth-check`) and compares
//!   what the process sees with its config.json;
//! - [`driver`] builds bundles, drives the runtime CLI and reports per case;
//! - [`cases`] holds the cases, one file per area, as data plus small functions;
//! - [`config`], [`procfs`], [`caps`], [`probe`] and [`cgroup`] are the pure
//!   pieces both sides share;
//! - [`sys`] holds the only unsafe code.

pub mod caps;
pub mod cases;
pub mod cgroup;
pub mod checker;
pub mod config;
pub mod driver;
pub mod probe;
pub mod procfs;
pub mod sys;
