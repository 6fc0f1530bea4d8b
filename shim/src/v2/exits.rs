//! Reaper dispatch: one thread reaps every child (`waitpid(-1)`, the shim
//! is a subreaper) and hands each exit to whoever is waiting for it. The
//! runtime CLI calls are children too, so they must get their status from
//! here: [`Monitor`] is the [`Launcher`] that registers a command's pid
//! before the reaper can see it exit (the spawn happens under the lock the
//! reaper takes to dispatch). Every other exit (container inits, execs,
//! orphans reparented to us) goes to the sink the service installed.
//! containerd's Go shim solves the same race with its reaper "Monitor".

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{SigSet, Signal};

use crate::reaper::{reap_exited, Exit};
use crate::runtime::Launcher;

type Sink = Box<dyn Fn(Exit) + Send + Sync>;

pub struct Monitor {
    /// Runtime commands in flight: pid -> where its exit goes.
    commands: Mutex<HashMap<i32, mpsc::Sender<Exit>>>,
    sink: Sink,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

/// Blocks SIGCHLD in the calling thread, so that threads spawned after it
/// inherit the mask and only the reaper's `sigwait` sees the signal. Call
/// first thing in `main`, before any thread exists.
pub fn block_sigchld() -> nix::Result<()> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.thread_block()
}

impl Monitor {
    /// Starts the reaper thread. `sink` gets every exit that is not a
    /// runtime command's; it runs on the reaper thread, so it must not
    /// block on anything a runtime command holds.
    pub fn start(sink: impl Fn(Exit) + Send + Sync + 'static) -> io::Result<Arc<Monitor>> {
        let m = Arc::new(Monitor::with_sink(sink));
        let mut set = SigSet::empty();
        set.add(Signal::SIGCHLD);
        let reaper = m.clone();
        std::thread::Builder::new()
            .name("reaper".into())
            .stack_size(64 * 1024)
            .spawn(move || loop {
                // Coalesced signals are fine: each wakeup reaps all.
                let _ = set.wait();
                reaper.dispatch(reap_exited());
            })?;
        Ok(m)
    }

    /// The dispatch table alone, without the reaper thread.
    fn with_sink(sink: impl Fn(Exit) + Send + Sync + 'static) -> Monitor {
        Monitor {
            commands: Mutex::new(HashMap::new()),
            sink: Box::new(sink),
        }
    }

    fn dispatch(&self, exits: Vec<Exit>) {
        let mut others = Vec::new();
        {
            let mut cmds = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            for e in exits {
                match cmds.remove(&e.pid) {
                    Some(tx) => {
                        let _ = tx.send(e);
                    }
                    None => others.push(e),
                }
            }
        }
        for e in others {
            (self.sink)(e);
        }
    }
}

/// The raw wait status std's ExitStatus wraps.
pub fn wait_status(e: &Exit) -> ExitStatus {
    match e.signal {
        Some(sig) => ExitStatus::from_raw(sig & 0x7f),
        None => ExitStatus::from_raw((e.code & 0xff) << 8),
    }
}

/// Whether `program` names an executable file (searched on PATH when it
/// has no slash). Checked before spawning: when exec fails, std reaps the
/// failed child itself, which our reaper may already have done.
pub fn executable(program: &std::ffi::OsStr, path: Option<&std::ffi::OsStr>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let p = std::path::Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return is_exec(p);
    }
    path.is_some_and(|dirs| std::env::split_paths(dirs).any(|d| is_exec(&d.join(p))))
}

impl Launcher for Monitor {
    fn output(&self, cmd: &mut Command) -> io::Result<Output> {
        if !executable(cmd.get_program(), std::env::var_os("PATH").as_deref()) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{}: no such executable",
                    cmd.get_program().to_string_lossy()
                ),
            ));
        }
        let (tx, rx) = mpsc::channel();
        let mut child = {
            let mut cmds = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            let child = cmd.spawn()?;
            cmds.insert(child.id() as i32, tx);
            child
        };
        // The runtime's outputs are small (its errors go to --log): reading
        // one after the other cannot fill a pipe.
        let mut stdout = Vec::new();
        if let Some(mut o) = child.stdout.take() {
            o.read_to_end(&mut stdout)?;
        }
        let mut stderr = Vec::new();
        if let Some(mut e) = child.stderr.take() {
            e.read_to_end(&mut stderr)?;
        }
        let exit = rx.recv().map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "reaper gone before the exit")
        })?;
        Ok(Output {
            status: wait_status(&exit),
            stdout,
            stderr,
        })
    }
}

impl Launcher for Arc<Monitor> {
    fn output(&self, cmd: &mut Command) -> io::Result<Output> {
        self.as_ref().output(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_commands_exit_goes_to_its_caller_and_the_rest_to_the_sink() {
        let (sink_tx, sink_rx) = mpsc::channel();
        let sink_tx = Mutex::new(sink_tx);
        let m = Monitor::with_sink(move |e| {
            let _ = sink_tx.lock().unwrap().send(e);
        });
        let (tx, rx) = mpsc::channel();
        m.commands.lock().unwrap().insert(42, tx);
        let exit = |pid, code| Exit {
            pid,
            code,
            signal: None,
        };
        m.dispatch(vec![exit(42, 1), exit(43, 0)]);
        assert_eq!(rx.try_recv().unwrap(), exit(42, 1));
        assert_eq!(sink_rx.try_recv().unwrap(), exit(43, 0));
        assert!(
            sink_rx.try_recv().is_err(),
            "the command's exit is not the sink's"
        );
        // Served once: a reused pid later is somebody else's.
        m.dispatch(vec![exit(42, 0)]);
        assert_eq!(sink_rx.try_recv().unwrap(), exit(42, 0));
    }

    #[test]
    fn executables_are_found_on_path_or_by_path() {
        let path = std::ffi::OsString::from("/nonexistent:/bin:/usr/bin");
        assert!(executable("sh".as_ref(), Some(&path)));
        assert!(executable("/bin/sh".as_ref(), None));
        assert!(!executable("no-such-runtime".as_ref(), Some(&path)));
        assert!(!executable("/etc/passwd".as_ref(), None));
        assert!(!executable("sh".as_ref(), None));
    }

    #[test]
    fn wait_status_maps_back_to_codes_and_signals() {
        let s = wait_status(&Exit {
            pid: 1,
            code: 3,
            signal: None,
        });
        assert_eq!(s.code(), Some(3));
        let s = wait_status(&Exit {
            pid: 1,
            code: 137,
            signal: Some(9),
        });
        assert_eq!((s.code(), s.signal()), (None, Some(9)));
    }
}
