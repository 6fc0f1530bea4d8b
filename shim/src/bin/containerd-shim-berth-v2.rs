//! containerd-shim-berth-v2: containerd's runtime v2 shim for berth (and
//! any runc-compatible runtime, chosen with BinaryName).

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(berth_shim::v2::main(&argv));
}
