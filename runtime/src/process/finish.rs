//! The last steps of every container process, shared by the init and by
//! `exec`: limits, LSM labels, user, capabilities, no_new_privs, seccomp,
//! umask and environment ([`Finish::setup`]), then the signal state, fd
//! hygiene and execve ([`Finish::exec`]). Runs single-threaded in the
//! child, already inside the container; never logs.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd, RawFd};

use nix::sys::signal::{SigSet, SigmaskHow};
use oci_spec::runtime::Process;

use super::init::{io, nix_io, InitError};
use super::sync::{Channel, ToParent};
use super::user;
use crate::caps::CapSets;

/// What a container process is finished with.
pub struct Finish<'a> {
    pub process: &'a Process,
    pub caps: Option<&'a CapSets>,
    pub seccomp: Option<&'a crate::seccomp::Compiled>,
    pub lsm: &'a crate::lsm::LsmPlan,
    /// Where a seccomp listener fd goes (the parent forwards it).
    pub chan: &'a Channel,
    /// The signal mask the process starts with: empty, whatever the
    /// caller had blocked (runc and crun do the same; a monitor that blocks
    /// TERM for itself must not pass that on to the container).
    pub sigmask: SigSet,
}

impl Finish<'_> {
    /// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, so it
    /// happens before the capabilities are dropped (runc's rule); with a
    /// listener, before the parent stops listening. Otherwise right before
    /// execve.
    fn install_early(&self) -> bool {
        self.seccomp.is_some_and(|s| {
            !self.process.no_new_privileges().unwrap_or(false) || s.listener.is_some()
        })
    }

    fn install_seccomp(&self, filter: &crate::seccomp::Compiled) -> Result<(), InitError> {
        let listener = crate::sys::seccomp::install(&filter.sock_filters(), filter.flags)
            .map_err(io("linux.seccomp: install filter"))?;
        if let Some(fd) = listener {
            self.chan
                .send_with_fd(&ToParent::SeccompListener, fd.as_fd())
                .map_err(io("sync"))?;
        }
        Ok(())
    }

    /// Limits, cwd, user, capabilities, no_new_privs, umask; then checks the
    /// program exists and builds argv and envp.
    pub fn setup(&self, cwd_fd: &OwnedFd) -> Result<(Vec<CString>, Vec<CString>), InitError> {
        let process = self.process;
        crate::rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
        let nnp = process.no_new_privileges().unwrap_or(false);
        let early = self.seccomp.filter(|_| self.install_early());
        if let Some(filter) = early.filter(|_| !nnp) {
            self.install_seccomp(filter)?;
        }
        if let Some(caps) = self.caps {
            crate::caps::drop_bounding(caps)?;
        }
        crate::lsm::apply(self.lsm).map_err(io("set LSM exec attributes"))?;
        let cwd = process.cwd();
        // As root first (the user may lack search rights on a parent), again
        // as the user if that failed.
        let early_chdir = nix::unistd::fchdir(cwd_fd);
        let u = process.user();
        user::switch(
            u.uid(),
            u.gid(),
            u.additional_gids().as_deref().unwrap_or_default(),
        )?;
        // The uid change may have made us dumpable again (fs.suid_dumpable).
        nix::sys::prctl::set_dumpable(false).map_err(nix_io("set non-dumpable"))?;
        if early_chdir.is_err() {
            nix::unistd::fchdir(cwd_fd)
                .map_err(nix_io(format!("process.cwd: chdir {}", cwd.display())))?;
        }
        if let Some(caps) = self.caps {
            crate::caps::apply_process_sets(caps)?;
        }
        if nnp {
            nix::sys::prctl::set_no_new_privs().map_err(nix_io("set no_new_privs"))?;
            if let Some(filter) = early {
                self.install_seccomp(filter)?;
            }
        }
        user::set_umask(u.umask());
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            env.push(format!("HOME={}", user::home_of(u.uid(), &passwd)));
        }
        let args = process.args().as_deref().unwrap_or_default();
        if args.is_empty() {
            return Err(io("process.args")(std::io::Error::other(
                "no program given",
            )));
        }
        // Checked now so that create fails on a missing program; resolved
        // again right before execve, once stray fds are closed.
        user::find_program(&args[0], &env)?;
        Ok((cstrings(args)?, cstrings(&env)?))
    }

    /// Restores the signal state, closes (not just marks) every fd but
    /// stdio, `preserve_fds` and `keep`, resolves the program (a path
    /// through /proc/self/fd can no longer lead out of the container),
    /// installs a late seccomp filter and execs.
    pub fn exec(
        &self,
        argv: &[CString],
        envp: &[CString],
        preserve_fds: u32,
        keep: &[RawFd],
    ) -> Result<Infallible, InitError> {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.sigmask), None)
            .map_err(nix_io("restore signal mask"))?;
        crate::sys::fs::default_signal_dispositions().map_err(io("reset signal dispositions"))?;
        crate::sys::fs::close_from_except(3 + preserve_fds, keep)
            .map_err(io("close inherited fds"))?;
        crate::sys::fs::cloexec_from(3 + preserve_fds).map_err(io("close inherited fds"))?;
        let program = user::find_program(
            &argv[0].to_string_lossy(),
            &self.process.env().clone().unwrap_or_default(),
        )?;
        if let Some(filter) = self.seccomp.filter(|_| !self.install_early()) {
            // As late as possible: the only syscall left to filter is execve.
            self.install_seccomp(filter)?;
        }
        let err = nix::unistd::execve(&program, argv, envp).unwrap_err();
        Err(user::UserError::NotExecutable {
            path: program.to_string_lossy().into_owned(),
            source: err,
        }
        .into())
    }
}

fn cstrings(v: &[String]) -> Result<Vec<CString>, InitError> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| io("process")(std::io::Error::other(format!("{s:?} contains NUL"))))
        })
        .collect()
}
