//! `berth-check`: the in-container checker. Reads the bundle's config.json
//! (copied to /conformance/config.json, or the path in `BERTH_CHECK_CONFIG`),
//! prints one JSON line per check and a final `{"done":..}` line, and exits 0
//! iff every check passed.
//!
//! The config path is taken from the environment rather than argv because argv
//! is itself under test (`process.args` must match exactly).

use std::io::Write;
use std::process::ExitCode;

use berth_conformance::checker::{cgroups, Check, Observer};
use berth_conformance::config::{Spec, CONFIG_IN_ROOTFS};

fn main() -> ExitCode {
    let path = std::env::var("BERTH_CHECK_CONFIG").unwrap_or_else(|_| CONFIG_IN_ROOTFS.to_string());
    let spec: Spec = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(spec) => spec,
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({"name": "config", "ok": false, "expected": path, "actual": e})
            );
            return ExitCode::FAILURE;
        }
    };
    let obs = Observer::new(spec);
    // Blocked before the first pass, so a SIGUSR1 sent as soon as the ready
    // file appears is never lost.
    let update = cgroups::wants_update(&obs).then(cgroups::block_usr1);
    let mut checks = obs.run_all();
    match update {
        Some(Ok(set)) => {
            let signal = cgroups::wait_for_update(&set);
            let got = signal.ok;
            checks.push(signal);
            if got {
                cgroups::after_update_checks(&obs, &mut checks);
            }
        }
        Some(Err(e)) => checks.push(Check::error("cgroup.update-signal", "SIGUSR1", e)),
        None => {}
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let mut stdout = std::io::stdout().lock();
    for c in &checks {
        let line = serde_json::to_string(c).unwrap_or_else(|e| {
            format!(
                "{{\"name\":\"{}\",\"ok\":false,\"actual\":\"{e}\"}}",
                c.name
            )
        });
        let _ = writeln!(stdout, "{line}");
    }
    let _ = writeln!(
        stdout,
        "{}",
        serde_json::json!({"done": true, "passed": checks.len() - failed, "failed": failed})
    );
    let _ = stdout.flush();
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
