//! POSIX-platform hooks (config.md): each of the six kinds is called at its
//! point of the lifecycle, in order, with the state on stdin, its own args and
//! env only, in the right namespace; failures of the create-time hooks abort
//! create, of startContainer abort start, of poststop are only warnings.
//! (A failing poststart is not tested: spec 1.0 made it a warning, later
//! versions an error.)
//!
//! Every hook is busybox sh appending one `|`-separated line to one log file in
//! the rootfs: host-side hooks write it by host path, startContainer (whose path
//! resolves inside the container) by container path.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Case, Run};
use crate::driver::ctx::{ensure, CaseResult, Ctx, Verdict};
use crate::driver::runtime::LEAK_MARKER;
use crate::driver::spec;

const LOG_IN_ROOTFS: &str = "/hooks.log";
const KINDS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// `$1` is the second extra arg: it proves args reach the hook as argv.
fn script() -> String {
    format!(
        "state=$(cat); printf '%s|%s|%s|%s|%s\\n' \"$HOOK_NAME\" \"$1\" \"${{{LEAK_MARKER}-unset}}\" \"$(readlink /proc/self/ns/mnt)\" \"$state\" >> \"$HOOK_LOG\""
    )
}

fn hook(ctx: &Ctx, kind: &str, body: &str) -> Value {
    let log = if kind == "startContainer" {
        LOG_IN_ROOTFS.to_string()
    } else {
        ctx.rootfs_path(LOG_IN_ROOTFS)
    };
    json!({
        "path": "/bin/busybox",
        "args": ["busybox", "sh", "-c", body, "hook-arg0", "hook-arg1"],
        "env": ["PATH=/bin:/usr/bin", format!("HOOK_NAME={kind}"), format!("HOOK_LOG={log}")],
    })
}

/// Installs a logging hook of every kind, and a failing one of `failing`.
fn install(ctx: &mut Ctx, failing: Option<&str>) -> CaseResult {
    let mut hooks = json!({});
    for kind in KINDS {
        hooks[*kind] = json!([hook(ctx, kind, &script())]);
        if failing == Some(*kind) {
            spec::push(&mut hooks[*kind], hook(ctx, kind, "exit 7"));
        }
    }
    ctx.config["hooks"] = hooks;
    Ok(())
}

pub fn cases() -> Vec<Case> {
    let logging: Option<fn(&mut Ctx) -> CaseResult> = Some(|c| install(c, None));
    vec![
        Case {
            name: "hooks/create-runs-create-time-hooks-in-order",
            mutate: wait_for_go,
            setup: logging,
            run: Run::Host(create_time),
        },
        Case {
            name: "hooks/startContainer-runs-before-user-process",
            mutate: probe_start_hook,
            setup: logging,
            run: Run::Host(start_container),
        },
        Case {
            name: "hooks/poststart-runs-in-start",
            mutate: wait_for_go,
            setup: logging,
            run: Run::Host(poststart),
        },
        Case {
            name: "hooks/poststop-runs-in-delete",
            mutate: wait_for_go,
            setup: logging,
            run: Run::Host(poststop),
        },
        Case {
            name: "hooks/prestart-failure-aborts-create",
            mutate: mark_ran,
            setup: Some(|c| install(c, Some("prestart"))),
            run: Run::Host(create_aborts),
        },
        Case {
            name: "hooks/createRuntime-failure-aborts-create",
            mutate: mark_ran,
            setup: Some(|c| install(c, Some("createRuntime"))),
            run: Run::Host(create_aborts),
        },
        Case {
            name: "hooks/createContainer-failure-aborts-create",
            mutate: mark_ran,
            setup: Some(|c| install(c, Some("createContainer"))),
            run: Run::Host(create_aborts),
        },
        Case {
            name: "hooks/startContainer-failure-aborts-start",
            mutate: mark_ran,
            setup: Some(|c| install(c, Some("startContainer"))),
            run: Run::Host(start_aborts),
        },
        Case {
            name: "hooks/poststop-failure-is-a-warning",
            mutate: wait_for_go,
            setup: Some(|c| install(c, Some("poststop"))),
            run: Run::Host(poststop_warns),
        },
    ]
}

fn wait_for_go(config: &mut Value) {
    spec::set_script(config, "while [ ! -e /go ]; do sleep 0.05; done");
}

/// The user process itself reports whether startContainer had already run
/// (written aside and renamed, so the driver never reads a half-written file).
fn probe_start_hook(config: &mut Value) {
    spec::set_script(config, &format!("if grep -q '^startContainer|' {LOG_IN_ROOTFS}; then echo yes; else echo no; fi > /saw-hook.tmp; mv /saw-hook.tmp /saw-hook; while [ ! -e /go ]; do sleep 0.05; done"));
}

fn mark_ran(config: &mut Value) {
    spec::set_script(config, "touch /ran");
}

fn release(ctx: &Ctx) -> CaseResult {
    std::fs::write(ctx.bundle.in_rootfs("/go"), b"").map_err(|e| Verdict::Fail(e.to_string()))
}

fn find<'e>(log: &'e [Entry], kind: &str) -> Result<&'e Entry, Verdict> {
    log.iter()
        .find(|e| e.kind == kind)
        .ok_or_else(|| Verdict::Fail(format!("{kind} hook did not run (ran: {:?})", kinds(log))))
}

/// The status a hook may see. The spec's states are creating, created,
/// running and stopped, and runtimes MAY add their own for other moments.
#[derive(Debug, Clone, Copy)]
enum Status {
    /// prestart/createRuntime/createContainer run while create is under way,
    /// which the spec calls `creating`; `created` ("after step 2", the
    /// environment exists) is an accepted reading too (crun uses it).
    DuringCreate,
    /// startContainer runs before the user program: not yet `running`, so
    /// `created` or a runtime-defined state (crun says `starting`).
    BeforeUserProgram,
    Running,
    Stopped,
}

impl Status {
    fn accepts(self, got: &str) -> bool {
        const SPEC: [&str; 4] = ["creating", "created", "running", "stopped"];
        match self {
            Status::DuringCreate => matches!(got, "creating" | "created"),
            Status::BeforeUserProgram => got == "created" || !SPEC.contains(&got),
            Status::Running => got == "running",
            Status::Stopped => got == "stopped",
        }
    }
}

/// One parsed log line.
struct Entry {
    kind: String,
    arg: String,
    leak: String,
    mnt_ns: String,
    state: Value,
}

fn read_log(ctx: &Ctx) -> Result<Vec<Entry>, Verdict> {
    let text = std::fs::read_to_string(ctx.bundle.in_rootfs(LOG_IN_ROOTFS)).unwrap_or_default();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, '|').collect();
            let [kind, arg, leak, mnt_ns, state] = f[..] else {
                return Err(Verdict::Fail(format!("bad hook log line {l:?}")));
            };
            let state = serde_json::from_str(state).map_err(|e| {
                Verdict::Fail(format!(
                    "{kind}: state on stdin is not JSON ({e}): {state:?}"
                ))
            })?;
            Ok(Entry {
                kind: kind.into(),
                arg: arg.into(),
                leak: leak.into(),
                mnt_ns: mnt_ns.into(),
                state,
            })
        })
        .collect()
}

fn kinds(log: &[Entry]) -> Vec<&str> {
    log.iter().map(|e| e.kind.as_str()).collect()
}

/// What one hook must have seen. `pid: None` skips the pid (poststop: the
/// process is gone and the spec makes pid optional then).
fn check_entry(
    e: &Entry,
    ctx: &Ctx,
    status: Status,
    pid: Option<i64>,
    in_container: bool,
) -> CaseResult {
    let k = &e.kind;
    ensure(
        e.arg == "hook-arg1",
        format!("{k}: argv[1..] not passed: $1={:?}", e.arg),
    )?;
    ensure(
        e.leak == "unset",
        format!(
            "{k}: inherited the runtime's environment ({LEAK_MARKER}={})",
            e.leak
        ),
    )?;
    ensure(
        e.state["id"] == ctx.id.as_str(),
        format!("{k}: state id {}", e.state["id"]),
    )?;
    let got_status = e.state["status"].as_str().unwrap_or("<missing>");
    ensure(
        status.accepts(got_status),
        format!("{k}: state status {got_status:?}, want {status:?}"),
    )?;
    let bundle = ctx.bundle.dir.canonicalize().unwrap_or_default();
    let got = std::path::Path::new(e.state["bundle"].as_str().unwrap_or(""))
        .canonicalize()
        .unwrap_or_default();
    ensure(
        got == bundle,
        format!("{k}: state bundle {}", e.state["bundle"]),
    )?;
    if let Some(pid) = pid {
        ensure(
            e.state["pid"] == pid,
            format!("{k}: state pid {}, want {pid}", e.state["pid"]),
        )?;
    }
    let host_mnt = format!("mnt:[{}]", ctx.host_ns.get("mnt").copied().unwrap_or(0));
    let where_ = if in_container { "container" } else { "runtime" };
    ensure(
        (e.mnt_ns == host_mnt) != in_container,
        format!(
            "{k}: ran in mount ns {} (host {host_mnt}), want the {where_} namespace",
            e.mnt_ns
        ),
    )
}

fn create_time(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    let pid = ctx.rt.state(&id)?["pid"].as_i64().unwrap_or(-1);
    let log = read_log(ctx)?;
    let first: Vec<&str> = kinds(&log).into_iter().take(3).collect();
    ensure(
        first == ["prestart", "createRuntime", "createContainer"],
        format!("create ran the hooks as {:?}", kinds(&log)),
    )?;
    check_entry(&log[0], ctx, Status::DuringCreate, Some(pid), false)?;
    check_entry(&log[1], ctx, Status::DuringCreate, Some(pid), false)?;
    // In the container namespace the pid is the one the container sees: 1,
    // since the config asks for a new pid namespace.
    check_entry(&log[2], ctx, Status::DuringCreate, Some(1), true)
}

fn start_container(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ensure(
        find(&read_log(ctx)?, "startContainer").is_err(),
        "startContainer ran during create",
    )?;
    ctx.rt.start(&id)?;
    let saw = ctx.bundle.in_rootfs("/saw-hook");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !saw.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = std::fs::read_to_string(&saw).unwrap_or_default();
    ensure(
        got.trim() == "yes",
        format!(
            "the user process ran before the startContainer hook (saw {:?})",
            got.trim()
        ),
    )?;
    check_entry(
        find(&read_log(ctx)?, "startContainer")?,
        ctx,
        Status::BeforeUserProgram,
        Some(1),
        true,
    )
}

fn poststart(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ensure(
        find(&read_log(ctx)?, "poststart").is_err(),
        "poststart ran during create, before the user process was started",
    )?;
    ctx.rt.start(&id)?;
    let pid = ctx.rt.state(&id)?["pid"].as_i64().unwrap_or(-1);
    check_entry(
        find(&read_log(ctx)?, "poststart")
            .map_err(|_| Verdict::Fail("poststart had not run when start returned".into()))?,
        ctx,
        Status::Running,
        Some(pid),
        false,
    )
}

fn poststop(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.start(&id)?;
    release(ctx)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    ensure(
        find(&read_log(ctx)?, "poststop").is_err(),
        "poststop ran before delete",
    )?;
    ctx.delete(&id, false)?;
    let log = read_log(ctx)?;
    ensure(
        kinds(&log).last() == Some(&"poststop"),
        format!("after delete the hooks ran as {:?}", kinds(&log)),
    )?;
    check_entry(find(&log, "poststop")?, ctx, Status::Stopped, None, false)
}

fn create_aborts(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ensure(
        ctx.create().is_err(),
        "create succeeded although a hook failed",
    )?;
    ensure(
        !ctx.rt.list()?.contains(&id),
        "the failed create left a container in list",
    )?;
    ensure(
        !ctx.rt.raw(&["state", &id])?.status.success(),
        "state succeeded for the failed container",
    )?;
    ensure(
        !ctx.bundle.in_rootfs("/ran").exists(),
        "the user process ran",
    )
}

/// The spec asks for an error, a stopped container and no user program. How
/// an error is reported is left open (runtime.md "Errors"), and runc and crun
/// both run startContainer after `start` has returned, so start's exit status
/// is not asserted: the container must end up stopped without running.
fn start_aborts(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.raw(&["start", &id])?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let stopped = loop {
        let state = ctx.rt.raw(&["state", &id])?;
        if !state.status.success() || state.stdout.contains("\"stopped\"") {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    ensure(
        stopped,
        "the container was not stopped after startContainer failed",
    )?;
    ensure(
        !ctx.bundle.in_rootfs("/ran").exists(),
        "the user process ran after startContainer failed",
    )
}

fn poststop_warns(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.start(&id)?;
    release(ctx)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let out = ctx.rt.raw(&["delete", &id])?;
    ensure(
        out.status.success(),
        format!(
            "delete failed because a poststop hook failed: {}",
            out.stderr.trim()
        ),
    )?;
    ensure(
        !ctx.rt.list()?.contains(&id),
        "the container is still listed",
    )?;
    let log = read_log(ctx)?;
    ensure(
        kinds(&log).last() == Some(&"poststop"),
        format!("hooks ran as {:?}", kinds(&log)),
    )
}
