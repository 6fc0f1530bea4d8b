//! Stats: the runtime's `events --stats` JSON (runc's types.Stats) turned
//! into what `ctr task metrics` and CRI decode. On a cgroup v1 (or hybrid)
//! host that is `io.containerd.cgroups.v1.Metrics`; runc's JSON has the v1
//! shape on both hierarchies, so the same message is built either way.
//! Missing fields read as zero, as Go's decoder leaves them.

use containerd_shim_protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryStat, Metrics,
    PidsStat, Throttle,
};
use containerd_shim_protos::protobuf::{self, Message, MessageField};
use protobuf::well_known_types::any::Any;
use serde_json::Value;

pub const METRICS_V1: &str = "io.containerd.cgroups.v1.Metrics";

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

/// The StatsResponse payload.
pub fn metrics_any(event: &Value) -> Any {
    let mut any = Any::new();
    any.type_url = METRICS_V1.to_string();
    any.value = metrics_from_runc(event)
        .write_to_bytes()
        .expect("metrics encode");
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
        let any = metrics_any(&serde_json::from_str(RUNC).unwrap());
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        let back = Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!(back.pids.current, 2);
    }

    #[test]
    fn an_empty_event_gives_zeros_not_an_error() {
        let m = metrics_from_runc(&serde_json::json!({"type": "stats", "data": {}}));
        assert_eq!(m.pids.current, 0);
        assert!(m.hugetlb.is_empty());
    }
}
