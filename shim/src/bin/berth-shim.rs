//! berth-shim: the standalone per-container monitor.

fn main() {
    eprintln!("berth-shim: not implemented yet");
    std::process::exit(1);
}
