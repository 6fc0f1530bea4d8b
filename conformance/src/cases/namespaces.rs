//! config-linux.md namespaces: new namespaces differ from the host's, absent
//! ones are shared with it, and ones given by path are joined (the checker
//! compares /proc/self/ns inodes with the host facts the driver annotates).
//! Also the user namespace with multi-range uid/gid maps, and time offsets.

use std::time::Duration;

use serde_json::{json, Value};

use super::Case;
use crate::config::ANN_NS_PATH_INODES;
use crate::driver::ctx::{CaseResult, Ctx, Verdict};
use crate::driver::host;
use crate::driver::runtime::CreateOpts;
use crate::driver::spec;

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker("namespaces/default-set-is-new", super::unchanged),
        Case::checker("namespaces/cgroup-new", |c| {
            spec::set_namespace(c, "cgroup", None)
        }),
        Case::checker("namespaces/network-absent-is-host", |c| {
            spec::remove_namespace(c, "network")
        }),
        Case::checker_with_setup(
            "namespaces/join-network-by-path",
            super::unchanged,
            join_pinned_netns,
        ),
        Case::checker_with_setup(
            "namespaces/join-ipc-of-other-container",
            super::unchanged,
            join_other_container_ipc,
        ),
        Case::checker_with_setup("namespaces/user-multi-range-maps", user_ns, needs_userns),
        Case::checker_with_setup(
            "namespaces/user-non-root-process",
            |c| {
                user_ns(c);
                c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            },
            needs_userns,
        ),
        Case::checker_with_setup("namespaces/time-offsets", time_ns, needs_timens),
    ]
}

fn needs_userns(_: &mut Ctx) -> CaseResult {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    match max.trim() {
        "" | "0" => Err(Verdict::Skip(
            "this kernel allows no user namespaces".into(),
        )),
        _ => Ok(()),
    }
}

fn needs_timens(_: &mut Ctx) -> CaseResult {
    if std::path::Path::new("/proc/self/ns/time").exists() {
        Ok(())
    } else {
        Err(Verdict::Skip("this kernel has no time namespaces".into()))
    }
}

fn join_pinned_netns(ctx: &mut Ctx) -> CaseResult {
    let target = ctx.bundle.dir.join("netns");
    host::pin_new_netns(&target)?;
    ctx.track_mount(target.clone());
    let inode = host::inode_of(&target)?;
    spec::set_namespace(
        &mut ctx.config,
        "network",
        Some(&target.display().to_string()),
    );
    spec::annotate(&mut ctx.config, ANN_NS_PATH_INODES, &format!("net={inode}"));
    Ok(())
}

/// Starts a sleeping container from the same bundle and points the case's
/// config at its ipc namespace.
fn join_other_container_ipc(ctx: &mut Ctx) -> CaseResult {
    let main_config = ctx.config.clone();
    spec::set_script(&mut ctx.config, "while :; do sleep 1; done");
    let other = format!("{}-peer", ctx.id);
    ctx.create_as(&other, &CreateOpts::default())?;
    ctx.rt.start(&other)?;
    let pid = ctx.rt.state(&other)?["pid"]
        .as_i64()
        .ok_or_else(|| Verdict::Fail("peer state has no pid".into()))?;
    let path = format!("/proc/{pid}/ns/ipc");
    let inode = host::inode_of(std::path::Path::new(&path))?;
    ctx.config = main_config;
    spec::set_namespace(&mut ctx.config, "ipc", Some(&path));
    spec::annotate(&mut ctx.config, ANN_NS_PATH_INODES, &format!("ipc={inode}"));
    // The peer must still be there when the case's container joins it.
    ctx.wait_status(&other, "running", Duration::from_secs(2))
        .map(|_| ())
}

/// Two disjoint ranges for each map, so a runtime that only writes the first
/// line (or merges them) is caught. The cgroup mount is dropped because a
/// cgroup v1 tree cannot be mounted from inside a user namespace.
fn user_ns(config: &mut Value) {
    spec::set_namespace(config, "user", None);
    let maps = json!([
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 1000, "hostID": 200000, "size": 1000}
    ]);
    config["linux"]["uidMappings"] = maps.clone();
    config["linux"]["gidMappings"] = maps;
    if let Some(mounts) = config["mounts"].as_array_mut() {
        mounts.retain(|m| m["type"] != "cgroup");
    }
}

fn time_ns(config: &mut Value) {
    spec::set_namespace(config, "time", None);
    config["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 86400, "nanosecs": 0},
        "boottime": {"secs": 7200, "nanosecs": 500}
    });
}
