//! Resource usage of a container's cgroup, read from cgroupfs into runc's
//! `types/events.go` Stats shape (what `events --stats` prints and
//! containerd's runc shim decodes).
//!
//! The JSON field names and `omitempty` rules are runc 1.1's, field for
//! field: Go omits zero numbers, empty strings and empty slices tagged
//! `omitempty` but never a nested struct, and prints maps with sorted keys
//! (hence `BTreeMap`). [`v1`] and [`v2`] fill the struct the way runc's fs
//! and fs2 managers do; the parsers there are pure functions over file text.
//! A missing or unreadable file leaves its fields zero: stats never fail.

pub mod v1;
pub mod v2;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::resources::Version;
use super::Placement;

/// runc's `types.Stats`.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    /// Keyed by page size as runc names it ("2MB", "1GB").
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    /// runc fills this only for veth networks it set up itself, which
    /// neither runc's nor berth's OCI path does: always null.
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

/// Bytes; `limit` is u64::MAX-ish ("max", or v1's page-rounded i64::MAX)
/// when unlimited.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    /// Memory plus swap (v2 values are summed to match v1's memsw).
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 means no limit.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    // runc's tag drops the "d" of "Queued"; kept for decoders.
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioWaitTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioMergedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "sectorsRecursive", skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// Intel RDT is not managed by berth: always `{}`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IntelRdt {}

/// runc's NetworkInterface carries no json tags: Go field names.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Reads every stat the container's cgroups have; missing files are zero.
pub fn read(placement: &Placement) -> Stats {
    let sizes = hugepage_sizes();
    match placement.version() {
        Version::V1 => v1::read(|c| placement.dir(c), &sizes),
        Version::V2 => match placement.v2.as_deref() {
            Some(dir) => v2::read(dir, &sizes),
            None => Stats::default(),
        },
    }
}

/// A cgroup file's text; None when it is missing or unreadable.
pub(crate) fn file(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

/// A single-number cgroup file as runc's GetCgroupParamUint reads it.
pub(crate) fn file_uint(dir: &Path, name: &str) -> Option<u64> {
    file(dir, name).and_then(|t| parse_uint(&t))
}

/// runc's ParseUint for cgroup values: "max" is u64::MAX, and a negative
/// number (v1 prints -1 for "unlimited" in places) is 0.
pub fn parse_uint(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return Some(u64::MAX);
    }
    match t.parse::<u64>() {
        Ok(v) => Some(v),
        Err(_) => t.parse::<i64>().ok().filter(|v| *v < 0).map(|_| 0),
    }
}

/// `key value` lines (memory.stat, cpu.stat, memory.events) in file order;
/// lines that do not parse are skipped.
pub fn parse_key_values(text: &str) -> Vec<(&str, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (k, v) = (f.next()?, f.next()?);
            Some((k, parse_uint(v)?))
        })
        .collect()
}

/// The value of `key` in a `key value` file.
pub fn value_of(text: &str, key: &str) -> Option<u64> {
    parse_key_values(text)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The host's huge page sizes as cgroup file names spell them ("2MB"),
/// from the hugepages-<N>kB entries of /sys/kernel/mm/hugepages.
fn hugepage_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| page_size_name(&e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// "hugepages-2048kB" -> "2MB", in the units docker's go-units prints
/// (binary multiples, named KB/MB/GB).
pub fn page_size_name(entry: &str) -> Option<String> {
    let kb: u64 = entry
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut size = (kb * 1024) as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    Some(format!("{size}{}", UNITS[unit]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uint_values_as_runc_reads_them() {
        assert_eq!(parse_uint("42\n"), Some(42));
        assert_eq!(parse_uint("max\n"), Some(u64::MAX));
        assert_eq!(parse_uint("-1"), Some(0));
        assert_eq!(parse_uint("junk"), None);
    }

    #[test]
    fn page_size_names() {
        assert_eq!(page_size_name("hugepages-2048kB").unwrap(), "2MB");
        assert_eq!(page_size_name("hugepages-1048576kB").unwrap(), "1GB");
        assert_eq!(page_size_name("hugepages-64kB").unwrap(), "64KB");
        assert_eq!(page_size_name("other"), None);
    }

    #[test]
    fn empty_stats_serialize_like_runc() {
        let v = serde_json::to_value(Stats::default()).unwrap();
        assert_eq!(
            v,
            json!({
                "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
                "cpuset": {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                    "memory_migrate": 0, "memory_spread_page": 0, "memory_spread_slab": 0,
                    "memory_pressure": 0, "sched_load_balance": 0, "sched_relax_domain_level": 0},
                "memory": {"usage": {"limit": 0, "failcnt": 0}, "swap": {"limit": 0, "failcnt": 0},
                    "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0}},
                "pids": {},
                "blkio": {},
                "hugetlb": {},
                "intel_rdt": {},
                "network_interfaces": null
            })
        );
    }

    #[test]
    fn renamed_fields_use_runc_tags() {
        let mut s = Stats::default();
        s.cpu.throttling = Throttling {
            periods: 1,
            throttled_periods: 2,
            throttled_time: 3,
        };
        s.blkio.io_queued_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 0,
        });
        s.memory.kernel_tcp.usage = 5;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["cpu"]["throttling"],
            json!({"periods": 1, "throttledPeriods": 2, "throttledTime": 3})
        );
        assert_eq!(
            v["blkio"],
            json!({"ioQueueRecursive": [{"major": 8, "op": "Read"}]})
        );
        assert_eq!(v["memory"]["kernelTCP"]["usage"], 5);
    }
}
