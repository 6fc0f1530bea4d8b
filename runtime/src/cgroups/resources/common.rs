//! Writes and checks with the same shape on cgroup v1 and v2: pids, cpuset,
//! hugetlb, rdma, the cpu.shares range, swappiness and `checkBeforeUpdate`.

use std::collections::HashMap;

use oci_spec::runtime::{LinuxCpu, LinuxHugepageLimit, LinuxPids, LinuxRdma};

use super::{invalid, Planner, ResourceError};

/// The kernel's cpu.shares range (MIN_SHARES, MAX_SHARES in kernel/sched).
pub(super) const MIN_SHARES: u64 = 2;
pub(super) const MAX_SHARES: u64 = 262_144;

/// The kernel clamps cpu.shares into its range without an error; runc
/// reads the value back and fails with these messages. Refusing before
/// the write gives the same outcome on both versions.
pub(super) fn check_shares(shares: u64) -> Result<(), ResourceError> {
    if shares < MIN_SHARES {
        return Err(invalid(
            "cpu.shares",
            format!("the minimum allowed cpu-shares is {MIN_SHARES}"),
        ));
    }
    if shares > MAX_SHARES {
        return Err(invalid(
            "cpu.shares",
            format!("the maximum allowed cpu-shares is {MAX_SHARES}"),
        ));
    }
    Ok(())
}

/// Swappiness to write, if any: runc treats -1 (read as u64) as unset and
/// refuses anything above 100.
pub(super) fn swappiness(value: u64) -> Result<Option<u64>, ResourceError> {
    match value {
        u64::MAX => Ok(None),
        0..=100 => Ok(Some(value)),
        _ => Err(invalid(
            "memory.swappiness",
            format!("invalid memory swappiness value: {value} (valid range is 0-100)"),
        )),
    }
}

/// `checkBeforeUpdate`: a limit at or below the present usage is refused
/// (runc's CheckMemoryUsage). Best effort, as there: an unreadable usage
/// lets the limit through.
pub(super) fn reject_below_usage(
    field: &str,
    what: &str,
    limit: i64,
    usage: Option<u64>,
) -> Result<(), ResourceError> {
    let (Ok(limit_u), Some(usage)) = (u64::try_from(limit), usage) else {
        return Ok(());
    };
    if limit_u != 0 && limit_u <= usage {
        return Err(invalid(
            field,
            format!("rejecting {what} {limit} <= usage {usage}"),
        ));
    }
    Ok(())
}

/// pids.max: 0 leaves it, any negative value is "max" (runc's v1 rule,
/// used on v2 too so both versions read the spec alike).
pub(super) fn pids(p: &LinuxPids, out: &mut Planner<'_>) {
    match p.limit() {
        0 => {}
        l if l < 0 => out.write("pids", "pids.max", "max", "pids.limit"),
        l => out.write("pids", "pids.max", l, "pids.limit"),
    }
}

/// cpuset.cpus then cpuset.mems; empty strings mean "not set".
pub(super) fn cpuset(cpu: &LinuxCpu, out: &mut Planner<'_>) {
    if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        out.write("cpuset", "cpuset.cpus", cpus, "cpu.cpus");
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
        out.write("cpuset", "cpuset.mems", mems, "cpu.mems");
    }
}

/// `hugetlb.<size>.<suffix>` for each limit, and the reservation limit
/// `hugetlb.<size>.rsvd.<suffix>` with the same value where the kernel has
/// it (5.7+), as runc 1.2 does. A limit of 0 is written: it forbids the
/// page size.
pub(super) fn hugetlb(
    limits: &[LinuxHugepageLimit],
    suffix: &str,
    out: &mut Planner<'_>,
) -> Result<(), ResourceError> {
    for (i, h) in limits.iter().enumerate() {
        let field = format!("hugepageLimits[{i}]");
        let size = h.page_size();
        if !is_page_size(size) {
            return Err(invalid(
                format!("{field}.pageSize"),
                format!("{size:?} is not a page size such as 2MB or 1GB"),
            ));
        }
        let limit = u64::try_from(h.limit()).map_err(|_| {
            invalid(
                format!("{field}.limit"),
                format!("{} is negative", h.limit()),
            )
        })?;
        let field = format!("{field}.limit");
        out.write("hugetlb", format!("hugetlb.{size}.{suffix}"), limit, &field);
        let rsvd = format!("hugetlb.{size}.rsvd.{suffix}");
        if out.has("hugetlb", &rsvd) {
            out.write("hugetlb", rsvd, limit, &field);
        }
    }
    Ok(())
}

/// The kernel's names for huge page sizes: digits then KB, MB or GB. The
/// size becomes part of a file name, so nothing else may pass.
fn is_page_size(s: &str) -> bool {
    let Some(num) = ["KB", "MB", "GB"].iter().find_map(|u| s.strip_suffix(u)) else {
        return false;
    };
    !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit())
}

/// rdma.max, one line per device: `<dev> hca_handle=N hca_object=M`, only
/// the keys that are set. Devices are written in name order.
pub(super) fn rdma(
    limits: &HashMap<String, LinuxRdma>,
    out: &mut Planner<'_>,
) -> Result<(), ResourceError> {
    for (dev, l) in sorted(limits) {
        let field = format!("rdma.\"{dev}\"");
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(invalid(field, "not an RDMA device name"));
        }
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > dev.len() {
            out.write("rdma", "rdma.max", line, field);
        }
    }
    Ok(())
}

/// Map entries in key order, so plans are deterministic.
pub(super) fn sorted<V>(map: &HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{field_of, plan_err, plan_ok, w};
    use super::super::{ResourceError, Version};
    use super::*;

    #[test]
    fn page_sizes_are_checked_because_they_name_files() {
        for ok in ["2MB", "1GB", "64KB", "16GB", "32MB"] {
            assert!(is_page_size(ok), "{ok}");
        }
        for bad in ["", "MB", "2mb", "2M", "../2MB", "2MB/../x", "1 GB", "2TB"] {
            assert!(!is_page_size(bad), "{bad}");
        }
    }

    #[test]
    fn shares_range_is_refused_outside_kernel_limits() {
        assert!(check_shares(2).is_ok());
        assert!(check_shares(262_144).is_ok());
        let e = check_shares(1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.cpu.shares: the minimum allowed cpu-shares is 2"
        );
        let e = check_shares(262_145).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.cpu.shares: the maximum allowed cpu-shares is 262144"
        );
    }

    #[test]
    fn swappiness_minus_one_is_unset_and_above_100_invalid() {
        assert_eq!(swappiness(0).unwrap(), Some(0));
        assert_eq!(swappiness(100).unwrap(), Some(100));
        assert_eq!(swappiness(u64::MAX).unwrap(), None);
        let e = swappiness(101).unwrap_err();
        assert!(matches!(e, ResourceError::Invalid { .. }));
        assert_eq!(
            e.to_string(),
            "linux.resources.memory.swappiness: invalid memory swappiness value: 101 (valid range is 0-100)"
        );
    }

    #[test]
    fn pids_zero_negative_and_positive_on_both_versions() {
        for v in [Version::V1, Version::V2] {
            assert_eq!(plan_ok(r#"{"pids":{"limit":0}}"#, v, &[]), vec![]);
            assert_eq!(
                plan_ok(r#"{"pids":{"limit":-1}}"#, v, &[]),
                vec![w("pids", "pids.max", "max", "pids.limit")]
            );
            assert_eq!(
                plan_ok(r#"{"pids":{"limit":-7}}"#, v, &[]),
                vec![w("pids", "pids.max", "max", "pids.limit")]
            );
            assert_eq!(
                plan_ok(r#"{"pids":{"limit":42}}"#, v, &[]),
                vec![w("pids", "pids.max", "42", "pids.limit")]
            );
        }
    }

    #[test]
    fn cpuset_cpus_and_mems_on_both_versions() {
        for v in [Version::V1, Version::V2] {
            assert_eq!(
                plan_ok(r#"{"cpu":{"cpus":"0-1","mems":"0"}}"#, v, &[]),
                vec![
                    w("cpuset", "cpuset.cpus", "0-1", "cpu.cpus"),
                    w("cpuset", "cpuset.mems", "0", "cpu.mems"),
                ]
            );
            assert_eq!(plan_ok(r#"{"cpu":{"cpus":"","mems":""}}"#, v, &[]), vec![]);
        }
    }

    #[test]
    fn hugetlb_v1_and_v2_names_with_rsvd_only_where_present() {
        let res = r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304},{"pageSize":"1GB","limit":0}]}"#;
        assert_eq!(
            plan_ok(res, Version::V1, &[]),
            vec![
                w(
                    "hugetlb",
                    "hugetlb.2MB.limit_in_bytes",
                    "4194304",
                    "hugepageLimits[0].limit"
                ),
                w(
                    "hugetlb",
                    "hugetlb.1GB.limit_in_bytes",
                    "0",
                    "hugepageLimits[1].limit"
                ),
            ]
        );
        let rsvd = [(("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes"), "0")];
        assert_eq!(
            plan_ok(res, Version::V1, &rsvd),
            vec![
                w(
                    "hugetlb",
                    "hugetlb.2MB.limit_in_bytes",
                    "4194304",
                    "hugepageLimits[0].limit"
                ),
                w(
                    "hugetlb",
                    "hugetlb.2MB.rsvd.limit_in_bytes",
                    "4194304",
                    "hugepageLimits[0].limit"
                ),
                w(
                    "hugetlb",
                    "hugetlb.1GB.limit_in_bytes",
                    "0",
                    "hugepageLimits[1].limit"
                ),
            ]
        );
        let rsvd = [
            (("hugetlb", "hugetlb.2MB.rsvd.max"), "max"),
            (("hugetlb", "hugetlb.1GB.rsvd.max"), "max"),
        ];
        assert_eq!(
            plan_ok(res, Version::V2, &rsvd),
            vec![
                w(
                    "hugetlb",
                    "hugetlb.2MB.max",
                    "4194304",
                    "hugepageLimits[0].limit"
                ),
                w(
                    "hugetlb",
                    "hugetlb.2MB.rsvd.max",
                    "4194304",
                    "hugepageLimits[0].limit"
                ),
                w("hugetlb", "hugetlb.1GB.max", "0", "hugepageLimits[1].limit"),
                w(
                    "hugetlb",
                    "hugetlb.1GB.rsvd.max",
                    "0",
                    "hugepageLimits[1].limit"
                ),
            ]
        );
    }

    #[test]
    fn hugetlb_bad_size_and_negative_limit_name_the_field() {
        let e = plan_err(
            r#"{"hugepageLimits":[{"pageSize":"../x","limit":1}]}"#,
            Version::V1,
        );
        assert_eq!(field_of(&e), "linux.resources.hugepageLimits[0].pageSize");
        let e = plan_err(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1},{"pageSize":"2MB","limit":-1}]}"#,
            Version::V2,
        );
        assert_eq!(field_of(&e), "linux.resources.hugepageLimits[1].limit");
        assert!(matches!(e, ResourceError::Invalid { .. }));
    }

    #[test]
    fn rdma_lines_in_device_order_with_only_set_keys() {
        let res = r#"{"rdma":{"mlx5_1":{"hcaHandles":3},"mlx4_0":{"hcaHandles":2,"hcaObjects":100},"none":{}}}"#;
        for v in [Version::V1, Version::V2] {
            assert_eq!(
                plan_ok(res, v, &[]),
                vec![
                    w(
                        "rdma",
                        "rdma.max",
                        "mlx4_0 hca_handle=2 hca_object=100",
                        "rdma.\"mlx4_0\""
                    ),
                    w("rdma", "rdma.max", "mlx5_1 hca_handle=3", "rdma.\"mlx5_1\""),
                ]
            );
        }
        let e = plan_err(r#"{"rdma":{"a b":{"hcaHandles":1}}}"#, Version::V1);
        assert_eq!(field_of(&e), "linux.resources.rdma.\"a b\"");
    }

    #[test]
    fn usage_check_is_best_effort_and_inclusive() {
        assert!(reject_below_usage("memory.limit", "memory limit", 100, None).is_ok());
        assert!(reject_below_usage("memory.limit", "memory limit", 101, Some(100)).is_ok());
        assert!(reject_below_usage("memory.limit", "memory limit", -1, Some(100)).is_ok());
        let e = reject_below_usage("memory.limit", "memory limit", 100, Some(100)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.memory.limit: rejecting memory limit 100 <= usage 100"
        );
    }
}
