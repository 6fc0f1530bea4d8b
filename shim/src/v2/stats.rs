//! Stats: the runtime's `events --stats` JSON (runc's types.Stats) turned
//! into what `ctr task metrics` and CRI decode: on a cgroup v1 (or hybrid)
//! host `io.containerd.cgroups.v1.Metrics`, on a unified (v2-only) host
//! `io.containerd.cgroups.v2.Metrics`, as runc's shim answers. runc's JSON
//! has one shape on both hierarchies (on v2 its `memory.raw` carries v2's
//! memory.stat keys and `blkio` v2's io.stat as Read/Write entries).
//! Missing fields read as zero, as Go's decoder leaves them.

use containerd_shim_protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryStat, Metrics,
    PidsStat, Throttle,
};
use containerd_shim_protos::protobuf::{self, Message, MessageField};
use protobuf::well_known_types::any::Any;
use serde_json::Value;

use containerd_shim_protos::cgroups_v2::metrics as v2;

pub const METRICS_V1: &str = "io.containerd.cgroups.v1.Metrics";
pub const METRICS_V2: &str = "io.containerd.cgroups.v2.Metrics";

fn num(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return 0,
        }
    }
    cur.as_u64().unwrap_or(0)
}

fn entry(v: &Value, key: &str) -> MessageField<MemoryEntry> {
    let e = &v[key];
    MessageField::some(MemoryEntry {
        limit: num(e, &["limit"]),
        usage: num(e, &["usage"]),
        max: num(e, &["max"]),
        failcnt: num(e, &["failcnt"]),
        ..Default::default()
    })
}

/// Picks one field of a message, for the tables below.
type Field<M, T> = fn(&mut M) -> &mut T;

/// runc's memory.stat keys (`raw`) and the Metrics fields they fill.
const MEMORY_RAW: &[(&str, Field<MemoryStat, u64>)] = &[
    ("cache", |m| &mut m.cache),
    ("rss", |m| &mut m.rss),
    ("rss_huge", |m| &mut m.rss_huge),
    ("mapped_file", |m| &mut m.mapped_file),
    ("dirty", |m| &mut m.dirty),
    ("writeback", |m| &mut m.writeback),
    ("pgpgin", |m| &mut m.pg_pg_in),
    ("pgpgout", |m| &mut m.pg_pg_out),
    ("pgfault", |m| &mut m.pg_fault),
    ("pgmajfault", |m| &mut m.pg_maj_fault),
    ("inactive_anon", |m| &mut m.inactive_anon),
    ("active_anon", |m| &mut m.active_anon),
    ("inactive_file", |m| &mut m.inactive_file),
    ("active_file", |m| &mut m.active_file),
    ("unevictable", |m| &mut m.unevictable),
    ("hierarchical_memory_limit", |m| {
        &mut m.hierarchical_memory_limit
    }),
    ("hierarchical_memsw_limit", |m| {
        &mut m.hierarchical_swap_limit
    }),
    ("total_cache", |m| &mut m.total_cache),
    ("total_rss", |m| &mut m.total_rss),
    ("total_rss_huge", |m| &mut m.total_rss_huge),
    ("total_mapped_file", |m| &mut m.total_mapped_file),
    ("total_dirty", |m| &mut m.total_dirty),
    ("total_writeback", |m| &mut m.total_writeback),
    ("total_pgpgin", |m| &mut m.total_pg_pg_in),
    ("total_pgpgout", |m| &mut m.total_pg_pg_out),
    ("total_pgfault", |m| &mut m.total_pg_fault),
    ("total_pgmajfault", |m| &mut m.total_pg_maj_fault),
    ("total_inactive_anon", |m| &mut m.total_inactive_anon),
    ("total_active_anon", |m| &mut m.total_active_anon),
    ("total_inactive_file", |m| &mut m.total_inactive_file),
    ("total_active_file", |m| &mut m.total_active_file),
    ("total_unevictable", |m| &mut m.total_unevictable),
];

/// runc's blkio lists and the Metrics lists they fill.
const BLKIO: &[(&str, Field<BlkIOStat, Vec<BlkIOEntry>>)] = &[
    ("io_service_bytes_recursive", |b| {
        &mut b.io_service_bytes_recursive
    }),
    ("io_serviced_recursive", |b| &mut b.io_serviced_recursive),
    ("io_queue_recursive", |b| &mut b.io_queued_recursive),
    ("io_service_time_recursive", |b| {
        &mut b.io_service_time_recursive
    }),
    ("io_wait_time_recursive", |b| &mut b.io_wait_time_recursive),
    ("io_merged_recursive", |b| &mut b.io_merged_recursive),
    ("io_time_recursive", |b| &mut b.io_time_recursive),
    ("sectors_recursive", |b| &mut b.sectors_recursive),
];

/// Converts one `events --stats` event (or its `data`) to Metrics.
pub fn metrics_from_runc(event: &Value) -> Metrics {
    let d = event.get("data").unwrap_or(event);
    let mut m = Metrics::new();

    m.pids = MessageField::some(PidsStat {
        current: num(d, &["pids", "current"]),
        limit: num(d, &["pids", "limit"]),
        ..Default::default()
    });

    let cpu = &d["cpu"];
    m.cpu = MessageField::some(CPUStat {
        usage: MessageField::some(CPUUsage {
            total: num(cpu, &["usage", "total"]),
            kernel: num(cpu, &["usage", "kernel"]),
            user: num(cpu, &["usage", "user"]),
            per_cpu: cpu["usage"]["percpu"]
                .as_array()
                .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0)).collect())
                .unwrap_or_default(),
            ..Default::default()
        }),
        throttling: MessageField::some(Throttle {
            periods: num(cpu, &["throttling", "periods"]),
            throttled_periods: num(cpu, &["throttling", "throttled_periods"]),
            throttled_time: num(cpu, &["throttling", "throttled_time"]),
            ..Default::default()
        }),
        ..Default::default()
    });

    let mem = &d["memory"];
    let mut ms = MemoryStat::new();
    for (key, field) in MEMORY_RAW {
        *field(&mut ms) = num(mem, &["raw", key]);
    }
    if ms.cache == 0 {
        ms.cache = num(mem, &["cache"]);
    }
    ms.usage = entry(mem, "usage");
    ms.swap = entry(mem, "swap");
    ms.kernel = entry(mem, "kernel");
    ms.kernel_tcp = entry(mem, "kernelTCP");
    m.memory = MessageField::some(ms);

    let mut bs = BlkIOStat::new();
    for (key, field) in BLKIO {
        if let Some(list) = d["blkio"][key].as_array() {
            *field(&mut bs) = list
                .iter()
                .map(|e| BlkIOEntry {
                    op: e["op"].as_str().unwrap_or("").to_string(),
                    major: num(e, &["major"]),
                    minor: num(e, &["minor"]),
                    value: num(e, &["value"]),
                    ..Default::default()
                })
                .collect();
        }
    }
    m.blkio = MessageField::some(bs);

    if let Some(h) = d["hugetlb"].as_object() {
        m.hugetlb = h
            .iter()
            .map(|(size, s)| HugetlbStat {
                pagesize: size.clone(),
                usage: num(s, &["usage"]),
                max: num(s, &["max"]),
                failcnt: num(s, &["failcnt"]),
                ..Default::default()
            })
            .collect();
    }
    m
}

/// v2's memory.stat keys (runc's `raw` on a v2 host), same names in
/// the v2 Metrics.
const MEMORY_V2: &[(&str, Field<v2::MemoryStat, u64>)] = &[
    ("anon", |m| &mut m.anon),
    ("file", |m| &mut m.file),
    ("kernel_stack", |m| &mut m.kernel_stack),
    ("slab", |m| &mut m.slab),
    ("sock", |m| &mut m.sock),
    ("shmem", |m| &mut m.shmem),
    ("file_mapped", |m| &mut m.file_mapped),
    ("file_dirty", |m| &mut m.file_dirty),
    ("file_writeback", |m| &mut m.file_writeback),
    ("anon_thp", |m| &mut m.anon_thp),
    ("inactive_anon", |m| &mut m.inactive_anon),
    ("active_anon", |m| &mut m.active_anon),
    ("inactive_file", |m| &mut m.inactive_file),
    ("active_file", |m| &mut m.active_file),
    ("unevictable", |m| &mut m.unevictable),
    ("slab_reclaimable", |m| &mut m.slab_reclaimable),
    ("slab_unreclaimable", |m| &mut m.slab_unreclaimable),
    ("pgfault", |m| &mut m.pgfault),
    ("pgmajfault", |m| &mut m.pgmajfault),
    ("workingset_refault", |m| &mut m.workingset_refault),
    ("workingset_activate", |m| &mut m.workingset_activate),
    ("workingset_nodereclaim", |m| &mut m.workingset_nodereclaim),
    ("pgrefill", |m| &mut m.pgrefill),
    ("pgscan", |m| &mut m.pgscan),
    ("pgsteal", |m| &mut m.pgsteal),
    ("pgactivate", |m| &mut m.pgactivate),
    ("pgdeactivate", |m| &mut m.pgdeactivate),
    ("pglazyfree", |m| &mut m.pglazyfree),
    ("pglazyfreed", |m| &mut m.pglazyfreed),
    ("thp_fault_alloc", |m| &mut m.thp_fault_alloc),
    ("thp_collapse_alloc", |m| &mut m.thp_collapse_alloc),
];

/// Converts one `events --stats` event to cgroups v2 Metrics. runc
/// reports CPU times in nanoseconds; v2 Metrics in microseconds.
pub fn metrics_v2_from_runc(event: &Value) -> v2::Metrics {
    let d = event.get("data").unwrap_or(event);
    let mut m = v2::Metrics::new();
    m.pids = MessageField::some(v2::PidsStat {
        current: num(d, &["pids", "current"]),
        limit: num(d, &["pids", "limit"]),
        ..Default::default()
    });
    let cpu = &d["cpu"];
    m.cpu = MessageField::some(v2::CPUStat {
        usage_usec: num(cpu, &["usage", "total"]) / 1000,
        user_usec: num(cpu, &["usage", "user"]) / 1000,
        system_usec: num(cpu, &["usage", "kernel"]) / 1000,
        nr_periods: num(cpu, &["throttling", "periods"]),
        nr_throttled: num(cpu, &["throttling", "throttled_periods"]),
        throttled_usec: num(cpu, &["throttling", "throttled_time"]) / 1000,
        ..Default::default()
    });
    let mem = &d["memory"];
    let mut ms = v2::MemoryStat::new();
    for (key, field) in MEMORY_V2 {
        *field(&mut ms) = num(mem, &["raw", key]);
    }
    ms.usage = num(mem, &["usage", "usage"]);
    ms.usage_limit = num(mem, &["usage", "limit"]);
    ms.max_usage = num(mem, &["usage", "max"]);
    ms.swap_usage = num(mem, &["swap", "usage"]);
    ms.swap_limit = num(mem, &["swap", "limit"]);
    ms.swap_max_usage = num(mem, &["swap", "max"]);
    m.memory = MessageField::some(ms);

    // io.stat per device: bytes and ops, from runc's Read/Write entries.
    let mut io: Vec<v2::IOEntry> = Vec::new();
    for (list, bytes) in [
        ("io_service_bytes_recursive", true),
        ("io_serviced_recursive", false),
    ] {
        for e in d["blkio"][list].as_array().into_iter().flatten() {
            let (major, minor) = (num(e, &["major"]), num(e, &["minor"]));
            let i = match io.iter().position(|x| x.major == major && x.minor == minor) {
                Some(i) => i,
                None => {
                    io.push(v2::IOEntry {
                        major,
                        minor,
                        ..Default::default()
                    });
                    io.len() - 1
                }
            };
            let v = num(e, &["value"]);
            let entry = &mut io[i];
            match (
                e["op"].as_str().map(str::to_ascii_lowercase).as_deref(),
                bytes,
            ) {
                (Some("read"), true) => entry.rbytes = v,
                (Some("write"), true) => entry.wbytes = v,
                (Some("read"), false) => entry.rios = v,
                (Some("write"), false) => entry.wios = v,
                _ => {}
            }
        }
    }
    m.io = MessageField::some(v2::IOStat {
        usage: io,
        ..Default::default()
    });
    if let Some(h) = d["hugetlb"].as_object() {
        m.hugetlb = h
            .iter()
            .map(|(size, s)| v2::HugeTlbStat {
                pagesize: size.clone(),
                current: num(s, &["usage"]),
                max: num(s, &["max"]),
                failcnt: num(s, &["failcnt"]),
                ..Default::default()
            })
            .collect();
    }
    m
}

/// Which hierarchy the host's cgroups are: unified (v2-only) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// v1, or hybrid (v1 controllers plus a unified mount without them).
    Legacy,
    Unified,
}

impl Hierarchy {
    pub fn of_host() -> Hierarchy {
        if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            Hierarchy::Unified
        } else {
            Hierarchy::Legacy
        }
    }
}

/// The StatsResponse payload for this host.
pub fn metrics_any(event: &Value, h: Hierarchy) -> Any {
    let mut any = Any::new();
    let encoded = match h {
        Hierarchy::Legacy => {
            any.type_url = METRICS_V1.to_string();
            metrics_from_runc(event).write_to_bytes()
        }
        Hierarchy::Unified => {
            any.type_url = METRICS_V2.to_string();
            metrics_v2_from_runc(event).write_to_bytes()
        }
    };
    any.value = encoded.expect("metrics encode");
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `runc events --stats` of a busybox `sleep`.
    const RUNC: &str = r#"{"type":"stats","id":"c1","data":{
        "cpu":{"usage":{"percpu":[100,200],"total":300,"kernel":10,"user":20},
               "throttling":{"periods":4}},
        "memory":{"usage":{"limit":9223372036854771712,"usage":450560,"max":1052672,"failcnt":0},
                  "swap":{"limit":1,"usage":2},"kernel":{},
                  "raw":{"cache":4096,"rss":8192,"pgfault":77,"total_rss":8192,"hierarchical_memory_limit":5}},
        "pids":{"current":2,"limit":64},
        "blkio":{"io_service_bytes_recursive":[{"major":8,"minor":0,"op":"Read","value":512}]},
        "hugetlb":{"2MB":{"usage":0,"max":0,"failcnt":1}}}}"#;

    #[test]
    fn runc_stats_json_becomes_cgroups_v1_metrics() {
        let m = metrics_from_runc(&serde_json::from_str(RUNC).unwrap());
        assert_eq!((m.pids.current, m.pids.limit), (2, 64));
        assert_eq!(m.cpu.usage.total, 300);
        assert_eq!(m.cpu.usage.per_cpu, vec![100, 200]);
        assert_eq!((m.cpu.usage.kernel, m.cpu.usage.user), (10, 20));
        assert_eq!(m.cpu.throttling.periods, 4);
        assert_eq!(m.memory.usage.usage, 450560);
        assert_eq!(m.memory.usage.max, 1052672);
        assert_eq!(m.memory.swap.usage, 2);
        assert_eq!((m.memory.cache, m.memory.rss), (4096, 8192));
        assert_eq!(m.memory.pg_fault, 77);
        assert_eq!(m.memory.total_rss, 8192);
        assert_eq!(m.memory.hierarchical_memory_limit, 5);
        let b = &m.blkio.io_service_bytes_recursive[0];
        assert_eq!((b.op.as_str(), b.major, b.value), ("Read", 8, 512));
        assert_eq!(m.hugetlb[0].pagesize, "2MB");
        assert_eq!(m.hugetlb[0].failcnt, 1);
    }

    #[test]
    fn the_any_round_trips_under_containerds_type_name() {
        let any = metrics_any(&serde_json::from_str(RUNC).unwrap(), Hierarchy::Legacy);
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        let back = Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!(back.pids.current, 2);
        let any = metrics_any(&serde_json::from_str(RUNC).unwrap(), Hierarchy::Unified);
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
        assert_eq!(
            v2::Metrics::parse_from_bytes(&any.value)
                .unwrap()
                .pids
                .limit,
            64
        );
    }

    /// Trimmed from `runc events --stats` on a cgroup v2 host.
    const RUNC_V2: &str = r#"{"type":"stats","id":"c1","data":{
        "cpu":{"usage":{"total":5000000,"kernel":1000000,"user":4000000},
               "throttling":{"periods":10,"throttled_periods":2,"throttled_time":3000}},
        "memory":{"usage":{"limit":67108864,"usage":1048576,"max":0},
                  "swap":{"limit":134217728,"usage":4096},
                  "raw":{"anon":8192,"file":4096,"pgfault":9,"workingset_refault":1}},
        "pids":{"current":3,"limit":0},
        "blkio":{"io_service_bytes_recursive":[{"major":254,"minor":0,"op":"Read","value":1024},
                                               {"major":254,"minor":0,"op":"Write","value":2048}],
                 "io_serviced_recursive":[{"major":254,"minor":0,"op":"Read","value":4},
                                          {"major":254,"minor":0,"op":"Write","value":5}]}}}"#;

    #[test]
    fn runc_stats_json_becomes_cgroups_v2_metrics_on_a_unified_host() {
        let m = metrics_v2_from_runc(&serde_json::from_str(RUNC_V2).unwrap());
        assert_eq!(m.pids.current, 3);
        assert_eq!(
            (m.cpu.usage_usec, m.cpu.user_usec, m.cpu.system_usec),
            (5000, 4000, 1000)
        );
        assert_eq!(
            (m.cpu.nr_periods, m.cpu.nr_throttled, m.cpu.throttled_usec),
            (10, 2, 3)
        );
        assert_eq!((m.memory.usage, m.memory.usage_limit), (1048576, 67108864));
        assert_eq!(
            (m.memory.swap_usage, m.memory.swap_limit),
            (4096, 134217728)
        );
        assert_eq!(
            (m.memory.anon, m.memory.file, m.memory.pgfault),
            (8192, 4096, 9)
        );
        assert_eq!(m.memory.workingset_refault, 1);
        assert_eq!(m.io.usage.len(), 1);
        let io = &m.io.usage[0];
        assert_eq!(
            (io.major, io.rbytes, io.wbytes, io.rios, io.wios),
            (254, 1024, 2048, 4, 5)
        );
    }

    #[test]
    fn an_empty_event_gives_zeros_not_an_error() {
        let m = metrics_from_runc(&serde_json::json!({"type": "stats", "data": {}}));
        assert_eq!(m.pids.current, 0);
        assert!(m.hugetlb.is_empty());
    }
}
