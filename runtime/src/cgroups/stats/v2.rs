//! Stats from a cgroup v2 directory, mapped onto the v1-shaped Stats the
//! way runc's fs2 manager does (cpu.stat microseconds become nanoseconds,
//! io.stat becomes blkio tables, memory+swap is reported summed).

use std::path::Path;

use super::{file, file_uint, parse_key_values, value_of, BlkioEntry, Stats};

/// Reads every stat file the directory has.
pub fn read(dir: &Path, hugepage_sizes: &[String]) -> Stats {
    let mut s = Stats::default();
    pids(dir, &mut s);
    memory(dir, &mut s);
    if let Some(t) = file(dir, "io.stat") {
        io_stat(&t, &mut s);
    }
    if let Some(t) = file(dir, "cpu.stat") {
        cpu_stat(&t, &mut s);
    }
    for size in hugepage_sizes {
        let Some(usage) = file_uint(dir, &format!("hugetlb.{size}.current")) else {
            continue;
        };
        let failcnt = file(dir, &format!("hugetlb.{size}.events"))
            .and_then(|t| value_of(&t, "max"))
            .unwrap_or(0);
        let entry = super::Hugetlb {
            usage,
            max: 0,
            failcnt,
        };
        s.hugetlb.insert(size.clone(), entry);
    }
    s
}

/// Without the pids controller enabled, runc counts cgroup.procs lines.
fn pids(dir: &Path, s: &mut Stats) {
    match file_uint(dir, "pids.current") {
        Some(n) => {
            s.pids.current = n;
            s.pids.limit = file(dir, "pids.max").map_or(0, |t| super::v1::pids_limit(&t));
        }
        None => {
            s.pids.current = file(dir, "cgroup.procs").map_or(0, |t| t.lines().count() as u64);
        }
    }
}

fn memory(dir: &Path, s: &mut Stats) {
    let m = &mut s.memory;
    if let Some(t) = file(dir, "memory.stat") {
        m.raw = parse_key_values(&t)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }
    // v2 calls page cache "file".
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let Some(usage) = file_uint(dir, "memory.current") else {
        return;
    };
    m.usage.usage = usage;
    m.usage.limit = file_uint(dir, "memory.max").unwrap_or(0);
    let (swap, swap_limit) = match file_uint(dir, "memory.swap.current") {
        Some(u) => (u, file_uint(dir, "memory.swap.max").unwrap_or(0)),
        None => (0, 0),
    };
    m.swap = swap_entry(usage, m.usage.limit, swap, swap_limit);
}

/// v1 reports memsw as memory plus swap; v2 keeps them apart, so runc adds
/// them up (an unlimited swap limit stays unlimited).
pub fn swap_entry(mem: u64, mem_limit: u64, swap: u64, swap_limit: u64) -> super::MemoryEntry {
    super::MemoryEntry {
        usage: swap.saturating_add(mem),
        limit: match swap_limit {
            u64::MAX => u64::MAX,
            l => l.saturating_add(mem_limit),
        },
        max: 0,
        failcnt: 0,
    }
}

/// cpu.stat: microseconds in, nanoseconds out.
pub fn cpu_stat(text: &str, s: &mut Stats) {
    let us = |v: u64| v.saturating_mul(1000);
    for (k, v) in parse_key_values(text) {
        match k {
            "usage_usec" => s.cpu.usage.total = us(v),
            "user_usec" => s.cpu.usage.user = us(v),
            "system_usec" => s.cpu.usage.kernel = us(v),
            "nr_periods" => s.cpu.throttling.periods = v,
            "nr_throttled" => s.cpu.throttling.throttled_periods = v,
            "throttled_usec" => s.cpu.throttling.throttled_time = us(v),
            _ => {}
        }
    }
}

/// io.stat (`MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...`): bytes go to
/// ioServiceBytesRecursive and ios to ioServicedRecursive as Read/Write;
/// keys with no v1 counterpart (dbytes, dios) are dropped, as runc does.
pub fn io_stat(text: &str, s: &mut Stats) {
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for item in f {
            let Some((key, value)) = item.split_once('=') else {
                continue;
            };
            let (op, table) = match key {
                "rbytes" => ("Read", &mut s.blkio.io_service_bytes_recursive),
                "wbytes" => ("Write", &mut s.blkio.io_service_bytes_recursive),
                "rios" => ("Read", &mut s.blkio.io_serviced_recursive),
                "wios" => ("Write", &mut s.blkio.io_serviced_recursive),
                _ => continue,
            };
            let Ok(value) = value.parse() else { continue };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stat_microseconds_become_nanoseconds() {
        let mut s = Stats::default();
        cpu_stat(
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 2\nthrottled_usec 7\n",
            &mut s,
        );
        assert_eq!(s.cpu.usage.total, 1_500_000);
        assert_eq!(s.cpu.usage.user, 1_000_000);
        assert_eq!(s.cpu.usage.kernel, 500_000);
        assert_eq!(s.cpu.throttling.periods, 4);
        assert_eq!(s.cpu.throttling.throttled_periods, 2);
        assert_eq!(s.cpu.throttling.throttled_time, 7000);
        assert!(s.cpu.usage.percpu.is_empty(), "v2 has no per-CPU usage");
    }

    #[test]
    fn io_stat_maps_to_blkio_tables() {
        let mut s = Stats::default();
        io_stat(
            "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n\
             253:0 rbytes=4096 wbytes=0 rios=1 wios=0\n",
            &mut s,
        );
        let b = &s.blkio;
        assert_eq!(b.io_service_bytes_recursive.len(), 4);
        assert_eq!(
            b.io_service_bytes_recursive[1],
            BlkioEntry {
                major: 8,
                minor: 16,
                op: "Write".into(),
                value: 314773504
            }
        );
        assert_eq!(b.io_serviced_recursive[0].value, 192);
        assert_eq!(b.io_serviced_recursive[2].major, 253);
        assert!(b.sectors_recursive.is_empty());
    }

    #[test]
    fn swap_is_reported_with_memory() {
        let e = swap_entry(100, 1000, 10, 50);
        assert_eq!((e.usage, e.limit), (110, 1050));
        let e = swap_entry(100, 1000, 0, u64::MAX);
        assert_eq!((e.usage, e.limit), (100, u64::MAX));
    }

    /// A fake v2 cgroup directory.
    #[test]
    fn reads_a_fake_v2_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for (n, t) in [
            ("cgroup.procs", "10\n11\n"),
            ("memory.stat", "anon 8192\nfile 4096\nkernel 1024\n"),
            ("memory.current", "16384\n"),
            ("memory.max", "max\n"),
            ("memory.swap.current", "0\n"),
            ("memory.swap.max", "max\n"),
            ("cpu.stat", "usage_usec 3\n"),
            ("hugetlb.2MB.current", "0\n"),
            ("hugetlb.2MB.events", "max 2\n"),
        ] {
            std::fs::write(d.join(n), t).unwrap();
        }
        let s = read(d, &["2MB".to_string(), "1GB".to_string()]);
        assert_eq!(s.pids.current, 2, "no pids controller: cgroup.procs");
        assert_eq!(s.memory.cache, 4096);
        assert_eq!(s.memory.raw["anon"], 8192);
        assert_eq!(s.memory.usage.usage, 16384);
        assert_eq!(s.memory.usage.limit, u64::MAX);
        assert_eq!(s.memory.swap.usage, 16384);
        assert_eq!(s.memory.swap.limit, u64::MAX);
        assert_eq!(s.cpu.usage.total, 3000);
        assert_eq!(s.hugetlb.len(), 1);
        assert_eq!(s.hugetlb["2MB"].failcnt, 2);
        assert_eq!(s.blkio, Default::default(), "no io.stat");
        std::fs::write(d.join("pids.current"), "5\n").unwrap();
        std::fs::write(d.join("pids.max"), "64\n").unwrap();
        let s = read(d, &[]);
        assert_eq!((s.pids.current, s.pids.limit), (5, 64));
    }
}
