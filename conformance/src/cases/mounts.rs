//! config.md mounts and config-linux.md rootfsPropagation: bind and rbind,
//! ro/nosuid/nodev/noexec (checked in mountinfo and by behaviour through the
//! probe files of every bind source), tmpfs data, and propagation types.

use nix::mount::MsFlags;
use serde_json::{json, Value};

use super::Case;
use crate::config::{ANN_BIND_MARKERS, ANN_EXPECT_MOUNTED, ANN_EXPECT_UNMOUNTED};
use crate::driver::bundle;
use crate::driver::ctx::{CaseResult, Ctx};
use crate::driver::host;
use crate::driver::spec;

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker_with_setup("mounts/bind-rw", super::unchanged, |c| {
            bind(c, "/mnt/rw", &["bind"])
        }),
        Case::checker_with_setup("mounts/bind-ro", super::unchanged, |c| {
            bind(c, "/mnt/ro", &["bind", "ro"])
        }),
        Case::checker_with_setup("mounts/bind-nosuid-nodev-noexec", super::unchanged, |c| {
            bind(c, "/mnt/locked", &["bind", "nosuid", "nodev", "noexec"])
        }),
        Case::checker_with_setup("mounts/rbind-includes-submounts", super::unchanged, |c| {
            submount(c, "rbind", ANN_EXPECT_MOUNTED)
        }),
        Case::checker_with_setup("mounts/bind-excludes-submounts", super::unchanged, |c| {
            submount(c, "bind", ANN_EXPECT_UNMOUNTED)
        }),
        Case::checker("mounts/tmpfs-size-mode", tmpfs),
        Case::checker_with_setup("mounts/propagation-rshared", super::unchanged, |c| {
            propagation(c, "rshared")
        }),
        Case::checker_with_setup("mounts/propagation-rslave", super::unchanged, |c| {
            propagation(c, "rslave")
        }),
        Case::checker_with_setup("mounts/propagation-rprivate", super::unchanged, |c| {
            propagation(c, "rprivate")
        }),
        Case::checker_with_setup("mounts/propagation-runbindable", super::unchanged, |c| {
            propagation(c, "runbindable")
        }),
        Case::checker("mounts/rootfs-propagation-private", |c| {
            c["linux"]["rootfsPropagation"] = json!("private")
        }),
        Case::checker("mounts/rootfs-propagation-shared", |c| {
            c["linux"]["rootfsPropagation"] = json!("shared")
        }),
    ]
}

fn add_mount(ctx: &mut Ctx, dest: &str, source: &str, options: &[&str]) -> CaseResult {
    // Pre-create the mount point: creating it is not what these cases test.
    bundle::mkdir(&ctx.bundle.in_rootfs(dest), 0o755)?;
    spec::push(
        &mut ctx.config["mounts"],
        json!({"destination": dest, "type": "bind", "source": source, "options": options}),
    );
    Ok(())
}

fn bind(ctx: &mut Ctx, dest: &str, options: &[&str]) -> CaseResult {
    let src = ctx
        .bundle
        .bind_source(&format!("src{}", dest.replace('/', "-")))?;
    add_mount(ctx, dest, &src.display().to_string(), options)?;
    spec::annotate(&mut ctx.config, ANN_BIND_MARKERS, dest);
    Ok(())
}

/// A bind source with a tmpfs mounted on its `sub` directory: rbind must carry
/// the tmpfs into the container, bind must not.
fn submount(ctx: &mut Ctx, how: &str, expectation: &str) -> CaseResult {
    let src = ctx.bundle.bind_source("src-submount")?;
    host::mount_tmpfs(&src.join("sub"))?;
    ctx.track_mount(src.join("sub"));
    let dest = format!("/mnt/{how}");
    add_mount(ctx, &dest, &src.display().to_string(), &[how])?;
    spec::annotate(&mut ctx.config, ANN_BIND_MARKERS, &dest);
    spec::annotate(&mut ctx.config, expectation, &format!("{dest}/sub"));
    Ok(())
}

fn tmpfs(config: &mut Value) {
    spec::push(
        &mut config["mounts"],
        json!({"destination": "/mnt/tmpfs", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "size=2m", "mode=1770"]}),
    );
}

/// The bind source is a shared host mount, so that a slave or private copy in
/// the container is distinguishable from a shared one in mountinfo.
fn propagation(ctx: &mut Ctx, how: &str) -> CaseResult {
    let src = ctx.bundle.dir.join(format!("src-{how}"));
    host::mount_tmpfs(&src)?;
    ctx.track_mount(src.clone());
    host::set_propagation(&src, MsFlags::MS_SHARED)?;
    let dest = format!("/mnt/{how}");
    add_mount(ctx, &dest, &src.display().to_string(), &["rbind", how])
}
