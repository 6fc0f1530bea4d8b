//! The launcher: everything `create` and `run` do in the runtime's own
//! namespaces. Config is loaded and validated before anything exists on
//! disk; from the state directory on, a [`Cleanup`] guard undoes every step
//! (kills the child, removes cgroups and the state directory) unless the
//! launch succeeds.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::init::{self, InitContext, WaitFor};
use super::sync::{self, Channel, ToChild, ToParent};
use crate::caps::CapSets;
use crate::cgroups::{self, Layout, Manager};
use crate::hooks::{self, HookState};
use crate::namespaces::{self, ForChildren};
use crate::rootfs::{options, CgroupMount, RootfsPlan};
use crate::spec::plan::{Plan, SpawnMode};
use crate::spec::{self, SpecError};
use crate::state::{self, Container, Internal, State, StateError, Status};
use crate::sys::clone::{self, Forked};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Namespace(#[from] namespaces::NamespaceError),
    #[error(transparent)]
    Caps(#[from] crate::caps::CapsError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
    #[error("{0}")]
    Usage(&'static str),
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// The init reported why it failed.
    #[error("{0}")]
    Init(String),
}

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
    let op = op.into();
    move |source| LaunchError::Io { op, source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchMode {
    /// `create`: the init blocks on the exec fifo until `start`.
    Create,
    /// `run`: the init waits for a Start message from this process.
    Run { detach: bool },
}

#[derive(Debug)]
pub struct LaunchOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub mode: LaunchMode,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub no_new_keyring: bool,
    /// Signals stay blocked in the launcher (foreground run relays them).
    pub block_signals: bool,
    /// `--systemd-cgroup`: refused with the reason (see cgroups::systemd).
    pub systemd_cgroup: bool,
}

/// A container whose init is set up and waiting.
#[derive(Debug)]
pub struct Launched {
    pub container: Container,
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub chan: Channel,
    /// The pty master, when `run` in the foreground allocated the terminal.
    pub console: Option<OwnedFd>,
    pub spec: oci_spec::runtime::Spec,
}

/// Undoes a partial launch when dropped unless disarmed.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroup: Option<Box<dyn Manager>>,
    child: Option<(Pid, OwnedFd)>,
    /// A container that existed and failed still reaches poststop (runtime
    /// lifecycle: a failed prestart hook continues at step 12).
    poststop: Option<Poststop>,
}

struct Poststop {
    hooks: Vec<oci_spec::runtime::Hook>,
    version: String,
    id: String,
    bundle: PathBuf,
    annotations: Option<std::collections::HashMap<String, String>>,
}

impl Cleanup {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.child = None;
        self.poststop = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let existed = self.child.is_some();
        if let Some((pid, pidfd)) = self.child.take() {
            let _ = clone::pidfd_send_signal(&pidfd, libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(m) = self.cgroup.take() {
            let _ = m.destroy();
        }
        if let (true, Some(p)) = (existed, self.poststop.take()) {
            let state = HookState {
                oci_version: &p.version,
                id: &p.id,
                status: "stopped",
                pid: None,
                bundle: &p.bundle,
                annotations: p.annotations.as_ref(),
            };
            hooks::run_all_warn("poststop", &p.hooks, &state);
        }
        if let Some(d) = self.dir.take() {
            let _ = state::remove_dir(&d);
        }
    }
}

fn propagation(spec: &oci_spec::runtime::Spec) -> MsFlags {
    let p = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
        .unwrap_or_default();
    let parsed = options::parse(&[p]);
    parsed
        .propagation
        .first()
        .copied()
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC)
}

fn cgroup_mounts(layout: &Layout, paths: &[PathBuf]) -> Vec<CgroupMount> {
    match layout {
        Layout::V2 { .. } => paths
            .iter()
            .map(|p| CgroupMount {
                name: String::new(),
                host_dir: p.clone(),
                fstype: "cgroup2",
                data: String::new(),
            })
            .collect(),
        Layout::V1 {
            hierarchies,
            unified,
        } => {
            let mut out: Vec<CgroupMount> = hierarchies
                .iter()
                .zip(paths)
                .map(|(h, p)| CgroupMount {
                    name: h
                        .mountpoint
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    host_dir: p.clone(),
                    fstype: "cgroup",
                    data: h.controllers.join(","),
                })
                .collect();
            if unified.is_some() {
                if let Some(p) = paths.get(hierarchies.len()) {
                    out.push(CgroupMount {
                        name: "unified".into(),
                        host_dir: p.clone(),
                        fstype: "cgroup2",
                        data: String::new(),
                    });
                }
            }
            out
        }
    }
}

fn check_terminal(terminal: bool, opts: &LaunchOptions<'_>) -> Result<(), LaunchError> {
    let detached = !matches!(opts.mode, LaunchMode::Run { detach: false });
    if terminal && detached && opts.console_socket.is_none() {
        return Err(LaunchError::Usage(
            "cannot allocate tty if berth will detach without setting console socket",
        ));
    }
    if opts.console_socket.is_some() && !detached {
        return Err(LaunchError::Usage(
            "cannot use console socket if berth will not detach or allocate tty",
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(LaunchError::Usage(
            "cannot use console socket if berth will not detach or allocate tty",
        ));
    }
    Ok(())
}

/// Creates the container up to the point where its init waits to exec.
pub fn launch(opts: &LaunchOptions<'_>) -> Result<Launched, LaunchError> {
    state::validate_id(opts.id)?;
    let spec = spec::load_bundle(opts.bundle)?;
    let mut plan = Plan::new(spec, opts.bundle)?;
    let lsm = crate::lsm::plan(
        plan.process().apparmor_profile().as_deref(),
        plan.process().selinux_label().as_deref(),
        plan.spec
            .linux()
            .as_ref()
            .and_then(|l| l.mount_label().as_deref()),
        crate::lsm::LsmHost::probe(),
    )?;
    if let Some(label) = &lsm.mount_label {
        crate::lsm::label_mounts(&mut plan.mounts, label);
    }
    let terminal = plan.process().terminal().unwrap_or(false);
    check_terminal(terminal, opts)?;
    let caps = plan
        .process()
        .capabilities()
        .as_ref()
        .map(CapSets::from_spec)
        .transpose()?;
    let seccomp = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| crate::seccomp::cache::compile(opts.root, s))
        .transpose()
        .map_err(SpecError::from)?;
    let listener = seccomp.as_ref().and_then(|s| s.listener.clone());
    let layout = cgroups::detect()?;
    let cgroups_path = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    if opts.systemd_cgroup {
        let dir = Path::new("/run/systemd/system");
        return Err(cgroups::systemd::check(cgroups_path.as_deref(), opts.id, dir).into());
    }
    let manager = cgroups::manager(&layout, cgroups_path.as_deref(), opts.id);

    let dir = state::create_dir(opts.root, opts.id)?;
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
        cgroup: None,
        child: None,
        poststop: plan
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().clone())
            .filter(|h| !h.is_empty())
            .map(|hooks| Poststop {
                hooks,
                version: plan.spec.version().to_string(),
                id: opts.id.to_string(),
                bundle: plan.bundle.clone(),
                annotations: plan.spec.annotations().clone(),
            }),
    };
    let wait = match opts.mode {
        LaunchMode::Create => {
            let fifo = dir.join(state::EXEC_FIFO);
            nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
                .map_err(|e| io("create exec fifo")(e.into()))?;
            // The init opens it after switching to the container user: the mode
            // must not depend on our umask.
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                &fifo,
                Mode::from_bits_truncate(0o622),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| io("chmod exec fifo")(e.into()))?;
            let fd = nix::fcntl::open(
                &dir,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io("open state dir")(e.into()))?;
            WaitFor::Fifo(fd)
        }
        LaunchMode::Run { .. } => WaitFor::Message,
    };
    manager.create()?;
    let cgroup_paths = manager.paths();
    cleanup.cgroup = Some(manager);
    let paths_json = serde_json::to_vec(&cgroup_paths).expect("paths serialize");
    state::write_atomic(&dir.join(state::CGROUP_PATHS), &paths_json, 0o600)
        .map_err(io("record cgroup paths"))?;
    {
        let linux = plan.spec.linux().as_ref();
        let res = linux
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        let rules = cgroups::devices::rules(
            res.devices().as_deref().unwrap_or_default(),
            linux
                .and_then(|l| l.devices().as_deref())
                .unwrap_or_default(),
        );
        cleanup_cgroup(&cleanup).apply(&res, Some(&rules))?;
    }

    let (parent_chan, child_chan) = sync::pair().map_err(io("sync socketpair"))?;
    let (console_socket, console_recv) =
        crate::console::socket_for(terminal, opts.console_socket).map_err(io("console"))?;
    let linux = plan.spec.linux().clone().unwrap_or_default();
    let ns = &plan.namespaces;
    let time_flag = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    let time_offsets = linux
        .time_offsets()
        .as_ref()
        .map(namespaces::time_offsets_text);
    let rootfs = RootfsPlan {
        rootfs: &plan.rootfs,
        mounts: &plan.mounts,
        devices: crate::devices::plan(linux.devices().as_deref().unwrap_or_default()),
        propagation: propagation(&plan.spec),
        bind_devices: ns.creates(CloneFlags::CLONE_NEWUSER)
            || ns.joined(CloneFlags::CLONE_NEWUSER).is_some(),
        cgroups: cgroup_mounts(&layout, &cgroup_paths),
        cgroup_ns: ns.creates(CloneFlags::CLONE_NEWCGROUP),
        no_pivot: opts.no_pivot,
        readonly: plan
            .spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        masked: linux.masked_paths().as_deref().unwrap_or_default(),
        readonly_paths: linux.readonly_paths().as_deref().unwrap_or_default(),
    };
    if opts.block_signals {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None)
            .map_err(|e| io("block signals")(e.into()))?;
    }

    let (flags, for_children) = match ns.mode {
        SpawnMode::Direct => {
            let guard = ForChildren::enter(
                ns.joined(CloneFlags::CLONE_NEWPID),
                ns.joined(time_flag),
                ns.creates(time_flag)
                    .then(|| time_offsets.clone().unwrap_or_default())
                    .as_deref(),
            )?;
            (
                (ns.new & !(CloneFlags::CLONE_NEWCGROUP | time_flag)).bits() as u64,
                Some(guard),
            )
        }
        SpawnMode::Intermediate => (0, None),
    };
    // Born non-dumpable: even inside a joined PID namespace, no process there
    // can open the child's /proc/<pid>/exe (the berth binary) before its
    // first instruction.
    let was_dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
    let _ = nix::sys::prctl::set_dumpable(false);
    let forked = clone::fork(flags, None).map_err(io("clone container init"));
    if !matches!(forked, Ok(Forked::Child)) && was_dumpable {
        let _ = nix::sys::prctl::set_dumpable(true);
    }
    if matches!(forked, Ok(Forked::Child)) {
        // The child must stay in the namespaces the guard entered for it.
        std::mem::forget(for_children);
    } else {
        drop(for_children);
    }
    let (first_pid, first_pidfd) = match forked? {
        Forked::Child => {
            drop(parent_chan);
            drop(console_recv);
            let ctx = InitContext {
                plan: &plan,
                rootfs,
                chan: child_chan,
                wait,
                console_socket,
                preserve_fds: opts.preserve_fds,
                sigmask: SigSet::empty(),
                caps,
                container_id: opts.id,
                time_offsets,
                new_keyring: !opts.no_new_keyring,
                seccomp,
                lsm,
            };
            init::run(ctx)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_chan);
    drop(console_socket);
    drop(wait);
    cleanup.child = Some((first_pid, first_pidfd));

    // However the init's death shows (EOF, a reset sync socket), an OOM
    // kill in its cgroup is the cause to report.
    let oom = |e: LaunchError| match cgroups::oom_killed(&cgroup_paths) {
        true => LaunchError::Init("container init was OOM-killed (memory limit too low?)".into()),
        false => e,
    };
    let (pid, pidfd) = connect_init(&parent_chan, &plan, &mut cleanup, first_pid).map_err(oom)?;
    wait_ready(&parent_chan, &plan, opts.id, pid, listener.as_ref()).map_err(oom)?;
    let console = match console_recv {
        Some(sock) => Some(crate::console::recv_fd(&sock).map_err(io("receive pty master"))?),
        None => None,
    };

    let start_time = state::status::read_stat(pid.as_raw())
        .map(|s| s.start_time)
        .unwrap_or(0);
    let st = State {
        oci_version: plan.spec.version().to_string(),
        id: opts.id.to_string(),
        pid: pid.as_raw(),
        status: Status::Created,
        bundle: plan.bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: state::time::now_rfc3339_nano(),
        owner: String::new(),
        annotations: plan.spec.annotations().clone().unwrap_or_default(),
        berth: Internal {
            init_start_time: start_time,
            cgroup_paths,
            resources: linux.resources().clone(),
            poststop: plan
                .spec
                .hooks()
                .as_ref()
                .and_then(|h| h.poststop().clone())
                .unwrap_or_default(),
        },
    };
    tracing::debug!(container_id = opts.id, pid = pid.as_raw(), bundle = %plan.bundle.display(), "container created");
    // exec takes the process defaults, namespaces and seccomp profile from
    // this copy: the bundle may have changed or gone since create.
    let spec_json = serde_json::to_vec(&plan.spec).expect("spec serializes");
    state::write_atomic(&dir.join(state::CONFIG_COPY), &spec_json, 0o600)
        .map_err(io("save config copy"))?;
    let container = Container::new_unlocked(dir, st);
    container.save()?;
    if let Some(p) = opts.pid_file {
        write_pid_file(p, pid.as_raw())?;
    }
    parent_chan.send(&ToChild::Committed).map_err(io("sync"))?;
    match recv(&parent_chan)? {
        ToParent::Detached => {}
        ToParent::Error(msg) => return Err(LaunchError::Init(msg)),
        other => {
            return Err(LaunchError::Init(format!(
                "unexpected message from init: {other:?}"
            )))
        }
    }
    cleanup.disarm();
    Ok(Launched {
        container,
        pid,
        pidfd,
        chan: parent_chan,
        console,
        spec: plan.spec,
    })
}

/// Finishes namespace setup with the child and returns the init's pid.
fn connect_init(
    chan: &Channel,
    plan: &Plan,
    cleanup: &mut Cleanup,
    first: Pid,
) -> Result<(Pid, OwnedFd), LaunchError> {
    let ns = &plan.namespaces;
    let linux = plan.spec.linux().as_ref();
    let (uid_maps, gid_maps) = (
        linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default(),
        linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default(),
    );
    let oom = plan.process().oom_score_adj();
    let add = |cleanup: &Cleanup, pid: Pid| -> Result<(), LaunchError> {
        cleanup_cgroup(cleanup).add(pid.as_raw())?;
        // Written here: the init is not dumpable, so in a user namespace it
        // could not write its own /proc entry.
        if let Some(adj) = oom {
            std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
                .map_err(io("process.oomScoreAdj"))?;
        }
        chan.send(&ToChild::Continue).map_err(io("sync"))
    };
    if ns.mode == SpawnMode::Direct {
        if ns.creates(CloneFlags::CLONE_NEWUSER) {
            crate::userns::write_maps(first.as_raw(), &uid_maps, &gid_maps)
                .map_err(io("linux.uidMappings"))?;
        }
        add(cleanup, first)?;
        let fd = cleanup
            .child
            .as_ref()
            .expect("child recorded")
            .1
            .try_clone()
            .map_err(io("dup pidfd"))?;
        return Ok((first, fd));
    }
    loop {
        match recv(chan)? {
            ToParent::MapsPlease => {
                crate::userns::write_maps(first.as_raw(), &uid_maps, &gid_maps)
                    .map_err(io("linux.uidMappings"))?;
                chan.send(&ToChild::Continue).map_err(io("sync"))?;
            }
            ToParent::Forked(raw) => {
                let _ = nix::sys::wait::waitpid(first, None);
                let pid = Pid::from_raw(raw);
                let fd = clone::pidfd_open(pid).map_err(io("open init pidfd"))?;
                cleanup.child = Some((pid, fd.try_clone().map_err(io("dup pidfd"))?));
                add(cleanup, pid)?;
                return Ok((pid, fd));
            }
            ToParent::Error(msg) => return Err(LaunchError::Init(msg)),
            other => {
                return Err(LaunchError::Init(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
        }
    }
}

fn cleanup_cgroup(c: &Cleanup) -> &dyn Manager {
    c.cgroup.as_deref().expect("cgroup created before clone")
}

fn recv(chan: &Channel) -> Result<ToParent, LaunchError> {
    match chan.recv::<ToParent>().map_err(io("sync"))? {
        Some(m) => Ok(m),
        None => Err(LaunchError::Init(
            "container init exited during setup".into(),
        )),
    }
}

/// Serves runtime-namespace hooks until the init says it is ready.
fn wait_ready(
    chan: &Channel,
    plan: &Plan,
    id: &str,
    pid: Pid,
    listener: Option<&crate::seccomp::ListenerPlan>,
) -> Result<(), LaunchError> {
    let state = HookState {
        oci_version: plan.spec.version(),
        id,
        status: "creating",
        pid: Some(pid.as_raw()),
        bundle: &plan.bundle,
        annotations: plan.spec.annotations().as_ref(),
    };
    loop {
        match recv(chan)? {
            ToParent::SeccompListener => {
                let fd = chan.take_fd().ok_or_else(|| {
                    LaunchError::Init("seccomp listener message without an fd".into())
                })?;
                let listener = listener.ok_or_else(|| {
                    LaunchError::Init("seccomp listener fd without a listenerPath".into())
                })?;
                crate::seccomp::listener::send(listener, &state, fd.as_fd()).map_err(io(
                    format!(
                        "linux.seccomp.listenerPath: send to {}",
                        listener.path.display()
                    ),
                ))?;
            }
            ToParent::RuntimeHooks => {
                if let Some(h) = plan.spec.hooks() {
                    #[allow(deprecated)]
                    hooks::run_all(
                        "prestart",
                        h.prestart().as_deref().unwrap_or_default(),
                        &state,
                    )?;
                    hooks::run_all(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or_default(),
                        &state,
                    )?;
                }
                chan.send(&ToChild::HooksDone).map_err(io("sync"))?;
            }
            ToParent::Ready => return Ok(()),
            ToParent::Error(msg) => return Err(LaunchError::Init(msg)),
            other => {
                return Err(LaunchError::Init(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
        }
    }
}

/// Writes the pid file atomically (containerd reads it right after create).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), LaunchError> {
    state::write_atomic(path, pid.to_string().as_bytes(), 0o644)
        .map_err(io(format!("write pid file {}", path.display())))
}

/// Tells a `run` init to exec and waits until it has (EOF on the channel),
/// or returns the error it reported.
pub fn start_run(launched: &Launched) -> Result<(), LaunchError> {
    launched.chan.send(&ToChild::Start).map_err(io("sync"))?;
    match launched.chan.recv::<ToParent>().map_err(io("sync"))? {
        None => Ok(()),
        Some(ToParent::Error(msg)) => Err(LaunchError::Init(msg)),
        Some(other) => Err(LaunchError::Init(format!(
            "unexpected message from init: {other:?}"
        ))),
    }
}
