//! cgroup v2 plans: conversions, exact writes, order and field-named errors.

use super::testutil::{field_of, plan_err, plan_err_with, plan_ok, w, Files};
use super::{ResourceError, Version::V2};

/// A cgroup with swap accounting (memory.swap.max present).
const SWAP: &Files<'static> = &[(("memory", "memory.swap.max"), "max")];

#[test]
fn memory_swap_is_converted_and_written_first() {
    assert_eq!(
        plan_ok(
            r#"{"memory":{"limit":100,"swap":300,"reservation":50}}"#,
            V2,
            SWAP
        ),
        vec![
            w("memory", "memory.swap.max", "200", "memory.swap"),
            w("memory", "memory.max", "100", "memory.limit"),
            w("memory", "memory.low", "50", "memory.reservation"),
        ]
    );
}

#[test]
fn swap_equal_to_limit_disables_swap() {
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":100,"swap":100}}"#, V2, SWAP),
        vec![
            w("memory", "memory.swap.max", "0", "memory.swap"),
            w("memory", "memory.max", "100", "memory.limit"),
        ]
    );
}

#[test]
fn unlimited_memory_without_swap_unlimits_swap() {
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":-1}}"#, V2, SWAP),
        vec![
            w("memory", "memory.swap.max", "max", "memory.limit"),
            w("memory", "memory.max", "max", "memory.limit"),
        ]
    );
    // No swap accounting: "max" already holds, nothing to write there.
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":-1}}"#, V2, &[]),
        vec![w("memory", "memory.max", "max", "memory.limit")]
    );
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":100,"swap":100}}"#, V2, &[]),
        vec![w("memory", "memory.max", "100", "memory.limit")]
    );
}

#[test]
fn real_swap_limit_is_planned_even_without_accounting() {
    // apply reports the missing memory.swap.max against the field.
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":100,"swap":150}}"#, V2, &[])[0],
        w("memory", "memory.swap.max", "50", "memory.swap")
    );
}

#[test]
fn unlimited_swap_and_memory_as_is() {
    assert_eq!(
        plan_ok(
            r#"{"memory":{"limit":-1,"swap":500,"reservation":-1}}"#,
            V2,
            SWAP
        ),
        vec![
            w("memory", "memory.swap.max", "500", "memory.swap"),
            w("memory", "memory.max", "max", "memory.limit"),
            w("memory", "memory.low", "max", "memory.reservation"),
        ]
    );
    assert_eq!(
        plan_ok(r#"{"memory":{"limit":100,"swap":-1}}"#, V2, SWAP)[0],
        w("memory", "memory.swap.max", "max", "memory.swap")
    );
}

#[test]
fn swap_conversion_errors_name_the_swap_field() {
    let e = plan_err(r#"{"memory":{"swap":300}}"#, V2);
    assert!(matches!(e, ResourceError::Invalid { .. }));
    assert_eq!(
        e.to_string(),
        "linux.resources.memory.swap: unable to set swap limit without memory limit"
    );
    let e = plan_err(r#"{"memory":{"limit":200,"swap":100}}"#, V2);
    assert_eq!(
        e.to_string(),
        "linux.resources.memory.swap: memory+swap limit should be >= memory limit"
    );
    let e = plan_err(r#"{"memory":{"limit":-2,"swap":100}}"#, V2);
    assert_eq!(field_of(&e), "linux.resources.memory.swap");
}

#[test]
fn check_before_update_compares_with_memory_current() {
    let now = [(("memory", "memory.current"), "1000")];
    let e = plan_err_with(
        r#"{"memory":{"limit":999,"checkBeforeUpdate":true}}"#,
        V2,
        &now,
    );
    assert_eq!(
        e.to_string(),
        "linux.resources.memory.limit: rejecting memory limit 999 <= usage 1000"
    );
    let e = plan_err_with(
        r#"{"memory":{"limit":2000,"swap":1000,"checkBeforeUpdate":true}}"#,
        V2,
        &now,
    );
    assert_eq!(
        e.to_string(),
        "linux.resources.memory.swap: rejecting memory+swap limit 1000 <= usage 1000"
    );
    assert_eq!(
        plan_ok(
            r#"{"memory":{"limit":1001,"checkBeforeUpdate":true}}"#,
            V2,
            &now
        ),
        vec![w("memory", "memory.max", "1001", "memory.limit")]
    );
    assert_eq!(
        plan_ok(
            r#"{"memory":{"limit":-1,"checkBeforeUpdate":true}}"#,
            V2,
            &now
        ),
        vec![w("memory", "memory.max", "max", "memory.limit")]
    );
}

/// Each v1-only field with a non-default value, and the field named.
const V1_ONLY: &[(&str, &str)] = &[
    (r#"{"memory":{"kernel":1048576}}"#, "memory.kernel"),
    (r#"{"memory":{"kernelTCP":1048576}}"#, "memory.kernelTCP"),
    (r#"{"memory":{"swappiness":60}}"#, "memory.swappiness"),
    (r#"{"memory":{"swappiness":0}}"#, "memory.swappiness"),
    (
        r#"{"memory":{"disableOOMKiller":true}}"#,
        "memory.disableOOMKiller",
    ),
    (
        r#"{"memory":{"useHierarchy":false}}"#,
        "memory.useHierarchy",
    ),
    (r#"{"cpu":{"realtimeRuntime":1000}}"#, "cpu.realtimeRuntime"),
    (
        r#"{"cpu":{"realtimePeriod":1000000}}"#,
        "cpu.realtimePeriod",
    ),
    (r#"{"blockIO":{"leafWeight":100}}"#, "blockIO.leafWeight"),
    (
        r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":10},{"major":8,"minor":1,"leafWeight":10}]}}"#,
        "blockIO.weightDevice[1].leafWeight",
    ),
    (r#"{"network":{"classID":1}}"#, "network.classID"),
    (
        r#"{"network":{"priorities":[{"name":"lo","priority":1}]}}"#,
        "network.priorities",
    ),
];

#[test]
fn v1_only_fields_are_unsupported_naming_the_field() {
    for (res, field) in V1_ONLY {
        let e = plan_err(res, V2);
        assert!(
            matches!(e, ResourceError::Unsupported { .. }),
            "{res}: {e:?}"
        );
        assert_eq!(field_of(&e), format!("linux.resources.{field}"), "{res}");
    }
}

#[test]
fn v1_only_fields_at_their_defaults_pass() {
    let res = r#"{"memory":{"kernel":-1,"kernelTCP":0,"swappiness":18446744073709551615,
        "disableOOMKiller":false,"useHierarchy":true},
        "cpu":{"realtimeRuntime":0,"realtimePeriod":0},
        "blockIO":{"leafWeight":0,"weightDevice":[{"major":8,"minor":0,"leafWeight":0}]},
        "network":{"classID":0,"priorities":[]}}"#;
    assert_eq!(plan_ok(res, V2, SWAP), vec![]);
    let e = plan_err(r#"{"memory":{"swappiness":101}}"#, V2);
    assert!(matches!(e, ResourceError::Invalid { .. }));
}

const IO: &str = r#"{"blockIO":{"weight":100,
    "weightDevice":[{"major":8,"minor":0,"weight":500},{"major":8,"minor":16}],
    "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
    "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":0}],
    "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
    "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":200}]}}"#;

#[test]
fn io_converts_weights_without_bfq() {
    assert_eq!(
        plan_ok(IO, V2, &[]),
        vec![
            w("io", "io.weight", "910", "blockIO.weight"),
            w(
                "io",
                "io.weight",
                "8:0 4950",
                "blockIO.weightDevice[0].weight"
            ),
            w(
                "io",
                "io.max",
                "8:0 rbps=1048576",
                "blockIO.throttleReadBpsDevice[0]"
            ),
            w(
                "io",
                "io.max",
                "8:0 wbps=max",
                "blockIO.throttleWriteBpsDevice[0]"
            ),
            w(
                "io",
                "io.max",
                "8:0 riops=100",
                "blockIO.throttleReadIOPSDevice[0]"
            ),
            w(
                "io",
                "io.max",
                "8:16 wiops=200",
                "blockIO.throttleWriteIOPSDevice[0]"
            ),
        ]
    );
}

#[test]
fn io_uses_bfq_weights_as_they_are() {
    let got = plan_ok(IO, V2, &[(("io", "io.bfq.weight"), "default 100")]);
    assert_eq!(got[0], w("io", "io.bfq.weight", "100", "blockIO.weight"));
    assert_eq!(
        got[1],
        w(
            "io",
            "io.bfq.weight",
            "8:0 500",
            "blockIO.weightDevice[0].weight"
        )
    );
    // BFQ takes 1-1000 itself, no conversion range applies.
    assert_eq!(
        plan_ok(
            r#"{"blockIO":{"weight":5}}"#,
            V2,
            &[(("io", "io.bfq.weight"), "100")]
        ),
        vec![w("io", "io.bfq.weight", "5", "blockIO.weight")]
    );
}

#[test]
fn io_weight_outside_convertible_range_is_invalid() {
    let e = plan_err(r#"{"blockIO":{"weight":5}}"#, V2);
    assert!(matches!(e, ResourceError::Invalid { .. }));
    assert_eq!(field_of(&e), "linux.resources.blockIO.weight");
    let e = plan_err(
        r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":1001}]}}"#,
        V2,
    );
    assert_eq!(
        field_of(&e),
        "linux.resources.blockIO.weightDevice[0].weight"
    );
    assert_eq!(
        plan_ok(r#"{"blockIO":{"weight":10}}"#, V2, &[]),
        vec![w("io", "io.weight", "1", "blockIO.weight")]
    );
    assert_eq!(
        plan_ok(r#"{"blockIO":{"weight":1000}}"#, V2, &[]),
        vec![w("io", "io.weight", "10000", "blockIO.weight")]
    );
}

#[test]
fn cpu_fields_in_runc_order() {
    let res = r#"{"cpu":{"shares":1024,"quota":50000,"period":200000,"burst":10000,"idle":0}}"#;
    let now = [
        (("cpu", "cpu.idle"), "0"),
        (("cpu", "cpu.max"), "max 100000"),
        (("cpu", "cpu.max.burst"), "0"),
    ];
    assert_eq!(
        plan_ok(res, V2, &now),
        vec![
            w("cpu", "cpu.idle", "0", "cpu.idle"),
            w("cpu", "cpu.weight", "39", "cpu.shares"),
            w("cpu", "cpu.max.burst", "10000", "cpu.burst"),
            w("cpu", "cpu.max", "50000 200000", "cpu.quota"),
        ]
    );
}

#[test]
fn cpu_max_defaults_like_runc() {
    assert_eq!(
        plan_ok(r#"{"cpu":{"quota":20000}}"#, V2, &[]),
        vec![w("cpu", "cpu.max", "20000 100000", "cpu.quota")]
    );
    assert_eq!(
        plan_ok(r#"{"cpu":{"quota":-1}}"#, V2, &[]),
        vec![w("cpu", "cpu.max", "max 100000", "cpu.quota")]
    );
    assert_eq!(
        plan_ok(r#"{"cpu":{"period":50000}}"#, V2, &[]),
        vec![w("cpu", "cpu.max", "max 50000", "cpu.period")]
    );
    assert_eq!(
        plan_ok(r#"{"cpu":{"quota":0,"period":0,"shares":0}}"#, V2, &[]),
        vec![]
    );
}

#[test]
fn cpu_burst_above_present_quota_goes_after_cpu_max() {
    let now = [(("cpu", "cpu.max"), "20000 100000")];
    assert_eq!(
        plan_ok(r#"{"cpu":{"quota":100000,"burst":50000}}"#, V2, &now),
        vec![
            w("cpu", "cpu.max", "100000 100000", "cpu.quota"),
            w("cpu", "cpu.max.burst", "50000", "cpu.burst"),
        ]
    );
    // Burst alone cannot be reordered: it goes as it is.
    assert_eq!(
        plan_ok(r#"{"cpu":{"burst":50000}}"#, V2, &now),
        vec![w("cpu", "cpu.max.burst", "50000", "cpu.burst")]
    );
}

#[test]
fn cpu_shares_conversion_edges_and_range() {
    for (shares, weight) in [(2, "1"), (262_144, "10000"), (100, "4")] {
        assert_eq!(
            plan_ok(&format!(r#"{{"cpu":{{"shares":{shares}}}}}"#), V2, &[]),
            vec![w("cpu", "cpu.weight", weight, "cpu.shares")]
        );
    }
    let e = plan_err(r#"{"cpu":{"shares":262145}}"#, V2);
    assert_eq!(field_of(&e), "linux.resources.cpu.shares");
}

#[test]
fn unified_keys_verbatim_in_key_order() {
    let res = r#"{"unified":{"pids.max":"10","memory.high":"1048576","cgroup.freeze":"0"}}"#;
    assert_eq!(
        plan_ok(res, V2, &[]),
        vec![
            w("", "cgroup.freeze", "0", "unified.\"cgroup.freeze\""),
            w("", "memory.high", "1048576", "unified.\"memory.high\""),
            w("", "pids.max", "10", "unified.\"pids.max\""),
        ]
    );
    for bad in ["../memory.max", "a/b", "..", "."] {
        let e = plan_err(&format!(r#"{{"unified":{{"{bad}":"1"}}}}"#), V2);
        assert_eq!(field_of(&e), format!("linux.resources.unified.\"{bad}\""));
    }
}

#[test]
fn controllers_follow_runc_fs2_order_with_unified_last() {
    let res = r#"{"unified":{"memory.high":"1"},"rdma":{"mlx4_0":{"hcaHandles":1}},
        "hugepageLimits":[{"pageSize":"2MB","limit":0}],"cpu":{"shares":2,"cpus":"0"},
        "blockIO":{"weight":100},"memory":{"limit":1000},"pids":{"limit":10}}"#;
    let order: Vec<&str> = plan_ok(res, V2, SWAP)
        .iter()
        .map(|w| w.controller)
        .collect();
    assert_eq!(
        order,
        ["pids", "memory", "io", "cpu", "cpuset", "hugetlb", "rdma", ""]
    );
}

#[test]
fn empty_resources_plan_nothing() {
    assert_eq!(plan_ok("{}", V2, SWAP), vec![]);
    assert_eq!(
        plan_ok(
            r#"{"memory":{},"cpu":{},"blockIO":{},"network":{},"unified":{}}"#,
            V2,
            SWAP
        ),
        vec![]
    );
}
