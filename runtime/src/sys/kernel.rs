//! The seam between container setup logic and the kernel.
//!
//! Code that mounts, pivots or enters namespaces takes `&impl Kernel`, so the
//! order and arguments of those calls can be unit-tested without root through
//! the recording fake (compiled only for tests).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::fs::MountAttr;

/// The syscalls container setup performs, as one mockable surface.
pub trait Kernel {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()>;
    fn mount_setattr(&self, target: BorrowedFd<'_>, attr: &MountAttr) -> io::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    fn chroot(&self, path: &Path) -> io::Result<()>;
    fn chdir(&self, path: &Path) -> io::Result<()>;
    fn fchdir(&self, dir: BorrowedFd<'_>) -> io::Result<()>;
    fn setns(&self, fd: BorrowedFd<'_>, nstype: CloneFlags) -> io::Result<()>;
    fn unshare(&self, flags: CloneFlags) -> io::Result<()>;
    fn sethostname(&self, name: &str) -> io::Result<()>;
    fn setdomainname(&self, name: &str) -> io::Result<()>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealKernel;

impl Kernel for RealKernel {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(io::Error::from)
    }
    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        nix::mount::umount2(target, flags).map_err(io::Error::from)
    }
    fn mount_setattr(&self, target: BorrowedFd<'_>, attr: &MountAttr) -> io::Result<()> {
        super::fs::mount_setattr_recursive(&target, attr)
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        nix::unistd::pivot_root(new_root, put_old).map_err(io::Error::from)
    }
    fn chroot(&self, path: &Path) -> io::Result<()> {
        nix::unistd::chroot(path).map_err(io::Error::from)
    }
    fn chdir(&self, path: &Path) -> io::Result<()> {
        nix::unistd::chdir(path).map_err(io::Error::from)
    }
    fn fchdir(&self, dir: BorrowedFd<'_>) -> io::Result<()> {
        nix::unistd::fchdir(dir).map_err(io::Error::from)
    }
    fn setns(&self, fd: BorrowedFd<'_>, nstype: CloneFlags) -> io::Result<()> {
        nix::sched::setns(fd.as_fd(), nstype).map_err(io::Error::from)
    }
    fn unshare(&self, flags: CloneFlags) -> io::Result<()> {
        nix::sched::unshare(flags).map_err(io::Error::from)
    }
    fn sethostname(&self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(io::Error::from)
    }
    fn setdomainname(&self, name: &str) -> io::Result<()> {
        super::fs::setdomainname(name)
    }
}

#[cfg(test)]
pub mod fake {
    //! A kernel that records every call as a line of text and succeeds.
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    pub struct FakeKernel {
        pub calls: RefCell<Vec<String>>,
    }

    impl FakeKernel {
        fn log(&self, s: String) -> io::Result<()> {
            self.calls.borrow_mut().push(s);
            Ok(())
        }
        pub fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl Kernel for FakeKernel {
        fn mount(
            &self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> io::Result<()> {
            self.log(format!(
                "mount {} {} {} {:?} {}",
                source
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "-".into()),
                target.display(),
                fstype.unwrap_or("-"),
                flags,
                data.unwrap_or("-")
            ))
        }
        fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
            self.log(format!("umount {} {:?}", target.display(), flags))
        }
        fn mount_setattr(&self, _target: BorrowedFd<'_>, attr: &MountAttr) -> io::Result<()> {
            self.log(format!(
                "mount_setattr set={:#x} clr={:#x} prop={:#x}",
                attr.attr_set, attr.attr_clr, attr.propagation
            ))
        }
        fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
            self.log(format!(
                "pivot_root {} {}",
                new_root.display(),
                put_old.display()
            ))
        }
        fn chroot(&self, path: &Path) -> io::Result<()> {
            self.log(format!("chroot {}", path.display()))
        }
        fn chdir(&self, path: &Path) -> io::Result<()> {
            self.log(format!("chdir {}", path.display()))
        }
        fn fchdir(&self, _dir: BorrowedFd<'_>) -> io::Result<()> {
            self.log("fchdir".to_string())
        }
        fn setns(&self, _fd: BorrowedFd<'_>, nstype: CloneFlags) -> io::Result<()> {
            self.log(format!("setns {:?}", nstype))
        }
        fn unshare(&self, flags: CloneFlags) -> io::Result<()> {
            self.log(format!("unshare {:?}", flags))
        }
        fn sethostname(&self, name: &str) -> io::Result<()> {
            self.log(format!("sethostname {name}"))
        }
        fn setdomainname(&self, name: &str) -> io::Result<()> {
            self.log(format!("setdomainname {name}"))
        }
    }
}
