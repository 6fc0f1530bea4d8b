//! cgroup v2 writes in runc's fs2 order (pids, memory, io, cpu, cpuset,
//! hugetlb, rdma, then `unified` verbatim, so it overrides), with v1 values
//! converted. Fields v2 has no file for are refused when they hold
//! anything but their default; runc drops most of them silently.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::common::{self, check_shares, reject_below_usage};
use super::convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2};
use super::{invalid, unsupported, Planner, ResourceError};

pub(super) fn plan(res: &LinuxResources, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    refuse_v1_only(res)?;
    if let Some(p) = res.pids() {
        common::pids(p, out);
    }
    if let Some(m) = res.memory() {
        memory(m, out)?;
    }
    if let Some(b) = res.block_io() {
        io(b, out)?;
    }
    if let Some(cpu) = res.cpu() {
        self::cpu(cpu, out)?;
        common::cpuset(cpu, out);
    }
    if let Some(h) = res.hugepage_limits() {
        common::hugetlb(h, "max", out)?;
    }
    if let Some(r) = res.rdma() {
        common::rdma(r, out)?;
    }
    if let Some(u) = res.unified() {
        for (key, value) in common::sorted(u) {
            let field = format!("unified.\"{key}\"");
            if key.is_empty() || key.contains('/') || key == "." || key == ".." {
                return Err(invalid(
                    field,
                    "unified resource must be a file name (no slashes)",
                ));
            }
            out.write("", key.clone(), value, field);
        }
    }
    Ok(())
}

/// v1-only knobs: an error naming the field unless the value is the
/// default (what podman and containerd send on v2 hosts passes).
fn refuse_v1_only(res: &LinuxResources) -> Result<(), ResourceError> {
    if let Some(m) = res.memory() {
        refuse_v1_memory(m)?;
    }
    if let Some(c) = res.cpu() {
        if c.realtime_runtime().is_some_and(|r| r != 0) {
            return Err(unsupported("cpu.realtimeRuntime", NO_RT));
        }
        if c.realtime_period().is_some_and(|p| p != 0) {
            return Err(unsupported("cpu.realtimePeriod", NO_RT));
        }
    }
    if let Some(b) = res.block_io() {
        if b.leaf_weight().is_some_and(|w| w != 0) {
            return Err(unsupported("blockIO.leafWeight", NO_LEAF));
        }
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            if d.leaf_weight().is_some_and(|w| w != 0) {
                return Err(unsupported(
                    format!("blockIO.weightDevice[{i}].leafWeight"),
                    NO_LEAF,
                ));
            }
        }
    }
    if let Some(n) = res.network() {
        if n.class_id().is_some_and(|id| id != 0) {
            return Err(unsupported(
                "network.classID",
                "cgroup v2 has no net_cls controller",
            ));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(unsupported(
                "network.priorities",
                "cgroup v2 has no net_prio controller",
            ));
        }
    }
    Ok(())
}

fn refuse_v1_memory(m: &LinuxMemory) -> Result<(), ResourceError> {
    #[allow(deprecated)] // read only to refuse it
    let kernel = m.kernel();
    if kernel.is_some_and(|k| k != 0 && k != -1) {
        return Err(unsupported(
            "memory.kernel",
            "cgroup v2 has no kernel memory limit",
        ));
    }
    if m.kernel_tcp().is_some_and(|k| k != 0 && k != -1) {
        return Err(unsupported(
            "memory.kernelTCP",
            "cgroup v2 has no TCP memory limit",
        ));
    }
    if m.swappiness()
        .map(common::swappiness)
        .transpose()?
        .flatten()
        .is_some()
    {
        return Err(unsupported(
            "memory.swappiness",
            "cgroup v2 has no per-cgroup swappiness",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported(
            "memory.disableOOMKiller",
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(unsupported(
            "memory.useHierarchy",
            "cgroup v2 is always hierarchical",
        ));
    }
    Ok(())
}

const NO_RT: &str = "cgroup v2 has no real-time group scheduling (cpu.rt_*)";
const NO_LEAF: &str = "cgroup v2 has no leaf weights";

/// -1 is "max" in v2 files; 0 means "not set" and gives nothing.
fn max_or(value: i64) -> Option<String> {
    match value {
        0 => None,
        -1 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// runc's fs2 setMemory: memory.swap.max (swap alone) before memory.max,
/// then memory.low for the reservation.
fn memory(m: &LinuxMemory, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    if m.check_before_update() == Some(true) {
        // runc compares both with memory.current, swap meaning memory+swap.
        let usage = out.current_u64("memory", "memory.current");
        reject_below_usage("memory.swap", "memory+swap limit", swap, usage)?;
        reject_below_usage("memory.limit", "memory limit", limit, usage)?;
    }
    let swap_max = memory_swap_to_v2(swap, limit).map_err(|e| invalid("memory.swap", e))?;
    let swap_value = match max_or(swap_max) {
        // swap equal to the limit: no swap at all.
        None if swap > 0 => Some("0".to_string()),
        v => v,
    };
    if let Some(v) = swap_value {
        // Without swap accounting there is no memory.swap.max; "max" and
        // "0" then already hold (runc 1.2 skips them the same way).
        if out.has("memory", "memory.swap.max") || (v != "max" && v != "0") {
            let field = if swap == 0 {
                "memory.limit"
            } else {
                "memory.swap"
            };
            out.write("memory", "memory.swap.max", v, field);
        }
    }
    if let Some(v) = max_or(limit) {
        out.write("memory", "memory.max", v, "memory.limit");
    }
    if let Some(v) = max_or(m.reservation().unwrap_or(0)) {
        out.write("memory", "memory.low", v, "memory.reservation");
    }
    Ok(())
}

/// io.bfq.weight takes blkio weights as they are; without BFQ they are
/// converted for io.weight. Per-device weights go to the same file as
/// `MAJ:MIN W` lines (runc drops them without BFQ; io.weight has the same
/// line format). io.max rate 0 is "max": v1 0 removes a limit, v2 refuses 0.
fn io(b: &LinuxBlockIo, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    let bfq = out.has("io", "io.bfq.weight");
    let weight = |w: u16, field: &str| -> Result<(&'static str, u64), ResourceError> {
        if bfq {
            return Ok(("io.bfq.weight", u64::from(w)));
        }
        if !(10..=1000).contains(&w) {
            return Err(invalid(
                field,
                format!("blkio weight {w} is outside 10-1000 and cannot be converted to io.weight"),
            ));
        }
        Ok(("io.weight", blkio_weight_to_io_weight(w)))
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let (file, v) = weight(w, "blockIO.weight")?;
        out.write("io", file, v, "blockIO.weight");
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let field = format!("blockIO.weightDevice[{i}].weight");
            let (file, v) = weight(w, &field)?;
            out.write(
                "io",
                file,
                format!("{}:{} {v}", d.major(), d.minor()),
                field,
            );
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, key, list) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let rate = match t.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            let value = format!("{}:{} {key}={rate}", t.major(), t.minor());
            out.write("io", "io.max", value, format!("blockIO.{name}[{i}]"));
        }
    }
    Ok(())
}

/// runc 1.2's fs2 setCpu: cpu.idle, cpu.weight, then cpu.max with
/// cpu.max.burst before it unless the burst exceeds the present quota.
fn cpu(c: &LinuxCpu, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    if let Some(idle) = c.idle().filter(|i| *i != 0 || out.has("cpu", "cpu.idle")) {
        out.write("cpu", "cpu.idle", idle, "cpu.idle");
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        check_shares(shares)?;
        out.write(
            "cpu",
            "cpu.weight",
            cpu_shares_to_weight(shares),
            "cpu.shares",
        );
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let set_max = quota != 0 || period != 0;
    let burst = c
        .burst()
        .filter(|b| *b != 0 || out.has("cpu", "cpu.max.burst"));
    let present_quota = out
        .current("cpu", "cpu.max")
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
    let burst_after = set_max && burst.is_some_and(|b| present_quota.is_some_and(|q| b > q));
    if let Some(b) = burst.filter(|_| !burst_after) {
        out.write("cpu", "cpu.max.burst", b, "cpu.burst");
    }
    if set_max {
        let q = if quota > 0 {
            quota.to_string()
        } else {
            "max".into()
        };
        // The kernel's default period, as runc documents.
        let p = if period == 0 { 100_000 } else { period };
        let field = if quota != 0 {
            "cpu.quota"
        } else {
            "cpu.period"
        };
        out.write("cpu", "cpu.max", format!("{q} {p}"), field);
    }
    if let Some(b) = burst.filter(|_| burst_after) {
        out.write("cpu", "cpu.max.burst", b, "cpu.burst");
    }
    Ok(())
}
