//! berth-shim: the standalone per-container monitor (see
//! `berth_shim::monitor`).

fn main() {
    std::process::exit(berth_shim::monitor::main());
}
