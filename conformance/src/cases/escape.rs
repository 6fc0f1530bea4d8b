//! Ways out of the container that a runtime must close, checked from inside
//! (the checker's isolation checks run in every case: descriptors, /dev
//! contents and mknod, masks that cannot be undone, the pid, network and
//! mount views of new namespaces). These cases add the setups that invite
//! an escape: descriptors the runtime's caller leaves open (a directory fd
//! of the host is how CVE-2024-21626 got out), a cwd and a mount destination
//! that are symlinks pointing out of the rootfs, which must resolve inside
//! it.

use std::os::unix::fs::symlink;
use std::path::Path;

use serde_json::json;

use super::{Case, Run};
use crate::config::{ANN_EXPECT_MOUNTED, ANN_PRESERVED_FDS, MARKER_CONTENT, MARKER_FILE};
use crate::driver::bundle;
use crate::driver::ctx::{ensure, CaseResult, Ctx, Verdict};
use crate::driver::runtime::CreateOpts;
use crate::driver::spec;
use crate::procfs;

pub fn cases() -> Vec<Case> {
    vec![
        Case::host(
            "escape/fds-only-stdio-and-preserved",
            |c| spec::annotate(c, ANN_PRESERVED_FDS, "1"),
            fds,
        ),
        Case::checker_with_setup(
            "escape/cwd-symlink-out-of-rootfs-resolves-inside",
            |c| c["process"]["cwd"] = json!("/escape"),
            cwd_link,
        ),
        Case {
            name: "escape/mount-destination-symlink-to-host-path-resolves-inside",
            mutate: super::unchanged,
            setup: Some(mount_link),
            run: Run::Host(mount_link_run),
        },
    ]
}

/// Passes one declared descriptor (`--preserve-fds 1`) and two undeclared
/// ones right after it: the bundle directory and a host file.
fn fds(ctx: &mut Ctx) -> CaseResult {
    let preserved = ctx.bundle.dir.join("preserved");
    bundle::write(&preserved, MARKER_CONTENT)?;
    let leaked = ctx.bundle.dir.join("leaked");
    bundle::write(&leaked, "host file\n")?;
    let opts = CreateOpts {
        preserve: vec![preserved],
        leak: vec![ctx.bundle.dir.clone(), leaked],
        ..Default::default()
    };
    ctx.run_checker_with(&opts)
}

/// `/escape` -> `../../../../../../../..`: resolved on the host from the
/// rootfs, that is the host's root; inside the container it is `/`.
fn cwd_link(ctx: &mut Ctx) -> CaseResult {
    let link = ctx.bundle.in_rootfs("/escape");
    symlink("../../../../../../../..", &link)
        .map_err(|e| Verdict::Fail(format!("symlink {}: {e}", link.display())))
}

/// The host directory a symlinked mount destination points at, by its
/// absolute host path.
fn host_target(ctx: &Ctx) -> String {
    ctx.bundle.dir.join("host-target").display().to_string()
}

/// `/mnt/escape` -> the absolute host path of a directory next to the
/// rootfs, with a tmpfs mounted on `/mnt/escape`. Inside the container that
/// path does not exist until the runtime creates it under the rootfs, which
/// is where the mount must land.
fn mount_link(ctx: &mut Ctx) -> CaseResult {
    let target = host_target(ctx);
    bundle::mkdir(Path::new(&target), 0o755)?;
    bundle::write(&Path::new(&target).join(MARKER_FILE), MARKER_CONTENT)?;
    let link = ctx.bundle.in_rootfs("/mnt/escape");
    symlink(&target, &link)
        .map_err(|e| Verdict::Fail(format!("symlink {}: {e}", link.display())))?;
    spec::push(
        &mut ctx.config["mounts"],
        json!({"destination": "/mnt/escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    spec::annotate(&mut ctx.config, ANN_EXPECT_MOUNTED, &target);
    Ok(())
}

/// Runs the checker (which finds the tmpfs at the in-rootfs path), then
/// looks at the host side: the host directory is untouched and unmounted,
/// and the mount point was made inside the rootfs.
fn mount_link_run(ctx: &mut Ctx) -> CaseResult {
    ctx.run_checker()?;
    let target = host_target(ctx);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Verdict::Fail(format!("reading the driver's mountinfo: {e}")))?;
    let mounts = procfs::parse_mountinfo(&mountinfo)
        .map_err(|e| Verdict::Fail(format!("parsing the driver's mountinfo: {e}")))?;
    ensure(
        procfs::mount_at(&mounts, &target).is_none(),
        format!("{target} is a mount point on the host"),
    )?;
    let entries: Vec<String> = std::fs::read_dir(&target)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ensure(
        entries == [MARKER_FILE],
        format!("the host directory {target} now holds {entries:?}"),
    )?;
    ensure(
        ctx.bundle.in_rootfs(&target).is_dir(),
        format!("the mount point was not created inside the rootfs at {target}"),
    )
}
