//! The linux.resources fields, one plan per row: what to configure, which
//! file the kernel shows it in on cgroup v1 and v2 (with runc's conversions),
//! and what `update` changes. Rows without an update are fields runc's
//! `update` cannot change (it takes memory, cpu, blockIO weight, pids and
//! unified only).

use serde_json::{json, Value};

use super::{loop_device, Host, Plan, PlanFn, Update, UpdateHow};
use crate::cgroup::{blkio_to_io_weight, shares_to_weight, Expect};
use crate::driver::ctx::{Ctx, Verdict};

const MI: u64 = 1 << 20;

pub const TABLE: &[(&str, PlanFn)] = &[
    ("cgroups/memory-limit", memory_limit),
    ("cgroups/memory-reservation", memory_reservation),
    ("cgroups/memory-swap", memory_swap),
    ("cgroups/memory-kernel-tcp", memory_kernel_tcp),
    ("cgroups/memory-swappiness", memory_swappiness),
    (
        "cgroups/memory-disable-oom-killer",
        memory_disable_oom_killer,
    ),
    ("cgroups/cpu-shares", cpu_shares),
    ("cgroups/cpu-quota-period", cpu_quota_period),
    ("cgroups/cpu-burst", cpu_burst),
    ("cgroups/cpu-realtime", cpu_realtime),
    ("cgroups/cpuset-cpus-mems", cpuset),
    ("cgroups/cpu-idle", cpu_idle),
    ("cgroups/pids-limit", pids_limit),
    ("cgroups/blockio-weight", blockio_weight),
    ("cgroups/blockio-weight-device", blockio_weight_device),
    ("cgroups/blockio-throttle", blockio_throttle),
    ("cgroups/hugepage-limits", hugepage_limits),
    ("cgroups/network-class-id", network_class_id),
    ("cgroups/network-priorities", network_priorities),
    ("cgroups/unified", unified),
    ("cgroups/rdma", rdma),
];

type PlanResult = Result<Plan, Verdict>;

fn plan(resources: Value, expect: Vec<Expect>) -> Plan {
    Plan {
        resources,
        expect,
        update: None,
    }
}

fn with_update(resources: Value, expect: Vec<Expect>, how: UpdateHow, after: Vec<Expect>) -> Plan {
    Plan {
        resources,
        expect,
        update: Some(Update { how, expect: after }),
    }
}

fn flags(args: &[&str]) -> UpdateHow {
    UpdateHow::Flags(args.iter().map(|a| a.to_string()).collect())
}

fn v1_only(h: &Host, why: &str) -> Result<(), Verdict> {
    if h.v2 {
        Err(Verdict::Skip(format!(
            "cgroup v2 has no interface for {why}"
        )))
    } else {
        Ok(())
    }
}

/// Skips unless the host's root cgroup of `v1` has `file` (a kernel option).
fn need_root_file(h: &Host, v1: &str, file: &str) -> Result<(), Verdict> {
    match h.root_file(v1, file) {
        Some(p) if std::path::Path::new(&p).exists() => Ok(()),
        _ => Err(Verdict::Skip(format!("this kernel has no {v1} {file}"))),
    }
}

fn memory_limit(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("memory", "memory")?;
    let (m, f) = (
        h.ctl("memory"),
        pick(h, "memory.limit_in_bytes", "memory.max"),
    );
    Ok(with_update(
        json!({"memory": {"limit": 256 * MI}}),
        vec![Expect::whole(&m, f, 256 * MI)],
        UpdateHow::Resources(json!({"memory": {"limit": 128 * MI}})),
        vec![Expect::whole(&m, f, 128 * MI)],
    ))
}

fn memory_reservation(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("memory", "memory")?;
    let (m, f) = (
        h.ctl("memory"),
        pick(h, "memory.soft_limit_in_bytes", "memory.low"),
    );
    Ok(with_update(
        json!({"memory": {"limit": 256 * MI, "reservation": 64 * MI}}),
        vec![Expect::whole(&m, f, 64 * MI)],
        flags(&["--memory-reservation", "32M"]),
        vec![Expect::whole(&m, f, 32 * MI)],
    ))
}

/// `swap` is memory+swap: v1 shows it as is, v2 shows swap alone.
fn memory_swap(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("memory", "memory")?;
    if h.v2 {
        // memory.swap.max exists unless the kernel lacks swap or accounts none.
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        if !std::path::Path::new("/proc/swaps").exists()
            || cmdline.split_whitespace().any(|w| w == "swapaccount=0")
        {
            return Err(Verdict::Skip("this kernel does no swap accounting".into()));
        }
    } else {
        need_root_file(h, "memory", "memory.memsw.limit_in_bytes")?;
    }
    let m = h.ctl("memory");
    let swap = |limit: u64, total: u64| {
        if h.v2 {
            Expect::whole(&m, "memory.swap.max", total - limit)
        } else {
            Expect::whole(&m, "memory.memsw.limit_in_bytes", total)
        }
    };
    Ok(with_update(
        json!({"memory": {"limit": 128 * MI, "swap": 256 * MI}}),
        vec![swap(128 * MI, 256 * MI)],
        UpdateHow::Resources(json!({"memory": {"limit": 128 * MI, "swap": 384 * MI}})),
        vec![swap(128 * MI, 384 * MI)],
    ))
}

fn memory_kernel_tcp(_: &mut Ctx, h: &Host) -> PlanResult {
    v1_only(h, "memory.kernelTCP")?;
    h.need("memory", "memory")?;
    need_root_file(h, "memory", "memory.kmem.tcp.limit_in_bytes")?;
    Ok(plan(
        json!({"memory": {"kernelTCP": 64 * MI}}),
        vec![Expect::whole(
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            64 * MI,
        )],
    ))
}

fn memory_swappiness(_: &mut Ctx, h: &Host) -> PlanResult {
    v1_only(h, "memory.swappiness")?;
    h.need("memory", "memory")?;
    Ok(plan(
        json!({"memory": {"swappiness": 30}}),
        vec![Expect::whole("memory", "memory.swappiness", 30)],
    ))
}

fn memory_disable_oom_killer(_: &mut Ctx, h: &Host) -> PlanResult {
    v1_only(h, "memory.disableOOMKiller")?;
    h.need("memory", "memory")?;
    Ok(plan(
        json!({"memory": {"disableOOMKiller": true}}),
        vec![Expect::line(
            "memory",
            "memory.oom_control",
            "oom_kill_disable 1",
        )],
    ))
}

fn cpu_shares(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("cpu", "cpu")?;
    let c = h.ctl("cpu");
    let shares = |s: u64| {
        if h.v2 {
            Expect::whole(&c, "cpu.weight", shares_to_weight(s))
        } else {
            Expect::whole(&c, "cpu.shares", s)
        }
    };
    Ok(with_update(
        json!({"cpu": {"shares": 512}}),
        vec![shares(512)],
        flags(&["--cpu-share", "1024"]),
        vec![shares(1024)],
    ))
}

fn quota_period(h: &Host, quota: u64, period: u64) -> Vec<Expect> {
    if h.v2 {
        vec![Expect::whole("", "cpu.max", format!("{quota} {period}"))]
    } else {
        vec![
            Expect::whole("cpu", "cpu.cfs_quota_us", quota),
            Expect::whole("cpu", "cpu.cfs_period_us", period),
        ]
    }
}

fn cpu_quota_period(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("cpu", "cpu")?;
    Ok(with_update(
        json!({"cpu": {"quota": 50000, "period": 100000}}),
        quota_period(h, 50000, 100000),
        UpdateHow::Resources(json!({"cpu": {"quota": 25000, "period": 50000}})),
        quota_period(h, 25000, 50000),
    ))
}

fn cpu_burst(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("cpu", "cpu")?;
    if !h.v2 {
        need_root_file(h, "cpu", "cpu.cfs_burst_us")?;
    }
    let (c, f) = (h.ctl("cpu"), pick(h, "cpu.cfs_burst_us", "cpu.max.burst"));
    Ok(with_update(
        json!({"cpu": {"quota": 50000, "period": 100000, "burst": 20000}}),
        vec![Expect::whole(&c, f, 20000)],
        UpdateHow::Resources(json!({"cpu": {"burst": 10000}})),
        vec![Expect::whole(&c, f, 10000)],
    ))
}

fn cpu_realtime(_: &mut Ctx, h: &Host) -> PlanResult {
    v1_only(h, "cpu.realtimeRuntime/realtimePeriod")?;
    h.need("cpu", "cpu")?;
    need_root_file(h, "cpu", "cpu.rt_runtime_us")?;
    let rt = |runtime: u64| {
        vec![
            Expect::whole("cpu", "cpu.rt_period_us", 500000),
            Expect::whole("cpu", "cpu.rt_runtime_us", runtime),
        ]
    };
    Ok(with_update(
        json!({"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 10000}}),
        rt(10000),
        flags(&["--cpu-rt-runtime", "20000"]),
        rt(20000),
    ))
}

/// Starts on the first online CPU and node; the update widens to every CPU.
fn cpuset(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("cpuset", "cpuset")?;
    let first = |list: &str| list.split([',', '-']).next().unwrap_or("0").to_string();
    let (cpu0, mem0) = (first(&h.cpus), first(&h.mems));
    let c = h.ctl("cpuset");
    let both = |cpus: &str| {
        vec![
            Expect::whole(&c, "cpuset.cpus", cpus),
            Expect::whole(&c, "cpuset.mems", &mem0),
        ]
    };
    Ok(with_update(
        json!({"cpu": {"cpus": cpu0, "mems": mem0}}),
        both(&cpu0),
        flags(&["--cpuset-cpus", &h.cpus]),
        both(&h.cpus),
    ))
}

fn cpu_idle(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("cpu", "cpu")?;
    if !h.v2 {
        need_root_file(h, "cpu", "cpu.idle")?;
    }
    let c = h.ctl("cpu");
    Ok(with_update(
        json!({"cpu": {"idle": 1}}),
        vec![Expect::whole(&c, "cpu.idle", 1)],
        UpdateHow::Resources(json!({"cpu": {"idle": 0}})),
        vec![Expect::whole(&c, "cpu.idle", 0)],
    ))
}

fn pids_limit(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("pids", "pids")?;
    let p = h.ctl("pids");
    Ok(with_update(
        json!({"pids": {"limit": 32}}),
        vec![Expect::whole(&p, "pids.max", 32)],
        flags(&["--pids-limit", "64"]),
        vec![Expect::whole(&p, "pids.max", 64)],
    ))
}

/// v1 names the file blkio.weight (CFQ) or blkio.bfq.weight; on v2 runc
/// writes io.bfq.weight when it exists and the converted io.weight otherwise.
fn weight(h: &Host, w: u64) -> Expect {
    if h.v2 {
        Expect::line("", "io.bfq.weight", format!("default {w}"))
            .or("io.weight", format!("default {}", blkio_to_io_weight(w)))
    } else {
        Expect::whole("blkio", "blkio.weight", w).or("blkio.bfq.weight", w)
    }
}

fn need_bfq(ctx: &mut Ctx, h: &Host) -> Result<(u64, u64), Verdict> {
    h.need("blkio", "io")?;
    let dev = loop_device(ctx)?;
    if !dev.bfq {
        return Err(Verdict::Skip(
            "the BFQ io scheduler cannot be selected on a loop device here".into(),
        ));
    }
    Ok((dev.major, dev.minor))
}

fn blockio_weight(ctx: &mut Ctx, h: &Host) -> PlanResult {
    need_bfq(ctx, h)?;
    Ok(with_update(
        json!({"blockIO": {"weight": 300}}),
        vec![weight(h, 300)],
        flags(&["--blkio-weight", "500"]),
        vec![weight(h, 500)],
    ))
}

fn blockio_weight_device(ctx: &mut Ctx, h: &Host) -> PlanResult {
    let (major, minor) = need_bfq(ctx, h)?;
    let line = format!("{major}:{minor} 200");
    let exp = if h.v2 {
        Expect::line("", "io.bfq.weight", &line)
    } else {
        Expect::line("blkio", "blkio.weight_device", &line).or("blkio.bfq.weight_device", &line)
    };
    Ok(plan(
        json!({"blockIO": {"weightDevice": [{"major": major, "minor": minor, "weight": 200}]}}),
        vec![exp],
    ))
}

fn blockio_throttle(ctx: &mut Ctx, h: &Host) -> PlanResult {
    h.need("blkio", "io")?;
    let dev = loop_device(ctx)?;
    let (maj, min) = (dev.major, dev.minor);
    let rate = |v: u64| json!([{"major": maj, "minor": min, "rate": v}]);
    let resources = json!({"blockIO": {
        "throttleReadBpsDevice": rate(1048576),
        "throttleWriteBpsDevice": rate(2097152),
        "throttleReadIOPSDevice": rate(100),
        "throttleWriteIOPSDevice": rate(200)
    }});
    let expect = if h.v2 {
        vec![Expect::line(
            "",
            "io.max",
            format!("{maj}:{min} rbps=1048576 wbps=2097152 riops=100 wiops=200"),
        )]
    } else {
        [
            ("read_bps", 1048576),
            ("write_bps", 2097152),
            ("read_iops", 100),
            ("write_iops", 200),
        ]
        .iter()
        .map(|(f, v)| {
            Expect::line(
                "blkio",
                &format!("blkio.throttle.{f}_device"),
                format!("{maj}:{min} {v}"),
            )
        })
        .collect()
    };
    Ok(plan(resources, expect))
}

/// Four pages of every size the kernel offers.
fn hugepage_limits(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("hugetlb", "hugetlb")?;
    if h.hugepages.is_empty() {
        return Err(Verdict::Skip(
            "no huge page sizes in /sys/kernel/mm/hugepages".into(),
        ));
    }
    let limits: Vec<Value> = h
        .hugepages
        .iter()
        .map(|(size, bytes)| json!({"pageSize": size, "limit": 4 * bytes}))
        .collect();
    let expect = h
        .hugepages
        .iter()
        .map(|(size, bytes)| {
            let file = if h.v2 {
                format!("hugetlb.{size}.max")
            } else {
                format!("hugetlb.{size}.limit_in_bytes")
            };
            Expect::whole(&h.ctl("hugetlb"), &file, 4 * bytes)
        })
        .collect();
    Ok(plan(json!({"hugepageLimits": limits}), expect))
}

fn network_class_id(_: &mut Ctx, h: &Host) -> PlanResult {
    v1_only(h, "network.classID (net_cls is v1 only)")?;
    h.need("net_cls", "net_cls")?;
    Ok(plan(
        json!({"network": {"classID": 1048577}}),
        vec![Expect::whole("net_cls", "net_cls.classid", 1048577)],
    ))
}

fn network_priorities(_: &mut Ctx, h: &Host) -> PlanResult {
    v1_only(h, "network.priorities (net_prio is v1 only)")?;
    h.need("net_prio", "net_prio")?;
    Ok(plan(
        json!({"network": {"priorities": [{"name": "lo", "priority": 5}]}}),
        vec![Expect::line("net_prio", "net_prio.ifpriomap", "lo 5")],
    ))
}

fn unified(_: &mut Ctx, h: &Host) -> PlanResult {
    if !h.v2 {
        return Err(Verdict::Skip(
            "linux.resources.unified applies to cgroup v2 hosts only".into(),
        ));
    }
    h.need("pids", "pids")?;
    h.need("memory", "memory")?;
    Ok(with_update(
        json!({"unified": {"pids.max": "40", "memory.high": "268435456"}}),
        vec![
            Expect::whole("", "pids.max", 40),
            Expect::whole("", "memory.high", 268435456),
        ],
        UpdateHow::Resources(json!({"unified": {"pids.max": "50"}})),
        vec![Expect::whole("", "pids.max", 50)],
    ))
}

/// The first RDMA device, limited to 2 handles and 3 objects.
fn rdma(_: &mut Ctx, h: &Host) -> PlanResult {
    h.need("rdma", "rdma")?;
    let dev = std::fs::read_dir("/sys/class/infiniband")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .ok_or_else(|| Verdict::Skip("no RDMA device in /sys/class/infiniband".into()))?;
    Ok(plan(
        json!({"rdma": {dev.clone(): {"hcaHandles": 2, "hcaObjects": 3}}}),
        vec![Expect::line(
            &h.ctl("rdma"),
            "rdma.max",
            format!("{dev} hca_handle=2 hca_object=3"),
        )],
    ))
}

fn pick<'a>(h: &Host, v1: &'a str, v2: &'a str) -> &'a str {
    if h.v2 {
        v2
    } else {
        v1
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::driver::bundle::Bundle;
    use crate::driver::runtime::Runtime;

    fn host(v2: bool) -> Host {
        let controllers: BTreeSet<String> = if v2 {
            ["cpu", "cpuset", "io", "memory", "pids", "hugetlb"]
        } else {
            ["cpu", "cpuset", "blkio", "memory", "pids", "hugetlb"]
        }
        .iter()
        .map(|c| c.to_string())
        .collect();
        Host {
            v2,
            controllers,
            mounts: Vec::new(),
            cpus: "0-3".into(),
            mems: "0".into(),
            hugepages: vec![("2MB".into(), 2 << 20)],
        }
    }

    fn plan_for(name: &str, v2: bool) -> Result<Plan, Verdict> {
        let rt = Runtime {
            bin: "/nonexistent".into(),
            root: "/nonexistent".into(),
            log: "/nonexistent".into(),
        };
        let bundle = Bundle {
            dir: "/nonexistent".into(),
        };
        let mut ctx = Ctx::new(&rt, bundle, json!({}), "t".into(), Default::default());
        let f = TABLE.iter().find(|(n, _)| *n == name).unwrap().1;
        f(&mut ctx, &host(v2))
    }

    fn files(e: &[Expect]) -> Vec<(String, String, String)> {
        e.iter()
            .map(|x| {
                (
                    x.controller.clone(),
                    x.files[0].0.clone(),
                    x.files[0].1.clone(),
                )
            })
            .collect()
    }

    fn s(c: &str, f: &str, v: &str) -> (String, String, String) {
        (c.into(), f.into(), v.into())
    }

    #[test]
    fn v2_expectations_use_runc_conversions() {
        let p = plan_for("cgroups/cpu-shares", true).unwrap();
        assert_eq!(files(&p.expect), vec![s("", "cpu.weight", "20")]);
        assert_eq!(
            files(&p.update.unwrap().expect),
            vec![s("", "cpu.weight", "39")]
        );
        let p = plan_for("cgroups/memory-swap", true).unwrap();
        assert_eq!(
            files(&p.expect),
            vec![s("", "memory.swap.max", "134217728")]
        );
        assert_eq!(
            files(&p.update.unwrap().expect),
            vec![s("", "memory.swap.max", "268435456")]
        );
        let p = plan_for("cgroups/cpu-quota-period", true).unwrap();
        assert_eq!(files(&p.expect), vec![s("", "cpu.max", "50000 100000")]);
        let p = plan_for("cgroups/hugepage-limits", true).unwrap();
        assert_eq!(files(&p.expect), vec![s("", "hugetlb.2MB.max", "8388608")]);
    }

    #[test]
    fn v1_expectations_name_the_subsystem() {
        let p = plan_for("cgroups/cpu-shares", false).unwrap();
        assert_eq!(files(&p.expect), vec![s("cpu", "cpu.shares", "512")]);
        let p = plan_for("cgroups/memory-limit", false).unwrap();
        assert_eq!(
            files(&p.expect),
            vec![s("memory", "memory.limit_in_bytes", "268435456")]
        );
        let p = plan_for("cgroups/cpuset-cpus-mems", false).unwrap();
        assert_eq!(
            files(&p.update.unwrap().expect),
            vec![
                s("cpuset", "cpuset.cpus", "0-3"),
                s("cpuset", "cpuset.mems", "0")
            ]
        );
        let p = plan_for("cgroups/hugepage-limits", false).unwrap();
        assert_eq!(
            files(&p.expect),
            vec![s("hugetlb", "hugetlb.2MB.limit_in_bytes", "8388608")]
        );
    }

    #[test]
    fn fields_without_an_interface_skip() {
        for name in [
            "cgroups/memory-kernel-tcp",
            "cgroups/memory-swappiness",
            "cgroups/memory-disable-oom-killer",
            "cgroups/cpu-realtime",
            "cgroups/network-class-id",
        ] {
            assert!(
                matches!(plan_for(name, true), Err(Verdict::Skip(_))),
                "{name}"
            );
        }
        assert!(matches!(
            plan_for("cgroups/unified", false),
            Err(Verdict::Skip(_))
        ));
        assert!(plan_for("cgroups/unified", true).is_ok());
        assert!(matches!(
            plan_for("cgroups/rdma", true),
            Err(Verdict::Skip(_))
        ));
    }
}
