//! cgroup v1 writes, controller by controller in runc's subsystem order
//! (cpuset, memory, cpu, pids, blkio, hugetlb, net_cls, net_prio, rdma),
//! with the file order inside a controller that the kernel's checks need.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources};

use super::common::{self, check_shares, reject_below_usage};
use super::{invalid, unsupported, Planner, ResourceError};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

pub(super) fn plan(res: &LinuxResources, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(unsupported(
            "unified",
            "cannot use unified on cgroup v1 (it names cgroup v2 files)",
        ));
    }
    if let Some(cpu) = res.cpu() {
        common::cpuset(cpu, out);
    }
    if let Some(m) = res.memory() {
        memory(m, out)?;
    }
    if let Some(cpu) = res.cpu() {
        self::cpu(cpu, out)?;
    }
    if let Some(p) = res.pids() {
        common::pids(p, out);
    }
    if let Some(b) = res.block_io() {
        blkio(b, out);
    }
    if let Some(h) = res.hugepage_limits() {
        common::hugetlb(h, "limit_in_bytes", out)?;
    }
    if let Some(n) = res.network() {
        network(n, out)?;
    }
    if let Some(r) = res.rdma() {
        common::rdma(r, out)?;
    }
    Ok(())
}

fn memory(m: &LinuxMemory, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    if m.check_before_update() == Some(true) {
        let usage = out.current_u64("memory", "memory.usage_in_bytes");
        reject_below_usage(
            "memory.limit",
            "memory limit",
            m.limit().unwrap_or(0),
            usage,
        )?;
        let usage = out.current_u64("memory", "memory.memsw.usage_in_bytes");
        reject_below_usage(
            "memory.swap",
            "memory+swap limit",
            m.swap().unwrap_or(0),
            usage,
        )?;
    }
    #[allow(deprecated)] // read only to refuse it
    let kernel = m.kernel().unwrap_or(0);
    if kernel != 0 && kernel != -1 {
        // Linux 6.18 (measured) still has memory.kmem.limit_in_bytes but a
        // write leaves it unlimited, and runc drops the field with a
        // warning: either way the limit would not hold.
        return Err(unsupported(
            "memory.kernel",
            "kernel memory limits are not enforced by current kernels (a write to memory.kmem.limit_in_bytes leaves it unlimited); runc ignores this field",
        ));
    }
    let swappiness = m
        .swappiness()
        .map(common::swappiness)
        .transpose()?
        .flatten();

    memory_and_swap(m, out);
    if let Some(tcp) = m.kernel_tcp().filter(|v| *v != 0) {
        out.write(
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            tcp,
            "memory.kernelTCP",
        );
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        out.write(
            "memory",
            "memory.soft_limit_in_bytes",
            r,
            "memory.reservation",
        );
    }
    if m.disable_oom_killer() == Some(true) {
        out.write("memory", "memory.oom_control", 1, "memory.disableOOMKiller");
    }
    if let Some(s) = swappiness {
        out.write("memory", "memory.swappiness", s, "memory.swappiness");
    }
    if let Some(h) = m.use_hierarchy() {
        out.write(
            "memory",
            "memory.use_hierarchy",
            u8::from(h),
            "memory.useHierarchy",
        );
    }
    Ok(())
}

/// runc's setMemoryAndSwap: the kernel wants limit <= memsw at every step,
/// so memsw goes first when it grows past the present limit (or becomes
/// unlimited), last otherwise. Unlimited memory with swap unset makes swap
/// unlimited too, where the kernel accounts swap.
fn memory_and_swap(m: &LinuxMemory, out: &mut Planner<'_>) {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let mut swap_field = "memory.swap";
    if limit == -1 && swap == 0 && out.has("memory", MEMSW) {
        swap = -1;
        swap_field = "memory.limit";
    }
    // An unreadable limit counts as the kernel default (no limit): then
    // the new memsw is below it and the limit goes first.
    let present = out.current_u64("memory", LIMIT).unwrap_or(u64::MAX);
    let swap_first =
        limit != 0 && swap != 0 && (swap == -1 || u64::try_from(swap).is_ok_and(|s| present < s));
    if swap_first {
        out.write("memory", MEMSW, swap, swap_field);
    }
    if limit != 0 {
        out.write("memory", LIMIT, limit, "memory.limit");
    }
    if !swap_first && swap != 0 {
        out.write("memory", MEMSW, swap, swap_field);
    }
}

fn cpu(c: &LinuxCpu, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        check_shares(shares)?;
        out.write("cpu", "cpu.shares", shares, "cpu.shares");
    }
    cfs_bandwidth(c, out);
    // 0 is the default; on kernels without cpu.idle (before 5.15) there
    // is nothing to reset.
    if let Some(idle) = c.idle().filter(|i| *i != 0 || out.has("cpu", "cpu.idle")) {
        out.write("cpu", "cpu.idle", idle, "cpu.idle");
    }
    realtime(c, out);
    Ok(())
}

/// Period, then quota, with the burst before the quota unless it exceeds
/// the present quota (the kernel wants burst <= quota at every step; runc
/// gets the same effect by retrying after EINVAL).
fn cfs_bandwidth(c: &LinuxCpu, out: &mut Planner<'_>) {
    let period = c.period().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    // A 0 burst is the default, so a kernel without the knob (before
    // 5.14) loses nothing; runc ignores the missing file in every case.
    let burst = c
        .burst()
        .filter(|b| *b != 0 || out.has("cpu", "cpu.cfs_burst_us"));
    let burst_after_quota = quota != 0
        && burst.is_some_and(|b| {
            out.current_i64("cpu", "cpu.cfs_quota_us")
                .is_some_and(|q| q >= 0 && b > q.unsigned_abs())
        });
    if period != 0 {
        out.write("cpu", "cpu.cfs_period_us", period, "cpu.period");
    }
    if let Some(b) = burst.filter(|_| !burst_after_quota) {
        out.write("cpu", "cpu.cfs_burst_us", b, "cpu.burst");
    }
    if quota != 0 {
        out.write("cpu", "cpu.cfs_quota_us", quota, "cpu.quota");
    }
    if let Some(b) = burst.filter(|_| burst_after_quota) {
        out.write("cpu", "cpu.cfs_burst_us", b, "cpu.burst");
    }
}

/// rt_period before rt_runtime as runc does, except when the new period
/// is below the present runtime: the kernel wants runtime <= period.
fn realtime(c: &LinuxCpu, out: &mut Planner<'_>) {
    let period = c.realtime_period().unwrap_or(0);
    let runtime = c.realtime_runtime().unwrap_or(0);
    let runtime_first = period != 0
        && runtime != 0
        && out
            .current_i64("cpu", "cpu.rt_runtime_us")
            .is_some_and(|r| r >= 0 && r.unsigned_abs() > period);
    if runtime_first {
        out.write("cpu", "cpu.rt_runtime_us", runtime, "cpu.realtimeRuntime");
    }
    if period != 0 {
        out.write("cpu", "cpu.rt_period_us", period, "cpu.realtimePeriod");
    }
    if runtime != 0 && !runtime_first {
        out.write("cpu", "cpu.rt_runtime_us", runtime, "cpu.realtimeRuntime");
    }
}

/// CFQ names where blkio.weight exists, BFQ names otherwise (runc's
/// detectWeightFilenames; CFQ is gone since Linux 5.0).
fn blkio(b: &LinuxBlockIo, out: &mut Planner<'_>) {
    let (weight_file, device_file) = if out.has("blkio", "blkio.weight") {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        out.write("blkio", weight_file, w, "blockIO.weight");
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        out.write("blkio", "blkio.leaf_weight", w, "blockIO.leafWeight");
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let field = format!("blockIO.weightDevice[{i}].weight");
            out.write("blkio", device_file, format!("{dev} {w}"), field);
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w != 0) {
            let field = format!("blockIO.weightDevice[{i}].leafWeight");
            out.write(
                "blkio",
                "blkio.leaf_weight_device",
                format!("{dev} {w}"),
                field,
            );
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, file, list) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let value = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            out.write("blkio", file, value, format!("blockIO.{name}[{i}]"));
        }
    }
}

fn network(n: &LinuxNetwork, out: &mut Planner<'_>) -> Result<(), ResourceError> {
    if let Some(id) = n.class_id().filter(|id| *id != 0) {
        out.write("net_cls", "net_cls.classid", id, "network.classID");
    }
    for (i, p) in n.priorities().iter().flatten().enumerate() {
        let field = format!("network.priorities[{i}]");
        if p.name().is_empty() || p.name().contains(char::is_whitespace) {
            return Err(invalid(format!("{field}.name"), "not an interface name"));
        }
        out.write(
            "net_prio",
            "net_prio.ifpriomap",
            format!("{} {}", p.name(), p.priority()),
            field,
        );
    }
    Ok(())
}
