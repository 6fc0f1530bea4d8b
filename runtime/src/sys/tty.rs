//! Terminal ioctls: controlling terminal, pty unlock and number, window size.

use std::io;
use std::os::fd::AsRawFd;

/// Makes `fd` the controlling terminal of the calling session leader.
pub fn set_controlling_terminal(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal) and touches no
    // memory of ours.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unlocks the pty master and returns its slave number (TIOCSPTLCK, TIOCGPTN).
pub fn unlock_pty(master: &impl AsRawFd) -> io::Result<u32> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which is valid.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which is
    // valid and writable.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n)
}

/// Reads the window size of a terminal.
pub fn get_winsize(fd: &impl AsRawFd) -> io::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one struct winsize through a valid pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ws)
}

/// Sets the window size of a terminal.
pub fn set_winsize(fd: &impl AsRawFd, ws: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize through a valid pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
