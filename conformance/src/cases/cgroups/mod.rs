//! config-linux.md "Control groups": every linux.resources field (devices are
//! in `devices.rs`) checked from inside the container in the cgroup files the
//! kernel shows, after create and again after `<runtime> update`; negative
//! cases (values the kernel refuses fail create and leave no container); and
//! the cgroup verbs `pause`/`resume`, `ps` and `events --stats`.
//!
//! A resources case is a [`PlanFn`]: given the host's cgroup facts it returns
//! the resources to configure and the expected file values for that cgroup
//! version (or skips with a reason). The container gets a cgroup namespace and
//! the default read-only cgroup mount; the checker finds its own directory
//! through /proc/self/cgroup and mountinfo (`crate::cgroup::own_dir`).
//!
//! The update handshake: the checker blocks SIGUSR1, runs its first pass,
//! creates [`READY_FILE`] and waits; the driver then runs `update` and
//! `kill <id> USR1`, and the checker compares the second list.

mod ops;
mod table;

use std::collections::BTreeSet;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Case;
use crate::cgroup::{Expect, ANN_CGROUP_EXPECT, ANN_CGROUP_EXPECT_UPDATE, READY_FILE};
use crate::driver::ctx::{judge_checker_output, CaseResult, Ctx, Verdict, RUN_TIMEOUT};
use crate::driver::spec;
use crate::procfs::{self, MountInfo};

pub type PlanFn = fn(&mut Ctx, &Host) -> Result<Plan, Verdict>;

/// What one resources case configures and expects.
pub struct Plan {
    /// Merged into `linux.resources` (the default device rules stay).
    pub resources: Value,
    pub expect: Vec<Expect>,
    pub update: Option<Update>,
}

pub struct Update {
    pub how: UpdateHow,
    pub expect: Vec<Expect>,
}

pub enum UpdateHow {
    /// `update --resources <file>` with this LinuxResources JSON.
    Resources(Value),
    /// `update <flags...>` (runc's per-field flags).
    Flags(Vec<String>),
}

/// The host's cgroup facts, as the driver sees them.
pub struct Host {
    /// Unified mode: /sys/fs/cgroup is cgroup2. A hybrid host counts as v1,
    /// which is how runc treats it.
    pub v2: bool,
    /// v1: subsystems mounted as cgroup v1; v2: the root's cgroup.controllers.
    pub controllers: BTreeSet<String>,
    /// Where each v1 subsystem is mounted (v2: "" → /sys/fs/cgroup).
    pub mounts: Vec<MountInfo>,
    /// Online CPUs and memory nodes in kernel list syntax (`0-1`).
    pub cpus: String,
    pub mems: String,
    /// Huge page sizes as cgroup file names spell them (`2MB`, `1GB`).
    pub hugepages: Vec<(String, u64)>,
}

impl Host {
    pub fn detect() -> Host {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|t| procfs::parse_mountinfo(&t).ok())
            .unwrap_or_default();
        let v2 = mounts
            .iter()
            .any(|m| m.mount_point == "/sys/fs/cgroup" && m.fstype == "cgroup2");
        let controllers = if v2 {
            read_trimmed("/sys/fs/cgroup/cgroup.controllers")
                .split_whitespace()
                .map(String::from)
                .collect()
        } else {
            mounts
                .iter()
                .filter(|m| m.fstype == "cgroup")
                .flat_map(|m| m.super_opts.iter().cloned())
                .collect()
        };
        Host {
            v2,
            controllers,
            mounts,
            cpus: read_trimmed("/sys/devices/system/cpu/online"),
            mems: non_empty(read_trimmed("/sys/devices/system/node/online"), "0"),
            hugepages: hugepage_sizes(),
        }
    }

    /// The controller name for an expectation: the v1 subsystem, or "" on v2.
    pub fn ctl(&self, v1: &str) -> String {
        if self.v2 {
            String::new()
        } else {
            v1.to_string()
        }
    }

    /// Skips unless the controller is available (`v1` and `v2` names).
    pub fn need(&self, v1: &str, v2: &str) -> Result<(), Verdict> {
        let (name, version) = if self.v2 { (v2, "v2") } else { (v1, "v1") };
        if self.controllers.contains(name) {
            Ok(())
        } else {
            Err(Verdict::Skip(format!(
                "the {name} controller is not available on cgroup {version} on this host"
            )))
        }
    }

    /// A file in the host's root cgroup of a v1 subsystem (or the v2 root).
    pub fn root_file(&self, v1: &str, file: &str) -> Option<String> {
        if self.v2 {
            return Some(format!("/sys/fs/cgroup/{file}"));
        }
        self.mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == v1))
            .map(|m| format!("{}/{file}", m.mount_point))
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn non_empty(s: String, default: &str) -> String {
    if s.is_empty() {
        default.to_string()
    } else {
        s
    }
}

/// `hugepages-2048kB` → `("2MB", 2097152)`, as the hugetlb controller names them.
fn hugepage_sizes() -> Vec<(String, u64)> {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<(String, u64)> = dir
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((hugetlb_name(kb), kb * 1024))
        })
        .collect();
    sizes.sort_by_key(|(_, b)| *b);
    sizes
}

/// The kernel's hugetlb cgroup size label (mm/hugetlb_cgroup.c: GB, MB or KB).
pub fn hugetlb_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

pub fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = table::TABLE
        .iter()
        .map(|(name, plan)| Case::cgroup(name, *plan))
        .collect();
    cases.extend(ops::cases());
    cases
}

/// Gives the container its own cgroup namespace, so the default cgroup mount
/// shows its own cgroup as the root.
pub fn with_cgroupns(config: &mut Value) {
    spec::set_namespace(config, "cgroup", None);
}

/// Adds `resources` to `linux.resources`, keeping the device rules.
pub fn merge_resources(config: &mut Value, resources: &Value) {
    if let Some(obj) = resources.as_object() {
        for (k, v) in obj {
            config["linux"]["resources"][k] = v.clone();
        }
    }
}

/// Runs one resources case.
pub fn run(ctx: &mut Ctx, plan_fn: PlanFn) -> CaseResult {
    let host = Host::detect();
    let plan = plan_fn(ctx, &host)?;
    with_cgroupns(&mut ctx.config);
    merge_resources(&mut ctx.config, &plan.resources);
    let encode = |e: &[Expect]| serde_json::to_string(e).unwrap_or_default();
    spec::annotate(&mut ctx.config, ANN_CGROUP_EXPECT, &encode(&plan.expect));
    let Some(update) = plan.update else {
        return ctx.run_checker();
    };
    spec::annotate(
        &mut ctx.config,
        ANN_CGROUP_EXPECT_UPDATE,
        &encode(&update.expect),
    );
    let id = ctx.id.clone();
    let io = ctx.create()?;
    ctx.rt.start(&id)?;
    let ready = ctx.bundle.in_rootfs(READY_FILE);
    wait_for_file(&ready, Duration::from_secs(10))?;
    let args: Vec<String> = match &update.how {
        UpdateHow::Resources(r) => {
            let file = ctx.bundle.dir.join("update.json");
            std::fs::write(&file, r.to_string())
                .map_err(|e| Verdict::Fail(format!("writing {}: {e}", file.display())))?;
            vec!["--resources".into(), file.display().to_string()]
        }
        UpdateHow::Flags(f) => f.clone(),
    };
    let mut argv: Vec<&str> = vec!["update"];
    argv.extend(args.iter().map(String::as_str));
    argv.push(&id);
    let updated = ctx.rt.ok(&argv);
    // Signalled even when update failed, so the checker reports what it sees.
    ctx.rt.kill(&id, "USR1")?;
    let (stdout, stderr) = io.collect(RUN_TIMEOUT).ok_or_else(|| {
        Verdict::Fail(format!(
            "container did not exit within {}s",
            RUN_TIMEOUT.as_secs()
        ))
    })?;
    let judged = judge_checker_output(&stdout, &stderr);
    if let Err(e) = updated {
        // The first pass still tells whether create applied the values.
        let seen = match judged {
            Ok(()) => "every check passed".to_string(),
            Err(Verdict::Fail(f) | Verdict::Skip(f)) => f,
        };
        return Err(Verdict::Fail(format!("{e}; checker: {seen}")));
    }
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    ctx.delete(&id, false)?;
    judged
}

fn wait_for_file(path: &Path, timeout: Duration) -> CaseResult {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(Verdict::Fail(format!(
                "the checker never created {READY_FILE} (first pass stuck or crashed)"
            )));
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A 16 MiB loop device for blockIO cases, detached at cleanup, with its
/// `(major, minor)`; `bfq` says whether the BFQ scheduler could be selected.
pub struct LoopDev {
    pub major: u64,
    pub minor: u64,
    pub bfq: bool,
}

pub fn loop_device(ctx: &mut Ctx) -> Result<LoopDev, Verdict> {
    use crate::driver::host;
    let image = ctx.bundle.dir.join("disk.img");
    let dev = host::attach_loop(&image, 16 << 20)
        .map_err(|e| Verdict::Skip(format!("no loop device for blockIO: {e}")))?;
    ctx.track_loop(dev.clone());
    let (major, minor) = host::dev_numbers(&dev)?;
    let name = dev
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sched = format!("/sys/block/{name}/queue/scheduler");
    let bfq = std::fs::write(&sched, "bfq").is_ok() && read_trimmed(&sched).contains("[bfq]");
    Ok(LoopDev { major, minor, bfq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugetlb_names_follow_the_kernel() {
        assert_eq!(hugetlb_name(2048), "2MB");
        assert_eq!(hugetlb_name(1048576), "1GB");
        assert_eq!(hugetlb_name(64), "64KB");
    }

    #[test]
    fn merge_keeps_device_rules() {
        let mut c = spec::default_config();
        merge_resources(&mut c, &serde_json::json!({"pids": {"limit": 3}}));
        assert_eq!(c["linux"]["resources"]["pids"]["limit"], 3);
        assert!(c["linux"]["resources"]["devices"].is_array());
    }
}
