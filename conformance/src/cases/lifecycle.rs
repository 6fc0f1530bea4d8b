//! runtime.md operations seen from the host: the create/start/stopped/delete
//! lifecycle, errors for invalid transitions and unknown ids, the state JSON
//! fields, --pid-file, list, kill by name and number, and delete rules.

use std::time::Duration;

use serde_json::Value;

use super::Case;
use crate::driver::ctx::{ensure, CaseResult, Ctx, Verdict};
use crate::driver::host::pid_alive;
use crate::driver::runtime::CreateOpts;
use crate::driver::spec;

const GO_FILE: &str = "/conformance/go";

pub fn cases() -> Vec<Case> {
    vec![
        Case::host(
            "lifecycle/create-start-exit-delete",
            wait_for_go,
            full_lifecycle,
        ),
        Case::host("lifecycle/duplicate-id-fails", wait_for_go, duplicate_id),
        Case::host("lifecycle/unknown-id-fails", wait_for_go, unknown_id),
        Case::host("state/fields", with_annotations, state_fields),
        Case::host("state/pid-file", wait_for_go, pid_file),
        Case::host(
            "kill/by-name",
            |c| trap_signal(c, "TERM"),
            |c| kill_trapped(c, "TERM", "TERM"),
        ),
        Case::host(
            "kill/by-sig-prefixed-name",
            |c| trap_signal(c, "USR1"),
            |c| kill_trapped(c, "SIGUSR1", "USR1"),
        ),
        Case::host(
            "kill/by-number",
            |c| trap_signal(c, "USR2"),
            |c| kill_trapped(c, "12", "USR2"),
        ),
        Case::host("kill/sigkill-stops", sleep_forever, kill_stops),
        Case::host("kill/stopped-container-fails", wait_for_go, kill_stopped),
        Case::host("delete/running-needs-force", sleep_forever, delete_running),
    ]
}

/// The process waits until the driver creates /conformance/go, then exits 0.
fn wait_for_go(config: &mut Value) {
    spec::set_script(
        config,
        &format!("while [ ! -e {GO_FILE} ]; do sleep 0.05; done"),
    );
}

fn sleep_forever(config: &mut Value) {
    spec::set_script(config, "while :; do sleep 1; done");
}

fn with_annotations(config: &mut Value) {
    wait_for_go(config);
    spec::annotate(config, "org.berth.test/one", "1");
    spec::annotate(config, "org.berth.test/text", "hello world");
}

/// The process records which signal it trapped and exits. A trap is needed:
/// pid 1 of a pid namespace ignores signals it has no handler for.
fn trap_signal(config: &mut Value, sig: &str) {
    spec::set_script(config, &format!("trap 'echo {sig} > /conformance/trapped; exit 3' {sig}; touch /conformance/ready; while :; do sleep 0.05; done"));
}

fn release(ctx: &Ctx) -> CaseResult {
    let go = ctx.bundle.in_rootfs(GO_FILE);
    std::fs::write(&go, b"").map_err(|e| Verdict::Fail(format!("creating {}: {e}", go.display())))
}

fn state_pid(state: &Value) -> Result<i64, Verdict> {
    state["pid"]
        .as_i64()
        .filter(|p| *p > 0)
        .ok_or_else(|| Verdict::Fail(format!("state has no positive pid: {state}")))
}

const SHORT: Duration = Duration::from_secs(5);

fn full_lifecycle(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    let state = ctx.rt.state(&id)?;
    ensure(
        state["status"] == "created",
        format!("after create: status {}, want created", state["status"]),
    )?;
    let pid = state_pid(&state)?;
    ensure(
        pid_alive(pid),
        format!("state pid {pid} is not a live process after create"),
    )?;
    ensure(
        !ctx.bundle.in_rootfs("/conformance/go").exists(),
        "unexpected go file",
    )?;
    ctx.rt.start(&id)?;
    let state = ctx.rt.state(&id)?;
    ensure(
        state["status"] == "running",
        format!("after start: status {}, want running", state["status"]),
    )?;
    ensure(
        state_pid(&state)? == pid,
        "pid changed between create and start",
    )?;
    let again = ctx.rt.raw(&["start", &id])?;
    ensure(
        !again.status.success(),
        "start on a running container succeeded",
    )?;
    ensure(
        ctx.status(&id)? == "running",
        "a failed start changed the running container",
    )?;
    release(ctx)?;
    ctx.wait_status(&id, "stopped", SHORT)?;
    let again = ctx.rt.raw(&["start", &id])?;
    ensure(
        !again.status.success(),
        "start on a stopped container succeeded",
    )?;
    ctx.delete(&id, false)?;
    ensure(
        !ctx.rt.raw(&["state", &id])?.status.success(),
        "state succeeded after delete",
    )?;
    ensure(
        !ctx.rt.list()?.contains(&id),
        "list still shows the deleted container",
    )
}

fn duplicate_id(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    let pid = state_pid(&ctx.rt.state(&id)?)?;
    let second = ctx.rt.create(&id, &ctx.bundle.dir, &CreateOpts::default());
    ensure(second.is_err(), "create with an existing id succeeded")?;
    let state = ctx.rt.state(&id)?;
    ensure(
        state["status"] == "created" && state_pid(&state)? == pid,
        format!("the failed create changed the first container: {state}"),
    )
}

fn unknown_id(ctx: &mut Ctx) -> CaseResult {
    let ghost = format!("{}-never-created", ctx.id);
    for args in [
        vec!["state", &ghost],
        vec!["kill", &ghost, "KILL"],
        vec!["delete", &ghost],
        vec!["start", &ghost],
    ] {
        let out = ctx.rt.raw(&args)?;
        ensure(
            !out.status.success(),
            format!("`{}` on an unknown id exited 0", args.join(" ")),
        )?;
    }
    Ok(())
}

fn state_fields(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    let state = ctx.rt.state(&id)?;
    let version = state["ociVersion"].as_str().unwrap_or("");
    ensure(
        version.split('.').count() >= 3 && version.starts_with('1'),
        format!("ociVersion {version:?} is not a 1.x SemVer"),
    )?;
    ensure(
        state["id"] == id.as_str(),
        format!("id {} != {id}", state["id"]),
    )?;
    ensure(
        state["status"] == "created",
        format!("status {}", state["status"]),
    )?;
    state_pid(&state)?;
    let bundle = ctx
        .bundle
        .dir
        .canonicalize()
        .map_err(|e| Verdict::Fail(e.to_string()))?;
    let got = state["bundle"].as_str().unwrap_or("");
    ensure(
        got.starts_with('/'),
        format!("bundle {got:?} is not absolute"),
    )?;
    let got_canon = std::path::Path::new(got).canonicalize().unwrap_or_default();
    ensure(
        got_canon == bundle,
        format!("bundle {got:?} is not {}", bundle.display()),
    )?;
    ensure(
        state["annotations"] == ctx.config["annotations"],
        format!(
            "annotations {} != config's {}",
            state["annotations"], ctx.config["annotations"]
        ),
    )
}

fn pid_file(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    let path = ctx.bundle.dir.join("container.pid");
    ctx.create_as(
        &id,
        &CreateOpts {
            pid_file: Some(path.clone()),
            ..Default::default()
        },
    )?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Verdict::Fail(format!("pid file {}: {e}", path.display())))?;
    let pid = state_pid(&ctx.rt.state(&id)?)?;
    ensure(
        text.trim() == pid.to_string(),
        format!("pid file says {:?}, state says {pid}", text.trim()),
    )
}

fn kill_trapped(ctx: &mut Ctx, signal: &str, trapped: &str) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.start(&id)?;
    wait_file(ctx, "/conformance/ready")?;
    ctx.rt.kill(&id, signal)?;
    ctx.wait_status(&id, "stopped", SHORT)?;
    let got =
        std::fs::read_to_string(ctx.bundle.in_rootfs("/conformance/trapped")).unwrap_or_default();
    ensure(
        got.trim() == trapped,
        format!("process trapped {:?}, want {trapped}", got.trim()),
    )
}

fn wait_file(ctx: &Ctx, path: &str) -> CaseResult {
    let host = ctx.bundle.in_rootfs(path);
    let deadline = std::time::Instant::now() + SHORT;
    while !host.exists() {
        if std::time::Instant::now() > deadline {
            return Err(Verdict::Fail(format!("container never created {path}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn kill_stops(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.start(&id)?;
    let pid = state_pid(&ctx.rt.state(&id)?)?;
    ctx.rt.kill(&id, "KILL")?;
    ctx.wait_status(&id, "stopped", SHORT)?;
    ensure(!pid_alive(pid), format!("pid {pid} still alive after KILL"))
}

fn kill_stopped(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.start(&id)?;
    release(ctx)?;
    ctx.wait_status(&id, "stopped", SHORT)?;
    let out = ctx.rt.raw(&["kill", &id, "TERM"])?;
    ensure(
        !out.status.success(),
        "kill on a stopped container exited 0",
    )?;
    ensure(
        ctx.status(&id)? == "stopped",
        "kill changed a stopped container",
    )
}

fn delete_running(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.start(&id)?;
    let pid = state_pid(&ctx.rt.state(&id)?)?;
    let out = ctx.rt.raw(&["delete", &id])?;
    ensure(
        !out.status.success(),
        "delete of a running container without --force exited 0",
    )?;
    ensure(
        ctx.status(&id)? == "running",
        "the refused delete changed the container",
    )?;
    ctx.delete(&id, true)?;
    ensure(
        !ctx.rt.list()?.contains(&id),
        "list shows the force-deleted container",
    )?;
    ensure(
        !ctx.rt.raw(&["state", &id])?.status.success(),
        "state succeeded after delete --force",
    )?;
    ensure(
        !pid_alive(pid),
        format!("pid {pid} survived delete --force"),
    )
}
