//! The container's stdio when it has no terminal: one pipe per stream.
//! The container side goes to the runtime (which hands it on to the
//! process); the shim keeps the other ends.

use std::io;
use std::os::fd::OwnedFd;

use crate::runtime::ProcessIo;

/// The shim's ends: it writes the container's stdin and reads its output.
#[derive(Debug)]
pub struct ShimEnds {
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Makes the pipes; `stdin` false gives the process /dev/null instead.
/// All ends are close-on-exec: the runtime gets its three by dup2.
pub fn pipes(stdin: bool) -> io::Result<(ProcessIo, ShimEnds)> {
    let (in_r, in_w) = if stdin {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        (Some(r), Some(w))
    } else {
        (Some(std::fs::File::open("/dev/null")?.into()), None)
    };
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((
        ProcessIo {
            stdin: in_r,
            stdout: Some(out_w),
            stderr: Some(err_w),
        },
        ShimEnds {
            stdin: in_w,
            stdout: out_r,
            stderr: err_r,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn bytes_written_on_the_container_side_reach_the_shim() {
        let (c, s) = pipes(true).unwrap();
        std::fs::File::from(c.stdout.unwrap())
            .write_all(b"out")
            .unwrap();
        let mut buf = String::new();
        std::fs::File::from(s.stdout)
            .read_to_string(&mut buf)
            .unwrap();
        assert_eq!(buf, "out");
        std::fs::File::from(s.stdin.unwrap())
            .write_all(b"in")
            .unwrap();
        let mut buf = String::new();
        std::fs::File::from(c.stdin.unwrap())
            .read_to_string(&mut buf)
            .unwrap();
        assert_eq!(buf, "in");
    }

    #[test]
    fn without_stdin_the_process_reads_dev_null() {
        let (c, s) = pipes(false).unwrap();
        assert!(s.stdin.is_none());
        let mut buf = Vec::new();
        std::fs::File::from(c.stdin.unwrap())
            .read_to_end(&mut buf)
            .unwrap();
        assert!(buf.is_empty());
    }
}
