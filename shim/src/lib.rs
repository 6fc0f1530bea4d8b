//! berth-shim: what keeps a container's stdio and exit status after its
//! caller has gone.
//!
//! The shim drives any runc-compatible runtime through its command line
//! ([`runtime`]), never through berth's internals, so runc and crun work
//! under it too. Two faces share the pieces below:
//! - [`monitor`]: the standalone monitor (conmon's role): detach, create and
//!   start the container, keep its stdio, CRI logs, attach, exit file.
//! - [`v2`]: containerd's runtime v2 shim (`containerd-shim-berth-v2`).
//!
//! Shared pieces: [`runtime`] (the runtime CLI), [`stdio`] (pipes for the
//! container), [`console`] (receiving a pty master), [`reaper`] (subreaper
//! and exit statuses). `unsafe` lives only in [`sys`].

pub mod console;
pub mod fsutil;
pub mod reaper;
pub mod runtime;
pub mod stdio;
pub mod sys;

pub mod monitor;
pub mod v2;
