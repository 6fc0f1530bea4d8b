//! Runs the whole suite against a real runtime, but only when asked:
//! `BERTH_CONFORMANCE_RUNTIME=/usr/sbin/runc cargo test -p berth-conformance --test against_runtime`
//! (as root). `BERTH_CONFORMANCE_CHECKER` may name a prebuilt static checker;
//! otherwise build-checker.sh builds one. `BERTH_CONFORMANCE_FILTER` narrows
//! the cases. Without `BERTH_CONFORMANCE_RUNTIME` the test returns at once.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn suite_passes_against_the_configured_runtime() {
    let Some(runtime) = std::env::var_os("BERTH_CONFORMANCE_RUNTIME") else {
        eprintln!("BERTH_CONFORMANCE_RUNTIME is not set; not running the suite");
        return;
    };
    let checker = match std::env::var_os("BERTH_CONFORMANCE_CHECKER") {
        Some(c) => PathBuf::from(c),
        None => build_checker(),
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth-conformance"));
    cmd.arg("--runtime")
        .arg(&runtime)
        .arg("--checker")
        .arg(&checker);
    if let Some(filter) = std::env::var_os("BERTH_CONFORMANCE_FILTER") {
        cmd.arg("--filter").arg(filter);
    }
    let out = cmd.output().expect("running berth-conformance");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}{}", String::from_utf8_lossy(&out.stderr));
    let summary = report.lines().last().unwrap_or("");
    assert!(
        summary.ends_with("skipped") && summary.contains(" passed, "),
        "no summary line: {summary:?}"
    );
    assert!(
        out.status.success(),
        "conformance failures against {}: {summary}",
        PathBuf::from(&runtime).display()
    );
}

fn build_checker() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/build-checker.sh");
    let out = Command::new("sh")
        .arg(script)
        .output()
        .expect("running build-checker.sh");
    assert!(
        out.status.success(),
        "build-checker.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
