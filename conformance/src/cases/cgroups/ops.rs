//! Negative resources cases (a value the kernel refuses fails create and
//! leaves no container) and the cgroup verbs: `pause`/`resume` (state and the
//! freezer file), `ps --format json` and `events --stats`.

use std::time::Duration;

use serde_json::{json, Value};

use super::{merge_resources, with_cgroupns, Host};
use crate::cases::Case;
use crate::cgroup;
use crate::driver::ctx::{ensure, CaseResult, Ctx, Verdict};
use crate::driver::spec;

pub fn cases() -> Vec<Case> {
    vec![
        Case::host(
            "cgroups/refused-cpus-not-on-host",
            |c| refused(c, json!({"cpu": {"cpus": "1023"}})),
            |c| create_refused(c, "cpuset", false),
        ),
        Case::host(
            "cgroups/refused-mems-not-on-host",
            |c| refused(c, json!({"cpu": {"mems": "63"}})),
            |c| create_refused(c, "cpuset", false),
        ),
        Case::host(
            "cgroups/refused-cpu-period-below-minimum",
            |c| refused(c, json!({"cpu": {"quota": 500, "period": 500}})),
            |c| create_refused(c, "cpu", false),
        ),
        Case::host(
            "cgroups/refused-rt-runtime-over-period",
            |c| {
                refused(
                    c,
                    json!({"cpu": {"realtimePeriod": 100000, "realtimeRuntime": 200000}}),
                )
            },
            |c| create_refused(c, "cpu", true),
        ),
        Case::host("cgroups/pause-resume", sleep_forever, pause_resume),
        Case::host("cgroups/ps-json-lists-init", sleep_forever, ps_json),
        Case::host("cgroups/events-stats", sleep_forever, events_stats),
        Case::host(
            "cgroups/delete-removes-cgroup",
            sleep_forever,
            delete_removes_cgroup,
        ),
    ]
}

fn refused(config: &mut Value, resources: Value) {
    with_cgroupns(config);
    merge_resources(config, &resources);
}

fn sleep_forever(config: &mut Value) {
    spec::set_script(config, "while :; do sleep 1; done");
}

/// create must fail, and neither `list` nor `state` may show the container.
/// Skipped without the controller, where a refusal would prove nothing about
/// the value.
fn create_refused(ctx: &mut Ctx, controller: &str, v1_only: bool) -> CaseResult {
    let host = Host::detect();
    if v1_only && host.v2 {
        return Err(Verdict::Skip(
            "real-time limits have no cgroup v2 interface".into(),
        ));
    }
    host.need(controller, controller)?;
    if ctx.create().is_ok() {
        return Err(Verdict::Fail(
            "create succeeded with a value the kernel refuses".into(),
        ));
    }
    let id = ctx.id.clone();
    let listed = ctx.rt.list()?;
    ensure(
        !listed.contains(&id),
        format!("the failed container is still listed: {listed:?}"),
    )?;
    ensure(
        ctx.rt.state(&id).is_err(),
        "state still answers for the failed container",
    )
}

/// create + start a long-running container; returns its host pid.
fn start_running(ctx: &mut Ctx) -> Result<i64, Verdict> {
    let id = ctx.id.clone();
    ctx.create()?;
    ctx.rt.start(&id)?;
    let state = ctx.wait_status(&id, "running", Duration::from_secs(5))?;
    state["pid"]
        .as_i64()
        .ok_or_else(|| Verdict::Fail(format!("state has no pid: {state}")))
}

/// The host directory of a process's cgroup for `v1` (the v2 one on v2).
fn host_cgroup_dir(host: &Host, pid: i64, v1: &str) -> Result<String, Verdict> {
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Verdict::Fail(format!("/proc/{pid}/cgroup: {e}")))?;
    cgroup::own_dir(&proc_cgroup, &host.mounts, &host.ctl(v1))
        .map_err(|e| Verdict::Fail(format!("finding the container's cgroup: {e}")))
}

/// The container's freezer file on the host and the values it shows frozen
/// and thawed.
fn freezer_file(pid: i64) -> Result<(String, &'static str, &'static str), Verdict> {
    let host = Host::detect();
    let (file, frozen, thawed) = if host.v2 {
        ("cgroup.freeze", "1", "0")
    } else {
        ("freezer.state", "FROZEN", "THAWED")
    };
    let dir = host_cgroup_dir(&host, pid, "freezer")?;
    Ok((format!("{dir}/{file}"), frozen, thawed))
}

fn read_squashed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| cgroup::squash(&s))
        .unwrap_or_else(|e| format!("error: {e}"))
}

fn pause_resume(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    let pid = start_running(ctx)?;
    let (file, frozen, thawed) = freezer_file(pid)?;
    ctx.rt.ok(&["pause", &id])?;
    ensure(
        ctx.status(&id)? == "paused",
        format!("status after pause is {}", ctx.status(&id)?),
    )?;
    let seen = read_squashed(&file);
    ensure(
        seen == frozen,
        format!("{file} after pause: {seen} (wanted {frozen})"),
    )?;
    let stat = procfs_state(pid);
    ctx.rt.ok(&["resume", &id])?;
    ensure(
        ctx.status(&id)? == "running",
        format!("status after resume is {}", ctx.status(&id)?),
    )?;
    let seen = read_squashed(&file);
    ensure(
        seen == thawed,
        format!("{file} after resume: {seen} (wanted {thawed})"),
    )?;
    // A frozen task sleeps in the freezer (state D or S), never runs.
    ensure(
        stat.as_deref() != Some("R"),
        format!("the init process was running while paused ({stat:?})"),
    )?;
    ctx.delete(&id, true)
}

fn procfs_state(pid: i64) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().next().map(String::from)
}

fn ps_json(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.id.clone();
    let pid = start_running(ctx)?;
    let out = ctx.rt.ok(&["ps", "--format", "json", &id])?;
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim())
        .map_err(|e| Verdict::Fail(format!("ps --format json printed {:?}: {e}", out.stdout)))?;
    ensure(
        pids.contains(&pid),
        format!("ps lists {pids:?}, not the init pid {pid}"),
    )?;
    ctx.delete(&id, true)
}

fn events_stats(ctx: &mut Ctx) -> CaseResult {
    Host::detect().need("pids", "pids")?;
    let id = ctx.id.clone();
    start_running(ctx)?;
    let out = ctx.rt.ok(&["events", "--stats", &id])?;
    let line = out
        .stdout
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let v: Value = serde_json::from_str(line)
        .map_err(|e| Verdict::Fail(format!("events --stats printed {line:?}: {e}")))?;
    ensure(v["type"] == "stats", format!("event type is {}", v["type"]))?;
    ensure(v["id"] == id.as_str(), format!("event id is {}", v["id"]))?;
    let current = v["data"]["pids"]["current"].as_u64().unwrap_or(0);
    ensure(
        current >= 1,
        format!("data.pids.current is {}", v["data"]["pids"]["current"]),
    )?;
    ctx.delete(&id, true)
}

/// `delete --force` removes the container's cgroup (on v1 checked in the
/// pids hierarchy, which every runtime must use for `events --stats`).
fn delete_removes_cgroup(ctx: &mut Ctx) -> CaseResult {
    let host = Host::detect();
    if !host.v2 {
        host.need("pids", "pids")?;
    }
    let id = ctx.id.clone();
    let pid = start_running(ctx)?;
    let dir = host_cgroup_dir(&host, pid, "pids")?;
    ensure(
        std::path::Path::new(&dir).is_dir(),
        format!("the container's cgroup {dir} is not a directory"),
    )?;
    ctx.delete(&id, true)?;
    // rmdir only succeeds once the last task has left, so the runtime must
    // wait for the kill to land before removing the cgroup.
    ensure(
        !std::path::Path::new(&dir).exists(),
        format!("{dir} is still there after delete --force"),
    )
}
