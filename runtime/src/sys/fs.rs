//! Filesystem syscalls nix lacks: openat2 (RESOLVE_IN_ROOT), mount_setattr
//! (recursive mount attributes), close_range, setdomainname.

use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// `struct open_how` from linux/openat2.h.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): opens `path` relative to `dirfd` with `resolve` restrictions.
pub fn openat2(
    dirfd: &impl AsRawFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: `c` is a NUL-terminated string and `how` a fully initialised
        // open_how, both alive for the call; the size passed matches.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                size_of::<OpenHow>(),
            )
        };
        if ret >= 0 {
            // SAFETY: a non-negative return is a new fd that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) });
        }
        let err = io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced the RESOLVE_IN_ROOT walk; retry.
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
    }
}

/// `struct mount_attr` from linux/mount.h.
#[repr(C)]
#[derive(Default)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// mount_setattr(2) with AT_RECURSIVE on the mount at `fd` itself.
pub fn mount_setattr_recursive(fd: &impl AsRawFd, attr: &MountAttr) -> io::Result<()> {
    let empty = c"";
    // SAFETY: `empty` is a static NUL-terminated string, `attr` a fully
    // initialised mount_attr alive for the call, and the size matches it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Marks every fd from `first` upwards close-on-exec (close_range(2)).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on fds
    // this process owns; it invalidates no Rust-held descriptor.
    let ret = unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// setdomainname(2).
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the live bytes of `name`.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of a descriptor the kernel just installed for us through
/// SCM_RIGHTS.
pub fn own_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was created by recvmsg in this process a moment ago and has
    // not been wrapped by anything else, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Ends the process at once, without atexit handlers or stdio flushing: the
/// child after clone must not flush buffers it inherited from the launcher.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Joins (creating if needed) the session keyring `name`; returns its serial.
pub fn join_session_keyring(name: &str) -> io::Result<i32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "keyring name contains NUL"))?;
    // SAFETY: `c` is a NUL-terminated string alive for the call; keyctl reads it only.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret as i32)
}

/// The permission mask of a key (from KEYCTL_DESCRIBE: "type;uid;gid;perm;desc").
pub fn key_perm(serial: i32) -> io::Result<u32> {
    let mut buf = [0u8; 512];
    // SAFETY: the pointer and length describe `buf`, which the kernel fills.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let text = String::from_utf8_lossy(&buf[..(ret as usize).min(buf.len())]);
    text.split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p.trim_end_matches('\0'), 16).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable key description"))
}

/// Sets the permission mask of a key.
pub fn set_key_perm(serial: i32, perm: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Closes every fd from `first` upwards except those in `keep`: directories
/// inherited from the caller must not be reachable through /proc/self/fd
/// while execve resolves the program path (close-on-exec acts too late).
pub fn close_from_except(first: u32, keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&fd| fd >= first as RawFd)
        .map(|&fd| fd as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut start = first;
    for k in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if k > start {
            let last = if k == u32::MAX { u32::MAX } else { k - 1 };
            // SAFETY: the range holds only fds this process owns and that no
            // live Rust object will use again: the init execs or _exits next,
            // and every fd it still needs is in `keep`.
            if unsafe { libc::close_range(start, last, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        start = k.saturating_add(1);
    }
    Ok(())
}

/// The kernel's `struct sigaction` on x86_64 (as rt_sigaction takes it).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Resets every signal's disposition to the default. Rust's runtime ignores
/// SIGPIPE at startup, a caller may have ignored others, and an ignored
/// signal survives execve: the container starts clean, as under runc. The
/// raw syscall is used because glibc's sigaction() refuses its internal
/// signals (32, 33).
pub fn default_signal_dispositions() -> io::Result<()> {
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `act` is a valid kernel sigaction for the call, the old
        // action is not requested, and SIG_DFL installs no code of ours.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &act as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
