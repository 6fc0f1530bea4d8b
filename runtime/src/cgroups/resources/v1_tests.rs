//! cgroup v1 plans: exact writes, order and field-named errors.

use super::testutil::{field_of, plan_err, plan_err_with, plan_ok, w, Files};
use super::{ResourceError, Version::V1};

/// A fresh memory cgroup: the kernel's default limit, memsw accounted.
const FRESH: &Files<'static> = &[
    (("memory", "memory.limit_in_bytes"), "9223372036854771712"),
    (
        ("memory", "memory.memsw.limit_in_bytes"),
        "9223372036854771712",
    ),
];

#[test]
fn memory_fields_in_runc_order() {
    let res = r#"{"memory":{"limit":104857600,"reservation":52428800,"swap":209715200,
        "kernelTCP":1048576,"swappiness":10,"disableOOMKiller":true,"useHierarchy":true}}"#;
    assert_eq!(
        plan_ok(res, V1, FRESH),
        vec![
            w(
                "memory",
                "memory.limit_in_bytes",
                "104857600",
                "memory.limit"
            ),
            w(
                "memory",
                "memory.memsw.limit_in_bytes",
                "209715200",
                "memory.swap"
            ),
            w(
                "memory",
                "memory.kmem.tcp.limit_in_bytes",
                "1048576",
                "memory.kernelTCP"
            ),
            w(
                "memory",
                "memory.soft_limit_in_bytes",
                "52428800",
                "memory.reservation"
            ),
            w(
                "memory",
                "memory.oom_control",
                "1",
                "memory.disableOOMKiller"
            ),
            w("memory", "memory.swappiness", "10", "memory.swappiness"),
            w("memory", "memory.use_hierarchy", "1", "memory.useHierarchy"),
        ]
    );
}

#[test]
fn zero_and_false_memory_values_write_nothing() {
    let res = r#"{"memory":{"limit":0,"reservation":0,"swap":0,"kernel":0,"kernelTCP":0,
        "disableOOMKiller":false,"swappiness":18446744073709551615}}"#;
    assert_eq!(plan_ok(res, V1, FRESH), vec![]);
    assert_eq!(
        plan_ok(r#"{"memory":{"useHierarchy":false}}"#, V1, FRESH),
        vec![w(
            "memory",
            "memory.use_hierarchy",
            "0",
            "memory.useHierarchy"
        )]
    );
}

#[test]
fn memsw_goes_first_when_it_grows_past_the_present_limit() {
    let now = [(("memory", "memory.limit_in_bytes"), "100")];
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":200,"swap":400}}"#, V1, &now),
        vec![
            w(
                "memory",
                "memory.memsw.limit_in_bytes",
                "400",
                "memory.swap"
            ),
            w("memory", "memory.limit_in_bytes", "200", "memory.limit"),
        ]
    );
}

#[test]
fn memsw_goes_last_when_shrinking() {
    let now = [(("memory", "memory.limit_in_bytes"), "400")];
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":100,"swap":200}}"#, V1, &now),
        vec![
            w("memory", "memory.limit_in_bytes", "100", "memory.limit"),
            w(
                "memory",
                "memory.memsw.limit_in_bytes",
                "200",
                "memory.swap"
            ),
        ]
    );
    // Equal to the present limit is not growing past it.
    let now = [(("memory", "memory.limit_in_bytes"), "200")];
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":100,"swap":200}}"#, V1, &now)[0].file,
        "memory.limit_in_bytes"
    );
}

#[test]
fn unlimited_swap_goes_first() {
    let now = [(("memory", "memory.limit_in_bytes"), "400")];
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":100,"swap":-1}}"#, V1, &now),
        vec![
            w("memory", "memory.memsw.limit_in_bytes", "-1", "memory.swap"),
            w("memory", "memory.limit_in_bytes", "100", "memory.limit"),
        ]
    );
}

#[test]
fn unlimited_memory_without_swap_unlimits_swap_where_accounted() {
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":-1}}"#, V1, FRESH),
        vec![
            w(
                "memory",
                "memory.memsw.limit_in_bytes",
                "-1",
                "memory.limit"
            ),
            w("memory", "memory.limit_in_bytes", "-1", "memory.limit"),
        ]
    );
    // swapaccount=0: no memsw file, so only the limit.
    let no_memsw = [(("memory", "memory.limit_in_bytes"), "100")];
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":-1,"swap":0}}"#, V1, &no_memsw),
        vec![w("memory", "memory.limit_in_bytes", "-1", "memory.limit")]
    );
}

#[test]
fn swap_alone_writes_memsw_alone() {
    assert_eq!(
        plan_ok(r#"{"memory":{"swap":300}}"#, V1, FRESH),
        vec![w(
            "memory",
            "memory.memsw.limit_in_bytes",
            "300",
            "memory.swap"
        )]
    );
}

#[test]
fn check_before_update_refuses_limits_at_or_below_usage() {
    let now = [
        (("memory", "memory.usage_in_bytes"), "500"),
        (("memory", "memory.memsw.usage_in_bytes"), "800"),
        (("memory", "memory.limit_in_bytes"), "1000"),
    ];
    let e = plan_err_with(
        r#"{"memory":{"limit":500,"checkBeforeUpdate":true}}"#,
        V1,
        &now,
    );
    assert!(matches!(e, ResourceError::Invalid { .. }));
    assert_eq!(
        e.to_string(),
        "linux.resources.memory.limit: rejecting memory limit 500 <= usage 500"
    );
    let e = plan_err_with(
        r#"{"memory":{"limit":600,"swap":700,"checkBeforeUpdate":true}}"#,
        V1,
        &now,
    );
    assert_eq!(field_of(&e), "linux.resources.memory.swap");
    assert_eq!(
        plan_ok(
            r#"{"memory":{"limit":501,"checkBeforeUpdate":true}}"#,
            V1,
            &now
        ),
        vec![w("memory", "memory.limit_in_bytes", "501", "memory.limit")]
    );
    // Without the flag the kernel decides.
    assert_eq!(plan_ok(r#"{"memory":{"limit":400}}"#, V1, &now).len(), 1);
    // Unreadable usage: best effort, the limit passes.
    assert_eq!(
        plan_ok(
            r#"{"memory":{"limit":1,"checkBeforeUpdate":true}}"#,
            V1,
            &[]
        )
        .len(),
        1
    );
}

#[test]
fn kernel_memory_limit_is_refused_but_defaults_pass() {
    let e = plan_err(r#"{"memory":{"kernel":1048576}}"#, V1);
    assert!(matches!(e, ResourceError::Unsupported { .. }));
    assert_eq!(field_of(&e), "linux.resources.memory.kernel");
    assert_eq!(plan_ok(r#"{"memory":{"kernel":-1}}"#, V1, FRESH), vec![]);
}

#[test]
fn swappiness_above_100_is_invalid() {
    let e = plan_err(r#"{"memory":{"swappiness":101}}"#, V1);
    assert_eq!(field_of(&e), "linux.resources.memory.swappiness");
    assert_eq!(
        plan_ok(r#"{"memory":{"swappiness":0}}"#, V1, &[]),
        vec![w("memory", "memory.swappiness", "0", "memory.swappiness")]
    );
}

#[test]
fn cpu_fields_in_runc_order() {
    let res = r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"burst":10000,
        "idle":1,"realtimeRuntime":950000,"realtimePeriod":1000000}}"#;
    let fresh = [
        (("cpu", "cpu.cfs_quota_us"), "-1"),
        (("cpu", "cpu.rt_runtime_us"), "0"),
    ];
    assert_eq!(
        plan_ok(res, V1, &fresh),
        vec![
            w("cpu", "cpu.shares", "1024", "cpu.shares"),
            w("cpu", "cpu.cfs_period_us", "100000", "cpu.period"),
            w("cpu", "cpu.cfs_burst_us", "10000", "cpu.burst"),
            w("cpu", "cpu.cfs_quota_us", "50000", "cpu.quota"),
            w("cpu", "cpu.idle", "1", "cpu.idle"),
            w("cpu", "cpu.rt_period_us", "1000000", "cpu.realtimePeriod"),
            w("cpu", "cpu.rt_runtime_us", "950000", "cpu.realtimeRuntime"),
        ]
    );
}

#[test]
fn burst_above_present_quota_goes_after_the_quota() {
    let now = [(("cpu", "cpu.cfs_quota_us"), "20000")];
    assert_eq!(
        plan_ok(r#"{"cpu":{"quota":100000,"burst":50000}}"#, V1, &now),
        vec![
            w("cpu", "cpu.cfs_quota_us", "100000", "cpu.quota"),
            w("cpu", "cpu.cfs_burst_us", "50000", "cpu.burst"),
        ]
    );
    // Shrinking both: the burst first, so it is never above the quota.
    let now = [(("cpu", "cpu.cfs_quota_us"), "100000")];
    assert_eq!(
        plan_ok(r#"{"cpu":{"quota":40000,"burst":30000}}"#, V1, &now),
        vec![
            w("cpu", "cpu.cfs_burst_us", "30000", "cpu.burst"),
            w("cpu", "cpu.cfs_quota_us", "40000", "cpu.quota"),
        ]
    );
}

#[test]
fn zero_burst_and_idle_need_no_knob_but_are_written_where_it_exists() {
    let res = r#"{"cpu":{"burst":0,"idle":0}}"#;
    assert_eq!(plan_ok(res, V1, &[]), vec![]);
    let knobs = [
        (("cpu", "cpu.cfs_burst_us"), "5"),
        (("cpu", "cpu.idle"), "1"),
    ];
    assert_eq!(
        plan_ok(res, V1, &knobs),
        vec![
            w("cpu", "cpu.cfs_burst_us", "0", "cpu.burst"),
            w("cpu", "cpu.idle", "0", "cpu.idle"),
        ]
    );
    // A non-zero value is planned anyway: a missing knob is then an error.
    assert_eq!(
        plan_ok(r#"{"cpu":{"burst":7}}"#, V1, &[]),
        vec![w("cpu", "cpu.cfs_burst_us", "7", "cpu.burst")]
    );
}

#[test]
fn rt_runtime_first_when_the_period_shrinks_below_it() {
    let now = [(("cpu", "cpu.rt_runtime_us"), "900000")];
    assert_eq!(
        plan_ok(
            r#"{"cpu":{"realtimeRuntime":400000,"realtimePeriod":500000}}"#,
            V1,
            &now
        ),
        vec![
            w("cpu", "cpu.rt_runtime_us", "400000", "cpu.realtimeRuntime"),
            w("cpu", "cpu.rt_period_us", "500000", "cpu.realtimePeriod"),
        ]
    );
    assert_eq!(
        plan_ok(r#"{"cpu":{"realtimeRuntime":-1}}"#, V1, &now),
        vec![w("cpu", "cpu.rt_runtime_us", "-1", "cpu.realtimeRuntime")]
    );
}

#[test]
fn quota_minus_one_and_period_alone() {
    assert_eq!(
        plan_ok(r#"{"cpu":{"quota":-1}}"#, V1, &[]),
        vec![w("cpu", "cpu.cfs_quota_us", "-1", "cpu.quota")]
    );
    assert_eq!(
        plan_ok(r#"{"cpu":{"period":50000,"quota":0,"shares":0}}"#, V1, &[]),
        vec![w("cpu", "cpu.cfs_period_us", "50000", "cpu.period")]
    );
}

#[test]
fn shares_out_of_kernel_range_name_the_field() {
    let e = plan_err(r#"{"cpu":{"shares":1}}"#, V1);
    assert_eq!(field_of(&e), "linux.resources.cpu.shares");
    let e = plan_err(r#"{"cpu":{"shares":300000}}"#, V1);
    assert!(e
        .to_string()
        .contains("maximum allowed cpu-shares is 262144"));
}

const BLKIO: &str = r#"{"blockIO":{"weight":300,"leafWeight":200,
    "weightDevice":[{"major":8,"minor":0,"weight":500,"leafWeight":50},{"major":8,"minor":16,"weight":0}],
    "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
    "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2097152},{"major":8,"minor":16,"rate":0}],
    "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
    "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":200}]}}"#;

#[test]
fn blkio_uses_bfq_names_without_cfq() {
    assert_eq!(
        plan_ok(BLKIO, V1, &[(("blkio", "blkio.bfq.weight"), "100")]),
        vec![
            w("blkio", "blkio.bfq.weight", "300", "blockIO.weight"),
            w("blkio", "blkio.leaf_weight", "200", "blockIO.leafWeight"),
            w(
                "blkio",
                "blkio.bfq.weight_device",
                "8:0 500",
                "blockIO.weightDevice[0].weight"
            ),
            w(
                "blkio",
                "blkio.leaf_weight_device",
                "8:0 50",
                "blockIO.weightDevice[0].leafWeight"
            ),
            w(
                "blkio",
                "blkio.throttle.read_bps_device",
                "8:0 1048576",
                "blockIO.throttleReadBpsDevice[0]"
            ),
            w(
                "blkio",
                "blkio.throttle.write_bps_device",
                "8:0 2097152",
                "blockIO.throttleWriteBpsDevice[0]"
            ),
            w(
                "blkio",
                "blkio.throttle.write_bps_device",
                "8:16 0",
                "blockIO.throttleWriteBpsDevice[1]"
            ),
            w(
                "blkio",
                "blkio.throttle.read_iops_device",
                "8:0 100",
                "blockIO.throttleReadIOPSDevice[0]"
            ),
            w(
                "blkio",
                "blkio.throttle.write_iops_device",
                "8:0 200",
                "blockIO.throttleWriteIOPSDevice[0]"
            ),
        ]
    );
}

#[test]
fn blkio_uses_cfq_names_where_blkio_weight_exists() {
    let got = plan_ok(BLKIO, V1, &[(("blkio", "blkio.weight"), "500")]);
    assert_eq!(got[0], w("blkio", "blkio.weight", "300", "blockIO.weight"));
    assert_eq!(
        got[2],
        w(
            "blkio",
            "blkio.weight_device",
            "8:0 500",
            "blockIO.weightDevice[0].weight"
        )
    );
}

#[test]
fn network_class_id_and_priorities() {
    let res = r#"{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5},{"name":"lo","priority":0}]}}"#;
    assert_eq!(
        plan_ok(res, V1, &[]),
        vec![
            w("net_cls", "net_cls.classid", "1048577", "network.classID"),
            w(
                "net_prio",
                "net_prio.ifpriomap",
                "eth0 5",
                "network.priorities[0]"
            ),
            w(
                "net_prio",
                "net_prio.ifpriomap",
                "lo 0",
                "network.priorities[1]"
            ),
        ]
    );
    assert_eq!(plan_ok(r#"{"network":{"classID":0}}"#, V1, &[]), vec![]);
    let e = plan_err(
        r#"{"network":{"priorities":[{"name":"a\nb","priority":1}]}}"#,
        V1,
    );
    assert_eq!(field_of(&e), "linux.resources.network.priorities[0].name");
}

#[test]
fn unified_is_refused_on_v1_unless_empty() {
    let e = plan_err(r#"{"unified":{"memory.high":"100"}}"#, V1);
    assert!(matches!(e, ResourceError::Unsupported { .. }));
    assert_eq!(field_of(&e), "linux.resources.unified");
    assert_eq!(plan_ok(r#"{"unified":{}}"#, V1, &[]), vec![]);
}

#[test]
fn controllers_follow_runc_subsystem_order() {
    let res = r#"{"network":{"classID":1,"priorities":[{"name":"lo","priority":1}]},
        "rdma":{"mlx4_0":{"hcaHandles":1}},"hugepageLimits":[{"pageSize":"2MB","limit":0}],
        "blockIO":{"weight":100},"pids":{"limit":10},
        "cpu":{"shares":2,"cpus":"0"},"memory":{"limit":1000}}"#;
    let order: Vec<&str> = plan_ok(res, V1, FRESH)
        .iter()
        .map(|w| w.controller)
        .collect();
    assert_eq!(
        order,
        ["cpuset", "memory", "cpu", "pids", "blkio", "hugetlb", "net_cls", "net_prio", "rdma"]
    );
}

#[test]
fn empty_resources_plan_nothing() {
    assert_eq!(plan_ok("{}", V1, FRESH), vec![]);
    assert_eq!(
        plan_ok(
            r#"{"memory":{},"cpu":{},"blockIO":{},"network":{},"hugepageLimits":[],"rdma":{}}"#,
            V1,
            FRESH
        ),
        vec![]
    );
}
