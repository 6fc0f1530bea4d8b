//! The only place in imagectl with `unsafe`: thin safe wrappers over the
//! new mount API (fsopen, fsconfig, fsmount, move_mount), which nix does
//! not wrap. Used to mount overlayfs with one `lowerdir+` per layer, so
//! the number of layers is not limited by mount(2)'s one-page option
//! string (about 55 cache paths).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstring(p: &[u8]) -> io::Result<CString> {
    CString::new(p).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// A filesystem context being configured (an fsopen fd).
#[derive(Debug)]
pub struct FsContext {
    fd: OwnedFd,
}

impl FsContext {
    /// `fsopen(fstype, FSOPEN_CLOEXEC)`.
    pub fn open(fstype: &str) -> io::Result<FsContext> {
        let name = cstring(fstype.as_bytes())?;
        // SAFETY: `name` is a NUL-terminated string that outlives the call;
        // the flag is a plain integer. The return is a new fd or -1.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsopen,
                name.as_ptr(),
                libc::FSOPEN_CLOEXEC as libc::c_uint,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fsopen returned a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
        Ok(FsContext { fd })
    }

    /// `fsconfig(FSCONFIG_SET_STRING, key, value)`.
    pub fn set_string(&self, key: &str, value: &[u8]) -> io::Result<()> {
        let k = cstring(key.as_bytes())?;
        let v = cstring(value)?;
        self.config(libc::FSCONFIG_SET_STRING, Some(&k), Some(&v))
    }

    pub fn set_path(&self, key: &str, value: &Path) -> io::Result<()> {
        self.set_string(key, value.as_os_str().as_bytes())
    }

    fn config(
        &self,
        cmd: libc::c_uint,
        key: Option<&CStr>,
        value: Option<&CStr>,
    ) -> io::Result<()> {
        let kp = key.map_or(std::ptr::null(), |k| k.as_ptr());
        let vp = value.map_or(std::ptr::null(), |v| v.as_ptr());
        // SAFETY: the fd is an open fs context we own; key and value are
        // NUL-terminated strings (or NULL where the command takes none)
        // that outlive the call; aux is 0 as the string commands require.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                cmd,
                kp,
                vp,
                0 as libc::c_int,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(self.with_log(e));
        }
        Ok(())
    }

    /// The kernel's messages for this context ("e overlayfs: ..."), added
    /// to `e` so the user sees why a mount was refused.
    fn with_log(&self, e: io::Error) -> io::Error {
        let mut f = match self.fd.try_clone() {
            Ok(fd) => std::fs::File::from(fd),
            Err(_) => return e,
        };
        let mut msgs = Vec::new();
        let mut buf = [0u8; 1024];
        // Each read returns one message; ENODATA when there are no more.
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            msgs.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
        }
        if msgs.is_empty() {
            e
        } else {
            io::Error::new(e.kind(), format!("{e} ({})", msgs.join("; ")))
        }
    }

    /// `FSCONFIG_CMD_CREATE`, `fsmount`, then `move_mount` onto `target`.
    pub fn mount_at(self, target: &Path) -> io::Result<()> {
        self.config(libc::FSCONFIG_CMD_CREATE, None, None)?;
        // SAFETY: the fd is a configured fs context we own; flags are
        // plain integers. Returns a new mount fd or -1.
        let m = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.fd.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC as libc::c_uint,
                0 as libc::c_uint,
            )
        };
        if m < 0 {
            return Err(self.with_log(io::Error::last_os_error()));
        }
        // SAFETY: fsmount returned a fresh fd that nothing else owns.
        let mfd = unsafe { OwnedFd::from_raw_fd(m as i32) };
        let t = cstring(target.as_os_str().as_bytes())?;
        let empty = c"";
        // SAFETY: mfd is the detached mount we own; "" with
        // MOVE_MOUNT_F_EMPTY_PATH means mfd itself; `t` is a NUL-terminated
        // path that outlives the call, resolved from the cwd (AT_FDCWD).
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mfd.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
