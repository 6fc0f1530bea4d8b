//! Loading a device program and attaching it to a cgroup2 directory in
//! place of the one berth attached there before, so that the cgroup is never
//! without one: the new program is attached with BPF_F_REPLACE over the old
//! one (atomic), or, when there is not exactly one old program or the kernel
//! lacks BPF_F_REPLACE, attached alongside (BPF_F_ALLOW_MULTI) before the old
//! ones are detached. While both run a device must pass both, so the
//! overlap can only deny more, never allow more.
//!
//! berth's programs are told apart by their name; programs others attached
//! (systemd, or a container limiting itself further) are left alone: an
//! extra device program can only take access away.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::cgroups::{io_err, CgroupError};
use crate::sys::bpf::{self, Insn, BPF_F_ALLOW_MULTI, BPF_F_REPLACE};

/// The name berth loads its device programs with (the kernel keeps 15
/// bytes).
pub(crate) const PROG_NAME: &str = "berth_devices";

/// Loads `prog` and makes it the cgroup's berth device program.
pub(crate) fn install(dir: &Path, prog: &[Insn]) -> Result<(), CgroupError> {
    let cgroup = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(io_err("open", dir))?;
    let new =
        bpf::load_cgroup_device(prog, c"Apache", PROG_NAME).map_err(|e| CgroupError::Field {
            field: "linux.resources.devices".into(),
            reason: format!(
                "loading the device eBPF program ({} instructions) into the kernel: {}{}",
                prog.len(),
                e.error,
                match e.log.is_empty() {
                    true => String::new(),
                    false => format!("; verifier log:\n{}", e.log),
                }
            ),
        })?;
    let old = attached(cgroup.as_fd(), dir)?;
    if let [one] = old.as_slice() {
        let replace = bpf::attach(
            cgroup.as_fd(),
            new.as_fd(),
            BPF_F_ALLOW_MULTI | BPF_F_REPLACE,
            Some(one.as_fd()),
        );
        match replace {
            Ok(()) => return Ok(()),
            // No BPF_F_REPLACE in this kernel, or the old program went away
            // meanwhile: attach alongside instead.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {}
            Err(e) => return Err(io_err("attach device eBPF program (replace) to", dir)(e)),
        }
    }
    bpf::attach(cgroup.as_fd(), new.as_fd(), BPF_F_ALLOW_MULTI, None)
        .map_err(io_err("attach device eBPF program to", dir))?;
    for p in &old {
        match bpf::detach(cgroup.as_fd(), p.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(io_err("detach old device eBPF program from", dir)(e)),
        }
    }
    Ok(())
}

/// berth's device programs attached directly to the cgroup.
pub(crate) fn attached(
    cgroup: std::os::fd::BorrowedFd<'_>,
    dir: &Path,
) -> Result<Vec<OwnedFd>, CgroupError> {
    let ids = bpf::query(cgroup).map_err(io_err("query device eBPF programs of", dir))?;
    let mut out = Vec::new();
    for id in ids {
        let fd = match bpf::prog_fd_by_id(id) {
            Ok(fd) => fd,
            // Gone since the query, or hidden from us by an LSM: not ours
            // to replace either way.
            Err(e) if skippable(&e) => continue,
            Err(e) => return Err(io_err("open device eBPF program of", dir)(e)),
        };
        match bpf::prog_name(&fd) {
            Ok(name) if name == PROG_NAME => out.push(fd),
            Ok(_) => {}
            Err(e) if skippable(&e) => {}
            Err(e) => return Err(io_err("read device eBPF program info of", dir)(e)),
        }
    }
    Ok(out)
}

fn skippable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::EPERM | libc::EACCES)
    )
}
