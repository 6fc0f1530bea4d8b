//! The commands containerd runs the shim binary with (cwd = the bundle):
//! - `start`: bind the shim's socket, spawn the daemon (this binary, no
//!   verb) with the listening socket inherited, write `address` and
//!   `shim.pid` into the bundle and print the address. containerd reads the
//!   combined stdout+stderr as the address, so nothing else is printed.
//! - `delete`: containerd lost the shim (it died, or start failed): force
//!   the container away, unmount the rootfs, remove a dead daemon's
//!   socket, print a DeleteResponse.
//! - the daemon ([`serve`]): its own session (so nothing aimed at
//!   containerd's process group reaches it), a subreaper, the Task service
//!   on the inherited socket until Shutdown.
//!
//! After a containerd restart, containerd reads `address` from the bundle
//! and calls Connect on the live daemon; nothing here has to change.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime};

use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::{api, create_task, ttrpc};
use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use super::args::{daemon_args, Flags};
use super::events::{timestamp, Publisher};
use super::exits::{block_sigchld, Monitor};
use super::options::RuntimeOptions;
use super::service::Service;
use crate::runtime::Direct;

/// How `start` tells the daemon which fd is its listening socket.
pub const LISTEN_FD_ENV: &str = "BERTH_SHIM_LISTEN_FD";
const SOCKET_DIR: &str = "/run/containerd/s";
/// containerd 1.6 speaks task API v2; 2.x can speak v3. Same messages.
const TASK_V3: &str = "/containerd.task.v3.Task/";
const TASK_V2: &str = "/containerd.task.v2.Task/";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("a shim is already listening on {0}")]
    AlreadyRunning(String),
    #[error("ttrpc server: {0}")]
    Ttrpc(String),
    #[error("{LISTEN_FD_ENV} is not set: the daemon is started by `start`")]
    NoListener,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BootstrapError {
    let what = what.into();
    move |source| BootstrapError::Io { what, source }
}

/// FNV-1a: a stable, short name for the socket (runc's shim hashes the
/// same triple with sha256; any collision-resistant-enough name works,
/// and 16 hex digits keep the path far below the 108-byte limit).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// `unix:///run/containerd/s/<hash of containerd's address, ns, id>`.
pub fn socket_address(address: &str, namespace: &str, id: &str) -> String {
    let key = format!("{address}/{namespace}/{id}");
    format!("unix://{SOCKET_DIR}/berth-{:016x}", fnv1a(&key))
}

fn socket_path(addr: &str) -> &Path {
    Path::new(addr.strip_prefix("unix://").unwrap_or(addr))
}

fn cwd() -> Result<PathBuf, BootstrapError> {
    std::env::current_dir().map_err(io_err("current dir"))
}

/// `start`: returns the address to print.
pub fn start(flags: &Flags) -> Result<String, BootstrapError> {
    // The runtime options (if any) come on stdin; the daemon reads the
    // ones that matter from Create, so these are only drained.
    let mut opts = Vec::new();
    let _ = io::stdin().read_to_end(&mut opts);

    let bundle = cwd()?;
    let addr = socket_address(&flags.address, &flags.namespace, &flags.id);
    let path = socket_path(&addr);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(SOCKET_DIR)
        .map_err(io_err(SOCKET_DIR))?;
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(BootstrapError::AlreadyRunning(addr));
        }
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(io_err(format!("bind {}", path.display())))?;
    let fd = listener.as_raw_fd();
    fcntl(&listener, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|source| BootstrapError::Sys {
        what: "clear close-on-exec on the shim socket",
        source,
    })?;
    // containerd made the `log` fifo and reads it into its own log.
    let log = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(bundle.join("log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let exe = std::env::current_exe().map_err(io_err("current exe"))?;
    let child = Command::new(&exe)
        .args(daemon_args(flags))
        .current_dir(&bundle)
        .env(LISTEN_FD_ENV, fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(io_err(format!("spawn {}", exe.display())))?;
    drop(listener);
    let written =
        crate::fsutil::write_atomic(&bundle.join("address"), addr.as_bytes()).and_then(|()| {
            crate::fsutil::write_atomic(&bundle.join("shim.pid"), child.id().to_string().as_bytes())
        });
    if let Err(e) = written {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        return Err(io_err("write address")(e));
    }
    Ok(addr)
}

/// `delete`: the DeleteResponse bytes to print.
pub fn delete(flags: &Flags) -> Result<Vec<u8>, BootstrapError> {
    let bundle = match &flags.bundle {
        Some(b) => PathBuf::from(b),
        None => cwd()?,
    };
    let rt = RuntimeOptions::load(&bundle).runtime(&flags.namespace, &bundle);
    if let Err(e) = rt.delete(&Direct, &flags.id, true) {
        super::log(&format!("delete {}: {e}", flags.id));
    }
    super::mount::unmount_all(&bundle.join("rootfs"));
    // A daemon that was killed could not remove its socket.
    let addr = socket_address(&flags.address, &flags.namespace, &flags.id);
    let path = socket_path(&addr);
    if path.exists() && UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let mut r = api::DeleteResponse::new();
    // What runc's shim reports for a container it had to kill.
    r.exit_status = 128 + libc::SIGKILL as u32;
    r.exited_at = MessageField::some(timestamp(SystemTime::now()));
    Ok(r.write_to_bytes().expect("encode DeleteResponse"))
}

fn inherited_listener() -> Result<RawFd, BootstrapError> {
    let fd: RawFd = std::env::var(LISTEN_FD_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(BootstrapError::NoListener)?;
    let owned = crate::sys::v2::take_inherited_fd(fd);
    // Runtime commands and containers must not inherit it.
    fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|source| BootstrapError::Sys {
        what: "set close-on-exec on the shim socket",
        source,
    })?;
    Ok(owned.into_raw_fd())
}

/// The daemon: serves until Shutdown, then exits the process.
pub fn serve(flags: &Flags) -> Result<(), BootstrapError> {
    // Before any thread exists: the mask and the allocator setting are
    // inherited by every thread started below.
    crate::sys::v2::limit_malloc_arenas(1);
    block_sigchld().map_err(|source| BootstrapError::Sys {
        what: "block SIGCHLD",
        source,
    })?;
    let _ = nix::unistd::setsid();
    crate::reaper::become_subreaper().map_err(|source| BootstrapError::Sys {
        what: "become subreaper",
        source,
    })?;
    let fd = inherited_listener()?;
    let bundle = cwd()?;
    let ttrpc_address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
    let events =
        Publisher::start(&ttrpc_address, &flags.namespace).map_err(io_err("start publisher"))?;
    let (tx, rx) = mpsc::channel();
    let svc = Arc::new(Service::new(
        &flags.id,
        &flags.namespace,
        &bundle,
        events,
        tx,
    ));
    let sink = svc.clone();
    let monitor = Monitor::start(move |e| sink.on_exit(e)).map_err(io_err("start reaper"))?;
    svc.set_monitor(monitor);

    let v3 = create_task(svc.clone());
    let v2 = create_task(svc.clone())
        .into_iter()
        .map(|(k, v)| (k.replacen(TASK_V3, TASK_V2, 1), v))
        .collect();
    let ttrpc_err = |e: ttrpc::Error| BootstrapError::Ttrpc(e.to_string());
    let mut server = ttrpc::Server::new()
        .add_listener(fd)
        .map_err(ttrpc_err)?
        .register_service(v2)
        .register_service(v3)
        // Per connection (containerd keeps one): a worker is spawned when
        // fewer than `min` are idle, so a blocking Wait never starves the
        // other calls; more than `max` idle ones exit.
        .set_thread_count_min(1)
        .set_thread_count_default(2)
        .set_thread_count_max(3);
    server.start().map_err(ttrpc_err)?;

    let _ = rx.recv();
    // Let the Shutdown reply leave before the socket goes. (The address is
    // recomputed: containerd may have removed the bundle by now.)
    std::thread::sleep(Duration::from_millis(50));
    let addr = socket_address(&flags.address, &flags.namespace, &flags.id);
    let _ = std::fs::remove_file(socket_path(&addr));
    std::process::exit(0);
}

/// Writes `bytes` to stdout, for the bootstrap commands' answers.
pub fn print(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_address_is_stable_short_and_per_container() {
        let a = socket_address("/run/containerd/containerd.sock", "default", "c1");
        assert_eq!(
            a,
            socket_address("/run/containerd/containerd.sock", "default", "c1")
        );
        assert_ne!(
            a,
            socket_address("/run/containerd/containerd.sock", "default", "c2")
        );
        assert_ne!(
            a,
            socket_address("/run/containerd/containerd.sock", "k8s.io", "c1")
        );
        assert!(a.starts_with("unix:///run/containerd/s/berth-"));
        assert!(socket_path(&a).as_os_str().len() < 108);
    }
}
