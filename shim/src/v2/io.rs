//! A process's stdio as containerd hands it over: fifo paths (made by the
//! client, `ctr` or CRI) that the shim joins to the process's pipes or pty.
//!
//! - Output fifos are opened read-write: that never blocks, and the write
//!   end never sees EPIPE when the client goes away (a detached `ctr run`,
//!   or containerd restarting). When the process side reaches EOF the copy
//!   ends and the fifo is closed, which is the client's EOF.
//! - The stdin fifo is opened read-only non-blocking and polled: poll only
//!   reports a hangup after a writer has come and gone, so "no writer yet"
//!   waits while "the writer closed" ends the copy and closes the process's
//!   stdin, as does CloseIO.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::console::ConsoleSocket;
use crate::runtime::ProcessIo;

/// Small stacks: copy threads need a buffer and a few frames.
const COPY_STACK: usize = 64 * 1024;
const BUF: usize = 32 * 1024;

/// The fifo paths of one process ("" = not wanted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stdio {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// The shim's side of a live process's stdio.
#[derive(Debug, Default)]
pub struct Attached {
    /// Where bytes for the process's stdin go; `None` once closed.
    stdin: Arc<Mutex<Option<File>>>,
    /// The pty master, for resizes.
    pty: Option<File>,
    drained: Arc<Drained>,
}

/// Counts output copies still running.
#[derive(Debug, Default)]
struct Drained {
    left: Mutex<usize>,
    cv: Condvar,
}

impl Drained {
    fn add(&self) {
        *self.left.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }
    fn done(&self) {
        let mut n = self.left.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.cv.notify_all();
    }
}

impl Attached {
    /// CloseIO: the process reads EOF.
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        match &self.pty {
            Some(p) => crate::sys::set_winsize(p.as_fd(), rows, cols).map_err(io::Error::from),
            None => Ok(()),
        }
    }

    /// Waits (at most `limit`) until the outputs are copied to the end, so
    /// a waiter told of the exit has the output too.
    pub fn wait_drained(&self, limit: Duration) {
        let end = Instant::now() + limit;
        let mut n = self.drained.left.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            let now = Instant::now();
            if now >= end {
                return;
            }
            n = match self.drained.cv.wait_timeout(n, end - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// Before the runtime runs: what the runtime gets, and what the shim keeps
/// until the runtime has returned.
#[derive(Debug)]
pub enum Pending {
    Pipes(crate::stdio::ShimEnds),
    Console(ConsoleSocket),
}

/// Makes the pipes, or the console socket for a terminal (in `dir`, which
/// must be short enough for a socket path).
pub fn prepare(stdio: &Stdio, sock_dir: &Path, name: &str) -> io::Result<(ProcessIo, Pending)> {
    if stdio.terminal {
        let path = sock_dir.join(format!("berth-pty-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        return Ok((
            ProcessIo::default(),
            Pending::Console(ConsoleSocket::bind(&path)?),
        ));
    }
    let (proc_io, ends) = crate::stdio::pipes(!stdio.stdin.is_empty())?;
    Ok((proc_io, Pending::Pipes(ends)))
}

impl Pending {
    pub fn console_path(&self) -> Option<PathBuf> {
        match self {
            Pending::Console(c) => Some(c.path().to_path_buf()),
            Pending::Pipes(_) => None,
        }
    }

    /// After the runtime succeeded: joins the process to the fifos.
    pub fn attach(self, stdio: &Stdio) -> io::Result<Attached> {
        let drained = Arc::new(Drained::default());
        match self {
            Pending::Pipes(ends) => {
                let stdin = Arc::new(Mutex::new(ends.stdin.map(File::from)));
                if !stdio.stdin.is_empty() {
                    copy_in(&stdio.stdin, stdin.clone())?;
                }
                copy_out(ends.stdout, &stdio.stdout, drained.clone())?;
                copy_out(ends.stderr, &stdio.stderr, drained.clone())?;
                Ok(Attached {
                    stdin,
                    pty: None,
                    drained,
                })
            }
            Pending::Console(sock) => {
                let master = File::from(sock.receive_master()?);
                let out = master.try_clone()?;
                let input = master.try_clone()?;
                let stdin = Arc::new(Mutex::new(Some(input)));
                if !stdio.stdin.is_empty() {
                    copy_in(&stdio.stdin, stdin.clone())?;
                }
                copy_out(out.into(), &stdio.stdout, drained.clone())?;
                Ok(Attached {
                    stdin,
                    pty: Some(master),
                    drained,
                })
            }
        }
    }
}

/// Where an output goes: containerd passes a fifo path, or a URI when the
/// client asked for a log (`ctr run --log-uri file:///x`).
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Nowhere,
    Fifo(&'a str),
    File(&'a str),
}

fn target(s: &str) -> io::Result<Target<'_>> {
    if s.is_empty() {
        return Ok(Target::Nowhere);
    }
    match s.split_once("://") {
        None => Ok(Target::Fifo(s)),
        Some(("fifo", p)) => Ok(Target::Fifo(p)),
        Some(("file", p)) => Ok(Target::File(p)),
        Some((scheme, _)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{s}: {scheme}:// logging is not supported by this shim"),
        )),
    }
}

fn open_output(s: &str) -> io::Result<Option<File>> {
    match target(s)? {
        Target::Nowhere => Ok(None),
        Target::Fifo(p) => OpenOptions::new().read(true).write(true).open(p).map(Some),
        Target::File(p) => {
            if let Some(dir) = Path::new(p).parent() {
                std::fs::create_dir_all(dir)?;
            }
            OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .map(Some)
        }
    }
}

/// Process output -> fifo (or nowhere), until EOF (or EIO: a pty whose
/// last slave closed).
fn copy_out(from: OwnedFd, to: &str, drained: Arc<Drained>) -> io::Result<()> {
    let mut dest = open_output(to)?;
    let mut src = File::from(from);
    drained.add();
    thread::Builder::new()
        .name("stdout".into())
        .stack_size(COPY_STACK)
        .spawn(move || {
            let mut buf = vec![0u8; BUF];
            loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if let Some(d) = dest.as_mut() {
                    if d.write_all(&buf[..n]).is_err() {
                        // Keep draining so the process never blocks on us.
                        dest = None;
                    }
                }
            }
            drop(dest);
            drained.done();
        })?;
    Ok(())
}

/// fifo -> process stdin, until the fifo's writer hangs up.
fn copy_in(from: &str, to: Arc<Mutex<Option<File>>>) -> io::Result<()> {
    let from = match target(from)? {
        Target::Fifo(p) => p,
        // A log URI has no stdin.
        _ => return Ok(()),
    };
    let fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(from)?;
    thread::Builder::new()
        .name("stdin".into())
        .stack_size(COPY_STACK)
        .spawn(move || {
            let mut fifo = fifo;
            let mut buf = vec![0u8; BUF];
            loop {
                let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
                let n = match fifo.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let mut guard = to.lock().unwrap_or_else(|e| e.into_inner());
                match guard.as_mut() {
                    Some(w) => {
                        if w.write_all(&buf[..n]).is_err() {
                            guard.take();
                            break;
                        }
                    }
                    None => break,
                }
            }
            to.lock().unwrap_or_else(|e| e.into_inner()).take();
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(dir: &Path, name: &str) -> String {
        let p = dir.join(name);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        p.to_str().unwrap().to_string()
    }

    #[test]
    fn outputs_are_fifos_or_log_files() {
        assert_eq!(
            target("/run/f/1-stdout").unwrap(),
            Target::Fifo("/run/f/1-stdout")
        );
        assert_eq!(
            target("file:///var/log/c.log").unwrap(),
            Target::File("/var/log/c.log")
        );
        assert_eq!(target("").unwrap(), Target::Nowhere);
        assert!(target("binary:///usr/bin/logger").is_err());
    }

    #[test]
    fn output_and_stdin_flow_through_fifos_and_eof_closes_stdin() {
        let dir = std::env::temp_dir().join(format!("v2-io-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let stdio = Stdio {
            stdin: mkfifo(&dir, "in"),
            stdout: mkfifo(&dir, "out"),
            stderr: String::new(),
            terminal: false,
        };
        let (proc_io, pending) = prepare(&stdio, &dir, "t").unwrap();
        let attached = pending.attach(&stdio).unwrap();
        // The client's ends: it reads stdout and writes stdin (the shim
        // holds the output fifo open, so this open does not block).
        let mut client_out = File::open(&stdio.stdout).unwrap();
        let mut client_in = OpenOptions::new().write(true).open(&stdio.stdin).unwrap();
        // The "process": writes its output and reads its stdin.
        File::from(proc_io.stdout.unwrap())
            .write_all(b"hello")
            .unwrap();
        drop(proc_io.stderr);
        client_in.write_all(b"typed").unwrap();
        drop(client_in);
        let mut got = String::new();
        File::from(proc_io.stdin.unwrap())
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "typed", "stdin reaches the process, then EOF");
        attached.wait_drained(Duration::from_secs(5));
        let mut out = String::new();
        client_out.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
