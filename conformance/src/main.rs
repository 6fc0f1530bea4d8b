//! `berth-conformance`: runs the OCI runtime-spec conformance cases against a
//! runc-compatible runtime binary and prints one line per case plus a closing
//! `N passed, N failed, N skipped` line. Exits non-zero if any case failed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use berth_conformance::driver::{self, Options};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "OCI runtime-spec conformance suite for runc-compatible runtimes"
)]
struct Args {
    /// Runtime binary to test (runc, crun, berth, ...).
    #[arg(long)]
    runtime: PathBuf,
    /// Static in-container checker; default: `berth-check-static`, else
    /// `berth-check`, next to this binary.
    #[arg(long)]
    checker: Option<PathBuf>,
    /// busybox-static binary the rootfs is built from.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// Only run cases whose name contains this substring.
    #[arg(long)]
    filter: Option<String>,
    /// Keep the bundles (containers are still deleted).
    #[arg(long)]
    keep: bool,
    /// Directory for the run's temp dir (default: the system temp dir).
    #[arg(long)]
    root: Option<PathBuf>,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("berth-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<bool> {
    let args = Args::parse();
    let checker = match args.checker {
        Some(c) => c,
        None => default_checker()?,
    };
    let opts = Options {
        runtime: args.runtime,
        checker,
        busybox: args.busybox,
        filter: args.filter,
        keep: args.keep,
        root: args.root,
    };
    let summary = driver::run(&opts, &mut std::io::stdout().lock())?;
    Ok(summary.failed == 0)
}

/// `berth-check-static` (what build-checker.sh leaves) or `berth-check` next
/// to this binary.
fn default_checker() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let static_one = exe.with_file_name("berth-check-static");
    Ok(if static_one.exists() {
        static_one
    } else {
        exe.with_file_name("berth-check")
    })
}
