//! The Task service containerd calls over ttrpc: one container (its init
//! and execs) per shim, driven through the runtime's CLI with exits from
//! the reaper [`Monitor`]. Runtime calls run without the table lock held,
//! so the reaper's sink (which takes it) never waits on a runtime command.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use containerd_shim_protos::api::{self, Empty, ProcessInfo};
use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::MessageField;
use containerd_shim_protos::ttrpc::{self, Code, TtrpcContext};
use containerd_shim_protos::Task;

use super::events::{timestamp, Publisher};
use super::exits::Monitor;
use super::io::{self, Stdio};
use super::mount::{self, Mount};
use super::options::RuntimeOptions;
use super::process::{Exited, Proc, Status, Table};
use crate::reaper::Exit;
use crate::runtime::{read_pid_file, CreateOpts, ExecOpts, Runtime};

/// How long a waiter waits for the output to be copied out after an exit.
const DRAIN: Duration = Duration::from_secs(2);
const INIT: &str = "";

fn status(code: Code, msg: impl ToString) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg))
}

fn unknown(e: impl std::fmt::Display) -> ttrpc::Error {
    status(Code::UNKNOWN, e)
}

pub struct Service {
    pub id: String,
    pub namespace: String,
    pub bundle: PathBuf,
    runtime: OnceLock<Runtime>,
    monitor: OnceLock<Arc<Monitor>>,
    table: Mutex<Table>,
    exited: Condvar,
    events: Publisher,
    shutdown: Mutex<Option<mpsc::Sender<()>>>,
    /// Probed once: which Metrics message Stats answers with.
    hierarchy: super::stats::Hierarchy,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("id", &self.id)
            .field("bundle", &self.bundle)
            .finish_non_exhaustive()
    }
}

impl Service {
    pub fn new(
        id: &str,
        namespace: &str,
        bundle: &Path,
        events: Publisher,
        shutdown: mpsc::Sender<()>,
    ) -> Service {
        Service {
            id: id.to_string(),
            namespace: namespace.to_string(),
            bundle: bundle.to_path_buf(),
            runtime: OnceLock::new(),
            monitor: OnceLock::new(),
            table: Mutex::new(Table::default()),
            exited: Condvar::new(),
            events,
            shutdown: Mutex::new(Some(shutdown)),
            hierarchy: super::stats::Hierarchy::of_host(),
        }
    }

    /// Installs the reaper; exits before this are not possible (no child
    /// exists before Create).
    pub fn set_monitor(&self, m: Arc<Monitor>) {
        let _ = self.monitor.set(m);
    }

    fn monitor(&self) -> ttrpc::Result<&Arc<Monitor>> {
        self.monitor
            .get()
            .ok_or_else(|| status(Code::UNAVAILABLE, "shim starting"))
    }

    fn runtime(&self) -> ttrpc::Result<&Runtime> {
        self.runtime.get().ok_or_else(|| {
            status(
                Code::NOT_FOUND,
                format!("container {} not created", self.id),
            )
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// The reaper's sink: records the exit, wakes waiters, tells containerd.
    pub fn on_exit(&self, e: Exit) {
        let at = SystemTime::now();
        let owner = self.table().record_exit(e, at);
        if let Some(exec_id) = owner {
            self.exited.notify_all();
            self.publish_exit(&exec_id, e.pid, e.code as u32, at);
        }
    }

    fn publish_exit(&self, exec_id: &str, pid: i32, code: u32, at: SystemTime) {
        let mut ev = TaskExit::new();
        ev.container_id = self.id.clone();
        ev.id = self.task_id(exec_id);
        ev.pid = pid as u32;
        ev.exit_status = code;
        ev.exited_at = ts_field(at);
        self.events.publish(&ev);
    }

    /// The id containerd knows a process by: the container's for the init
    /// (whose exec id is empty), the exec id otherwise.
    fn task_id(&self, exec_id: &str) -> String {
        if exec_id.is_empty() {
            self.id.clone()
        } else {
            exec_id.to_string()
        }
    }

    /// Looks a process up and reads what `f` wants from it.
    fn with_proc<T>(&self, exec_id: &str, f: impl FnOnce(&mut Proc) -> T) -> ttrpc::Result<T> {
        let mut t = self.table();
        match t.procs.get_mut(exec_id) {
            Some(p) => Ok(f(p)),
            None => Err(status(
                Code::NOT_FOUND,
                if exec_id.is_empty() {
                    format!("container {} not created", self.id)
                } else {
                    format!("exec {exec_id} not found")
                },
            )),
        }
    }

    fn sock_dir() -> PathBuf {
        std::env::temp_dir()
    }

    fn exec_file(&self, exec_id: &str, ext: &str) -> PathBuf {
        self.bundle.join(format!("exec-{exec_id}.{ext}"))
    }

    fn start_init(&self) -> ttrpc::Result<u32> {
        let rt = self.runtime()?;
        let pid = self.with_proc(INIT, |p| p.pid)?;
        rt.start(self.monitor()?, &self.id).map_err(unknown)?;
        self.table().transition(INIT, Status::Running);
        let mut ev = TaskStart::new();
        ev.container_id = self.id.clone();
        ev.pid = pid as u32;
        self.events.publish(&ev);
        Ok(pid as u32)
    }

    fn start_exec(&self, exec_id: &str) -> ttrpc::Result<u32> {
        let rt = self.runtime()?;
        let (spec, stdio) = self.with_proc(exec_id, |p| (p.spec.take(), p.stdio.clone()))?;
        let spec = spec.ok_or_else(|| {
            status(
                Code::FAILED_PRECONDITION,
                format!("exec {exec_id} already started"),
            )
        })?;
        let process = self.exec_file(exec_id, "json");
        std::fs::write(&process, &spec).map_err(unknown)?;
        let pid_file = self.exec_file(exec_id, "pid");
        let _ = std::fs::remove_file(&pid_file);
        let (proc_io, pending) =
            io::prepare(&stdio, &Self::sock_dir(), exec_id).map_err(unknown)?;
        let opts = ExecOpts {
            process: process.clone(),
            pid_file: Some(pid_file.clone()),
            console_socket: pending.console_path(),
            io: proc_io,
        };
        let ran = rt.exec(self.monitor()?, &self.id, opts);
        let _ = std::fs::remove_file(&process);
        ran.map_err(unknown)?;
        let attached = Arc::new(pending.attach(&stdio).map_err(unknown)?);
        let pid = read_pid_file(&pid_file).map_err(unknown)?;
        let _ = std::fs::remove_file(&pid_file);
        let early = {
            let mut t = self.table();
            if let Some(p) = t.procs.get_mut(exec_id) {
                p.io = Some(attached);
            }
            let early = t.set_pid(exec_id, pid);
            t.transition(exec_id, Status::Running);
            early
                .then(|| t.procs.get(exec_id).and_then(|p| p.exit))
                .flatten()
        };
        let mut ev = TaskExecStarted::new();
        ev.container_id = self.id.clone();
        ev.exec_id = exec_id.to_string();
        ev.pid = pid as u32;
        self.events.publish(&ev);
        if let Some(x) = early {
            self.exited.notify_all();
            self.publish_exit(exec_id, pid, x.code, x.at);
        }
        Ok(pid as u32)
    }

    fn exit_of(&self, exec_id: &str) -> ttrpc::Result<(u32, Option<Exited>)> {
        self.with_proc(exec_id, |p| (p.pid as u32, p.exit))
    }

    fn request_shutdown(&self) {
        if let Some(tx) = self
            .shutdown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
    }
}

fn ts_field(
    at: SystemTime,
) -> MessageField<containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp> {
    MessageField::some(timestamp(at))
}

impl Task for Service {
    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> ttrpc::Result<api::StateResponse> {
        self.with_proc(&req.exec_id, |p| {
            let mut r = api::StateResponse::new();
            r.id = self.task_id(&p.exec_id);
            r.bundle = self.bundle.display().to_string();
            r.pid = p.pid as u32;
            r.status = p.status.task_status().into();
            r.stdin = p.stdio.stdin.clone();
            r.stdout = p.stdio.stdout.clone();
            r.stderr = p.stdio.stderr.clone();
            r.terminal = p.stdio.terminal;
            if let Some(x) = p.exit {
                r.exit_status = x.code;
                r.exited_at = ts_field(x.at);
            }
            r.exec_id = p.exec_id.clone();
            r
        })
    }

    fn create(
        &self,
        _: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> ttrpc::Result<api::CreateTaskResponse> {
        if self.table().procs.contains_key(INIT) {
            return Err(status(
                Code::ALREADY_EXISTS,
                format!("container {} already created", self.id),
            ));
        }
        let opts = RuntimeOptions::from_any(req.options.as_ref()).map_err(unknown)?;
        opts.save(&self.bundle).map_err(unknown)?;
        let rt = self
            .runtime
            .get_or_init(|| opts.runtime(&self.namespace, &self.bundle));
        let mounts: Vec<Mount> = req
            .rootfs
            .iter()
            .map(|m| Mount {
                fstype: m.type_.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
            })
            .collect();
        if !mounts.is_empty() {
            let _ = std::fs::create_dir_all(self.rootfs());
            mount::mount_all(&mounts, &self.rootfs()).map_err(unknown)?;
        }
        let stdio = Stdio {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let fail = |e: ttrpc::Error| {
            if !mounts.is_empty() {
                mount::unmount_all(&self.rootfs());
            }
            e
        };
        let pid_file = self.bundle.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let (proc_io, pending) =
            io::prepare(&stdio, &Self::sock_dir(), &self.id).map_err(|e| fail(unknown(e)))?;
        self.table()
            .procs
            .insert(INIT.to_string(), Proc::new(INIT, stdio.clone()));
        let copts = CreateOpts {
            pid_file: Some(pid_file.clone()),
            console_socket: pending.console_path(),
            no_pivot: opts.no_pivot_root,
            no_new_keyring: opts.no_new_keyring,
            io: proc_io,
        };
        let created = self
            .monitor()
            .and_then(|m| rt.create(m, &self.id, &self.bundle, copts).map_err(unknown))
            .and_then(|()| pending.attach(&stdio).map_err(unknown))
            .and_then(|a| Ok((a, read_pid_file(&pid_file).map_err(unknown)?)));
        let (attached, pid) = match created {
            Ok(x) => x,
            Err(e) => {
                self.table().procs.remove(INIT);
                return Err(fail(e));
            }
        };
        {
            let mut t = self.table();
            if let Some(p) = t.procs.get_mut(INIT) {
                p.io = Some(Arc::new(attached));
            }
            t.set_pid(INIT, pid);
        }
        let (events, id) = (self.events.clone(), self.id.clone());
        let watched = super::oom::watch(pid, move || {
            let mut ev = TaskOOM::new();
            ev.container_id = id.clone();
            events.publish(&ev);
        });
        if let Err(e) = watched {
            crate::v2::log(&format!("{}: no OOM notices: {e}", self.id));
        }
        let mut ev = TaskCreate::new();
        ev.container_id = self.id.clone();
        ev.bundle = self.bundle.display().to_string();
        let mut tio = TaskIO::new();
        tio.stdin = req.stdin;
        tio.stdout = req.stdout;
        tio.stderr = req.stderr;
        tio.terminal = req.terminal;
        ev.io = MessageField::some(tio);
        ev.checkpoint = req.checkpoint;
        ev.pid = pid as u32;
        self.events.publish(&ev);
        let mut r = api::CreateTaskResponse::new();
        r.pid = pid as u32;
        Ok(r)
    }

    fn start(&self, _: &TtrpcContext, req: api::StartRequest) -> ttrpc::Result<api::StartResponse> {
        let pid = if req.exec_id.is_empty() {
            self.start_init()?
        } else {
            self.start_exec(&req.exec_id)?
        };
        let mut r = api::StartResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn delete(
        &self,
        _: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> ttrpc::Result<api::DeleteResponse> {
        let (pid, exit) = self.exit_of(&req.exec_id)?;
        let live = pid != 0 && exit.is_none();
        if req.exec_id.is_empty() {
            let created = self.with_proc(INIT, |p| p.status == Status::Created)?;
            if live && !created {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("cannot delete running container {}", self.id),
                ));
            }
            let rt = self.runtime()?;
            if let Err(e) = rt.delete(self.monitor()?, &self.id, true) {
                crate::v2::log(&format!("delete {}: {e}", self.id));
            }
            mount::unmount_all(&self.rootfs());
        } else if live {
            return Err(status(
                Code::FAILED_PRECONDITION,
                format!("cannot delete running exec {}", req.exec_id),
            ));
        }
        let removed = self.table().procs.remove(&req.exec_id);
        // A Wait on a process that never started (its exec failed) would
        // otherwise block forever: it now finds the process gone.
        self.exited.notify_all();
        if let Some(p) = &removed {
            if let Some(io) = &p.io {
                io.close_stdin();
            }
        }
        let x = exit.unwrap_or(Exited {
            code: 0,
            at: SystemTime::now(),
        });
        if req.exec_id.is_empty() {
            let mut ev = TaskDelete::new();
            ev.container_id = self.id.clone();
            ev.id = self.id.clone();
            ev.pid = pid;
            ev.exit_status = x.code;
            ev.exited_at = ts_field(x.at);
            self.events.publish(&ev);
        }
        let mut r = api::DeleteResponse::new();
        r.pid = pid;
        r.exit_status = x.code;
        r.exited_at = ts_field(x.at);
        Ok(r)
    }

    fn pids(&self, _: &TtrpcContext, _: api::PidsRequest) -> ttrpc::Result<api::PidsResponse> {
        let pids = self
            .runtime()?
            .ps(self.monitor()?, &self.id)
            .map_err(unknown)?;
        let mut r = api::PidsResponse::new();
        r.processes = pids
            .into_iter()
            .map(|pid| {
                let mut p = ProcessInfo::new();
                p.pid = pid as u32;
                p
            })
            .collect();
        Ok(r)
    }

    fn pause(&self, _: &TtrpcContext, _: api::PauseRequest) -> ttrpc::Result<Empty> {
        self.runtime()?
            .pause(self.monitor()?, &self.id)
            .map_err(unknown)?;
        self.table().transition(INIT, Status::Paused);
        let mut ev = TaskPaused::new();
        ev.container_id = self.id.clone();
        self.events.publish(&ev);
        Ok(Empty::new())
    }

    fn resume(&self, _: &TtrpcContext, _: api::ResumeRequest) -> ttrpc::Result<Empty> {
        self.runtime()?
            .resume(self.monitor()?, &self.id)
            .map_err(unknown)?;
        self.table().transition(INIT, Status::Running);
        let mut ev = TaskResumed::new();
        ev.container_id = self.id.clone();
        self.events.publish(&ev);
        Ok(Empty::new())
    }

    fn kill(&self, _: &TtrpcContext, req: api::KillRequest) -> ttrpc::Result<Empty> {
        let (pid, exit) = self.exit_of(&req.exec_id)?;
        if exit.is_some() {
            return Err(status(Code::NOT_FOUND, "process already finished"));
        }
        if req.exec_id.is_empty() {
            self.runtime()?
                .kill(self.monitor()?, &self.id, req.signal as i32, req.all)
                .map_err(unknown)?;
        } else {
            if pid == 0 {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} not started", req.exec_id),
                ));
            }
            let sig = nix::sys::signal::Signal::try_from(req.signal as i32).map_err(unknown)?;
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).map_err(unknown)?;
        }
        Ok(Empty::new())
    }

    fn exec(&self, _: &TtrpcContext, req: api::ExecProcessRequest) -> ttrpc::Result<Empty> {
        let mut t = self.table();
        if !t.procs.contains_key(INIT) {
            return Err(status(
                Code::NOT_FOUND,
                format!("container {} not created", self.id),
            ));
        }
        if t.procs.contains_key(&req.exec_id) {
            return Err(status(
                Code::ALREADY_EXISTS,
                format!("id {} already exists", req.exec_id),
            ));
        }
        let mut p = Proc::new(
            &req.exec_id,
            Stdio {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
            },
        );
        // The Any holds the runtime-spec Process as JSON, which is what
        // the runtime's `exec --process` reads.
        p.spec = Some(req.spec.value.clone());
        t.procs.insert(req.exec_id.clone(), p);
        drop(t);
        let mut ev = TaskExecAdded::new();
        ev.container_id = self.id.clone();
        ev.exec_id = req.exec_id;
        self.events.publish(&ev);
        Ok(Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: api::ResizePtyRequest) -> ttrpc::Result<Empty> {
        let io = self.with_proc(&req.exec_id, |p| p.io.clone())?;
        if let Some(io) = io {
            io.resize(req.width as u16, req.height as u16)
                .map_err(unknown)?;
        }
        Ok(Empty::new())
    }

    fn close_io(&self, _: &TtrpcContext, req: api::CloseIORequest) -> ttrpc::Result<Empty> {
        let io = self.with_proc(&req.exec_id, |p| p.io.clone())?;
        if let (Some(io), true) = (io, req.stdin) {
            io.close_stdin();
        }
        Ok(Empty::new())
    }

    fn update(&self, _: &TtrpcContext, req: api::UpdateTaskRequest) -> ttrpc::Result<Empty> {
        // A runtime-spec LinuxResources as JSON, what `update -r -` reads.
        self.runtime()?
            .update(self.monitor()?, &self.id, &req.resources.value)
            .map_err(unknown)?;
        Ok(Empty::new())
    }

    fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> ttrpc::Result<api::WaitResponse> {
        let (x, io) = {
            let mut t = self.table();
            loop {
                match t.procs.get(&req.exec_id) {
                    None => return Err(status(Code::NOT_FOUND, "process not found")),
                    Some(p) => {
                        if let Some(x) = p.exit {
                            break (x, p.io.clone());
                        }
                    }
                }
                t = self.exited.wait(t).unwrap_or_else(|e| e.into_inner());
            }
        };
        if let Some(io) = io {
            io.wait_drained(DRAIN);
        }
        let mut r = api::WaitResponse::new();
        r.exit_status = x.code;
        r.exited_at = ts_field(x.at);
        Ok(r)
    }

    fn stats(&self, _: &TtrpcContext, _: api::StatsRequest) -> ttrpc::Result<api::StatsResponse> {
        let v = self
            .runtime()?
            .stats(self.monitor()?, &self.id)
            .map_err(unknown)?;
        let mut r = api::StatsResponse::new();
        r.stats = MessageField::some(super::stats::metrics_any(&v, self.hierarchy));
        Ok(r)
    }

    fn connect(
        &self,
        _: &TtrpcContext,
        _: api::ConnectRequest,
    ) -> ttrpc::Result<api::ConnectResponse> {
        let mut r = api::ConnectResponse::new();
        r.shim_pid = std::process::id();
        r.task_pid = self
            .table()
            .procs
            .get(INIT)
            .map(|p| p.pid as u32)
            .unwrap_or(0);
        r.version = env!("CARGO_PKG_VERSION").to_string();
        Ok(r)
    }

    fn shutdown(&self, _: &TtrpcContext, _: api::ShutdownRequest) -> ttrpc::Result<Empty> {
        // Like runc's shim: stay while the container exists.
        if self.table().procs.contains_key(INIT) {
            return Ok(Empty::new());
        }
        self.request_shutdown();
        Ok(Empty::new())
    }
}
