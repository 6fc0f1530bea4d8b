//! seccomp(2): installing a compiled filter, and the user-notification
//! ioctls a seccomp agent uses to answer SCMP_ACT_NOTIFY syscalls.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One cBPF instruction (`struct sock_filter`).
pub type Insn = libc::sock_filter;

/// Installs `prog` on the calling thread with `flags` (SECCOMP_FILTER_FLAG_*).
/// With SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel hands back the
/// notification fd, returned here.
pub fn install(prog: &[Insn], flags: u32) -> io::Result<Option<OwnedFd>> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel
    // copies the program and does not write through the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 != 0 {
        // SAFETY: with NEW_LISTENER a non-negative return is a new fd that
        // nothing else owns.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }));
    }
    Ok(None)
}

/// Whether the kernel knows the return action `action` (SECCOMP_RET_*).
pub fn action_available(action: u32) -> bool {
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from the pointer, which
    // is a live local.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &action as *const u32,
        ) == 0
    }
}

/// A syscall some filtered process is blocked in, waiting for our answer.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// Blocks until the next notification on `listener`.
pub fn notif_recv(listener: &impl AsRawFd) -> io::Result<Notification> {
    // SAFETY: all-zero is a valid seccomp_notif (plain integers), and the
    // kernel requires it zeroed before RECV.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: RECV writes one seccomp_notif into `n`, which is live and
        // of the size the ioctl number encodes.
        let ret = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        if ret == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    })
}

/// How to finish a notified syscall.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// Fail it with this errno.
    Error(i32),
    /// Pretend it returned this value.
    Value(i64),
    /// Let the kernel run it after all.
    Continue,
}

pub fn notif_send(listener: &impl AsRawFd, id: u64, answer: Answer) -> io::Result<()> {
    let (val, error, flags) = match answer {
        Answer::Error(e) => (0, -e, 0),
        Answer::Value(v) => (v, 0, 0),
        Answer::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
    };
    let resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: SEND reads one seccomp_notif_resp from a live local.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND as _,
            &resp as *const libc::seccomp_notif_resp,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this kernel accepts SECCOMP_FILTER_FLAG_* `flag`: asked with a
/// null program, a known flag fails on the pointer (EFAULT), an unknown one
/// on the flags (EINVAL).
pub fn flag_supported(flag: u32) -> bool {
    // SAFETY: a null program pointer makes the kernel fail with EFAULT after
    // it checked the flags; nothing is installed and nothing is written.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flag),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}
