//! config.md process.apparmorProfile and process.selinuxLabel, and
//! config-linux.md mountLabel, on a host where the module is not enabled
//! (skipped where it is: these cases check the expected outcome there, not
//! confinement). Running unconfined when an AppArmor profile was asked for
//! would weaken the container silently, so create must fail and say why.
//! SELinux labels are ignored where SELinux is off, as crun does, so images
//! that carry labels run on such hosts; runc refuses them (see xfail.rs).

use std::path::Path;

use serde_json::{json, Value};

use super::Case;
use crate::driver::ctx::{ensure, CaseResult, Ctx, Verdict};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "lsm/apparmor-profile-without-apparmor-fails-create",
            mutate: |c| c["process"]["apparmorProfile"] = json!("berth-conformance-profile"),
            setup: Some(without_apparmor),
            run: super::Run::Host(apparmor_fails),
        },
        Case::checker_with_setup(
            "lsm/selinux-label-without-selinux-is-ignored",
            selinux_label,
            without_selinux,
        ),
        Case::checker_with_setup(
            "lsm/mount-label-without-selinux-is-ignored",
            mount_label,
            without_selinux,
        ),
    ]
}

fn selinux_label(config: &mut Value) {
    config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2");
}

fn mount_label(config: &mut Value) {
    config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
}

fn without_apparmor(_: &mut Ctx) -> CaseResult {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    if enabled && Path::new("/sys/kernel/security/apparmor").exists() {
        return Err(Verdict::Skip("AppArmor is enabled on this host".into()));
    }
    Ok(())
}

fn without_selinux(_: &mut Ctx) -> CaseResult {
    if Path::new("/sys/fs/selinux/enforce").exists() {
        return Err(Verdict::Skip("SELinux is enabled on this host".into()));
    }
    Ok(())
}

fn apparmor_fails(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    let err = match ctx.create() {
        Ok(_) => {
            return Err(Verdict::Fail(
                "create succeeded with an AppArmor profile on a host without AppArmor".into(),
            ))
        }
        Err(Verdict::Fail(e)) => e,
        Err(skip) => return Err(skip),
    };
    ensure(
        err.to_ascii_lowercase().contains("apparmor"),
        format!("the error does not say AppArmor is the cause: {err}"),
    )?;
    ensure(
        !ctx.rt.list()?.contains(&id),
        "the failed create left a container in list",
    )
}
