//! The rest of config.md / config-linux.md: hostname and domainname, sysctl,
//! a read-only root, maskedPaths and readonlyPaths on files and directories
//! of the rootfs, and tolerance of unknown fields and annotations.

use serde_json::{json, Value};

use super::Case;
use crate::driver::ctx::{CaseResult, Ctx, Verdict};
use crate::driver::spec;

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker("uts/hostname", |c| {
            c["hostname"] = json!("berth-conformance")
        }),
        Case::checker("uts/domainname", |c| {
            c["domainname"] = json!("berth.example")
        }),
        Case::checker("sysctl/namespaced-keys", sysctl),
        Case::checker("root/readonly", |c| c["root"]["readonly"] = json!(true)),
        Case::checker_with_setup("paths/masked-and-readonly-in-rootfs", paths, paths_setup),
        Case::checker("config/unknown-fields-and-annotations", unknown_fields),
    ]
}

/// Keys from the net and ipc namespaces the container owns.
fn sysctl(config: &mut Value) {
    config["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "net.ipv4.ip_local_port_range": "20000 30000",
        "kernel.shm_rmid_forced": "1",
        "kernel.msgmax": "4096",
    });
}

fn paths(config: &mut Value) {
    spec::push(&mut config["linux"]["maskedPaths"], json!("/etc/secret"));
    spec::push(
        &mut config["linux"]["maskedPaths"],
        json!("/var/secret-dir"),
    );
    spec::push(&mut config["linux"]["readonlyPaths"], json!("/var/ro-dir"));
    spec::push(&mut config["linux"]["readonlyPaths"], json!("/etc/ro-file"));
    spec::push(
        &mut config["linux"]["maskedPaths"],
        json!("/does/not/exist"),
    );
}

/// Gives every masked and read-only path real content to hide or protect.
fn paths_setup(ctx: &mut Ctx) -> CaseResult {
    let write = |path: &str, text: &str| -> CaseResult {
        let host = ctx.bundle.in_rootfs(path);
        std::fs::create_dir_all(host.parent().unwrap_or(&host))
            .and_then(|_| std::fs::write(&host, text))
            .map_err(|e| Verdict::Fail(format!("{}: {e}", host.display())))
    };
    write("/etc/secret", "top secret\n")?;
    write("/var/secret-dir/inside", "hidden\n")?;
    write("/var/ro-dir/file", "data\n")?;
    write("/etc/ro-file", "data\n")
}

fn unknown_fields(config: &mut Value) {
    config["berthUnknownTopLevel"] = json!({"nested": [1, 2, 3]});
    config["process"]["berthUnknownProcessField"] = json!(true);
    config["linux"]["berthUnknownLinuxField"] = json!("x");
    config["mounts"][0]["berthUnknownMountField"] = json!(1);
    spec::annotate(config, "org.example.unknown/annotation", "anything");
    spec::annotate(config, "io.kubernetes.cri.sandbox-id", "0123456789abcdef");
}
