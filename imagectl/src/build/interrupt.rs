//! Ctrl-C during a build: SIGINT, SIGTERM and SIGHUP are blocked in the
//! process and taken by a watcher thread (sigwait), so that the build
//! unwinds through its cleanups (temp bundles unmounted and removed)
//! instead of dying with mounts behind. The watcher forwards the signal
//! to the running RUN's runtime and raises a flag the executor checks
//! between steps. Children start with an empty signal mask (the standard
//! library resets it on spawn), so berth still gets its signals.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static CHILD: Mutex<Option<Running>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// Blocks the signals and starts the watcher (once per process). Call
/// before other threads start, so they inherit the mask.
pub fn install() {
    INSTALL.call_once(|| {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(s);
        }
        if set.thread_block().is_err() {
            return;
        }
        std::thread::spawn(move || loop {
            let Ok(sig) = set.wait() else { return };
            INTERRUPTED.store(true, Ordering::SeqCst);
            let running = CHILD.lock().map(|c| c.clone()).unwrap_or(None);
            if let Some(r) = running {
                let _ = kill(Pid::from_raw(r.pid as i32), sig);
                // A container's init ignores signals it has no handler
                // for: stop it for good.
                let _ = std::process::Command::new(&r.runtime)
                    .args(["kill", &r.id, "KILL"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        });
    });
}

/// Whether a signal asked the build to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The RUN in progress.
#[derive(Debug, Clone)]
pub struct Running {
    pub pid: u32,
    pub runtime: PathBuf,
    pub id: String,
}

/// Records the running RUN (`None`: none).
pub fn set_child(r: Option<Running>) {
    if let Ok(mut c) = CHILD.lock() {
        *c = r;
    }
}
