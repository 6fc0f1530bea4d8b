//! imagectl: the daemonless image manager (store, registry, unpack, build).
//!
//! Skeleton only; the image manager arrives with its own issues.

fn main() {
    eprintln!("imagectl: not implemented yet");
    std::process::exit(1);
}
