//! berth-shim: the per-container monitor (stdio, logs, attach, exit status).
//!
//! Skeleton only; the monitor arrives with its own issue.

fn main() {
    eprintln!("berth-shim: not implemented yet");
    std::process::exit(1);
}
