//! The monitor's one thread: a poll(2) loop over the container's output
//! (two pipes, or the pty master), its stdin, the attach and control
//! sockets and a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP).
//!
//! - Output goes to the CRI log and to every attach client.
//! - SIGCHLD: every exited child is reaped; the container's init ends the
//!   container. SIGTERM/SIGINT/SIGHUP are passed on to the init (we are its
//!   parent, so its pid cannot have been reused before we reap it).
//! - Once the init is reaped, output is drained until EOF on every pipe
//!   (EIO on a pty), at most [`DRAIN_TIMEOUT`] (a process outside the
//!   container's pid namespace may hold the pipe). Then, in order: the
//!   unfinished lines are logged as `P`, OOM kills read, `delete` run if
//!   asked, the exit files written, the sockets closed and removed.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use super::attach::{self, AttachServer, StdinSink, MAX_CHUNK};
use super::ctl::{CtlCommand, CtlServer};
use super::exitfile::{self, ExitRecord};
use super::logs::{CriLog, Stream};
use super::oom::OomWatch;
use super::plan::Plan;
use super::timefmt;
use crate::reaper::{reap_exited, Exit};
use crate::runtime::Direct;

/// How long output may still come after the init has exited.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// One output stream of the container.
#[derive(Debug)]
pub struct Output {
    stream: Stream,
    fd: Option<OwnedFd>,
}

impl Output {
    pub fn new(stream: Stream, fd: OwnedFd) -> io::Result<Self> {
        super::attach::set_nonblocking(fd.as_fd())?;
        Ok(Output {
            stream,
            fd: Some(fd),
        })
    }
}

/// A started container and everything the loop serves.
#[derive(Debug)]
pub struct Monitor {
    pub plan: Plan,
    pub init: i32,
    pub outputs: Vec<Output>,
    pub stdin: StdinSink,
    /// The pty master, kept for resizes.
    pub tty: Option<OwnedFd>,
    pub log: CriLog,
    pub attach: AttachServer,
    pub ctl: CtlServer,
    pub sig: SignalFd,
    pub oom: Option<OomWatch>,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Signal,
    Out(usize),
    Stdin,
    AttachListener,
    Attach(u64),
    CtlListener,
    Ctl(u64),
}

impl Monitor {
    pub fn init_pid(&self) -> i32 {
        self.init
    }

    /// Serves the container until it has exited, then records the exit.
    pub fn run(mut self) {
        let mut exited: Option<(Exit, String)> = None;
        let mut deadline: Option<Instant> = None;
        // A child that exited before the signalfd was read is reaped here.
        self.reap(&mut exited, &mut deadline);
        let mut ready: Vec<(Token, PollFlags)> = Vec::new();
        loop {
            let open = self.outputs.iter().any(|o| o.fd.is_some());
            if let Some(d) = deadline {
                if !open || Instant::now() >= d {
                    break;
                }
            }
            let timeout = match deadline {
                Some(d) => {
                    let ms = d.saturating_duration_since(Instant::now()).as_millis();
                    PollTimeout::from(ms.min(u16::MAX as u128) as u16)
                }
                None => PollTimeout::NONE,
            };
            self.wait(timeout, &mut ready);
            for &(token, revents) in &ready {
                self.dispatch(token, revents, &mut exited, &mut deadline);
            }
        }
        self.finish(exited);
    }

    /// One poll(2); fills `ready` with what fired.
    fn wait(&self, timeout: PollTimeout, ready: &mut Vec<(Token, PollFlags)>) {
        ready.clear();
        let mut tokens = Vec::new();
        let mut fds = Vec::new();
        let mut add = |t, fd, ev| {
            tokens.push(t);
            fds.push(PollFd::new(fd, ev));
        };
        add(Token::Signal, self.sig.as_fd(), PollFlags::POLLIN);
        for (i, o) in self.outputs.iter().enumerate() {
            if let Some(fd) = &o.fd {
                add(Token::Out(i), fd.as_fd(), PollFlags::POLLIN);
            }
        }
        if let Some(fd) = self.stdin.interest() {
            add(Token::Stdin, fd, PollFlags::POLLOUT);
        }
        add(
            Token::AttachListener,
            self.attach.listener(),
            PollFlags::POLLIN,
        );
        for (id, fd, ev) in self.attach.interests(&self.stdin) {
            add(Token::Attach(id), fd, ev);
        }
        add(Token::CtlListener, self.ctl.listener(), PollFlags::POLLIN);
        for (id, fd) in self.ctl.interests() {
            add(Token::Ctl(id), fd, PollFlags::POLLIN);
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return,
            Err(e) => {
                eprintln!("berth-shim: poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
        }
        for (t, f) in tokens.into_iter().zip(&fds) {
            let ev = f.revents().unwrap_or(PollFlags::empty());
            if !ev.is_empty() {
                ready.push((t, ev));
            }
        }
    }

    fn dispatch(
        &mut self,
        token: Token,
        revents: PollFlags,
        exited: &mut Option<(Exit, String)>,
        deadline: &mut Option<Instant>,
    ) {
        match token {
            Token::Signal => self.signals(exited, deadline),
            Token::Out(i) => self.read_output(i),
            Token::Stdin => self.stdin.flush(),
            Token::AttachListener => self.attach.accept(),
            Token::Attach(id) => self.attach.ready(id, revents, &mut self.stdin),
            Token::CtlListener => self.ctl.accept(),
            Token::Ctl(id) => {
                let (log, tty) = (&mut self.log, &self.tty);
                self.ctl.ready(id, |cmd| match cmd {
                    CtlCommand::Resize { rows, cols } => {
                        let tty = tty
                            .as_ref()
                            .ok_or("resize: the container has no terminal")?;
                        crate::sys::set_winsize(tty.as_fd(), rows, cols)
                            .map_err(|e| format!("resize: {e}"))
                    }
                    CtlCommand::Reopen => log.reopen().map_err(|e| e.to_string()),
                });
            }
        }
    }

    fn signals(&mut self, exited: &mut Option<(Exit, String)>, deadline: &mut Option<Instant>) {
        while let Ok(Some(info)) = self.sig.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == Signal::SIGCHLD as i32 {
                self.reap(exited, deadline);
            } else if exited.is_none() {
                if let Ok(s) = Signal::try_from(signo) {
                    let _ = kill(Pid::from_raw(self.init), s);
                }
            }
        }
    }

    fn reap(&mut self, exited: &mut Option<(Exit, String)>, deadline: &mut Option<Instant>) {
        for e in reap_exited() {
            if e.pid == self.init && exited.is_none() {
                *exited = Some((e, timefmt::now()));
                *deadline = Some(Instant::now() + DRAIN_TIMEOUT);
            }
        }
    }

    fn read_output(&mut self, i: usize) {
        let o = &mut self.outputs[i];
        let Some(fd) = &o.fd else { return };
        let mut buf = [0u8; MAX_CHUNK];
        let n = match nix::unistd::read(fd, &mut buf) {
            Ok(n) => n,
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => return,
            // EIO: every slave fd of the pty is closed.
            Err(_) => 0,
        };
        let stream = o.stream;
        if n == 0 {
            o.fd = None;
            if let Err(e) = self.log.finish(stream) {
                eprintln!("berth-shim: {e}");
            }
            return;
        }
        if let Err(e) = self.log.write(stream, &buf[..n]) {
            eprintln!("berth-shim: {e}");
        }
        let id = match stream {
            Stream::Stdout => attach::STDOUT,
            Stream::Stderr => attach::STDERR,
        };
        self.attach.broadcast(id, &buf[..n], &mut self.stdin);
    }

    fn finish(mut self, exited: Option<(Exit, String)>) {
        for o in &mut self.outputs {
            if o.fd.take().is_some() {
                if let Err(e) = self.log.finish(o.stream) {
                    eprintln!("berth-shim: {e}");
                }
            }
        }
        let Some((exit, finished_at)) = exited else {
            return;
        };
        let oom_killed = self.oom.as_ref().is_some_and(OomWatch::killed);
        if self.plan.delete_after_exit {
            if let Err(e) = self.plan.runtime.delete(&Direct, &self.plan.id, true) {
                eprintln!("berth-shim: {e}");
            }
        }
        let record = ExitRecord {
            pid: exit.pid,
            exit_code: exit.code,
            signal: exit.signal,
            finished_at,
            oom_killed,
        };
        if let Err(e) = exitfile::record(&self.plan.exit_file, &self.plan.exit_json, &record) {
            eprintln!("berth-shim: {e}");
        }
        self.attach.close();
        self.ctl.close();
    }
}
