//! Stats from cgroup v1 hierarchies, as runc's fs manager reads them: one
//! directory per controller, found through the placement.

use std::path::Path;

use super::{file, file_uint, parse_key_values, parse_uint, BlkioEntry, Stats};

/// cpuacct.stat counts USER_HZ ticks; Linux fixes USER_HZ at 100.
const CLOCK_TICKS: u64 = 100;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Reads every controller `dir` knows a directory for.
pub fn read<'a>(dir: impl Fn(&str) -> Option<&'a Path>, hugepage_sizes: &[String]) -> Stats {
    let mut s = Stats::default();
    if let Some(d) = dir("cpuacct") {
        cpuacct(d, &mut s);
    }
    if let Some(d) = dir("cpu") {
        if let Some(t) = file(d, "cpu.stat") {
            throttling(&t, &mut s);
        }
    }
    if let Some(d) = dir("cpuset") {
        cpuset(d, &mut s);
    }
    if let Some(d) = dir("memory") {
        memory(d, &mut s);
    }
    if let Some(d) = dir("pids") {
        s.pids.current = file_uint(d, "pids.current").unwrap_or(0);
        s.pids.limit = file(d, "pids.max").map_or(0, |t| pids_limit(&t));
    }
    if let Some(d) = dir("blkio") {
        blkio(d, &mut s);
    }
    if let Some(d) = dir("hugetlb") {
        for size in hugepage_sizes {
            let f = |what: &str| file_uint(d, &format!("hugetlb.{size}.{what}"));
            let Some(usage) = f("usage_in_bytes") else {
                continue;
            };
            let entry = super::Hugetlb {
                usage,
                max: f("max_usage_in_bytes").unwrap_or(0),
                failcnt: f("failcnt").unwrap_or(0),
            };
            s.hugetlb.insert(size.clone(), entry);
        }
    }
    s
}

/// pids.max: "max" means no limit, which runc reports as 0.
pub fn pids_limit(text: &str) -> u64 {
    match text.trim() {
        "max" => 0,
        t => parse_uint(t).unwrap_or(0),
    }
}

fn cpuacct(d: &Path, s: &mut Stats) {
    let u = &mut s.cpu.usage;
    if let Some((user, system)) = file(d, "cpuacct.stat").and_then(|t| cpuacct_stat(&t)) {
        u.user = user;
        u.kernel = system;
    }
    u.total = file_uint(d, "cpuacct.usage").unwrap_or(0);
    u.percpu = file(d, "cpuacct.usage_percpu").map_or_else(Vec::new, |t| numbers(&t));
    if let Some((kernel, user)) = file(d, "cpuacct.usage_all").map(|t| usage_all(&t)) {
        u.percpu_kernel = kernel;
        u.percpu_user = user;
    }
}

/// cpuacct.stat ("user N\nsystem N", in ticks) as (user, system) nanoseconds.
pub fn cpuacct_stat(text: &str) -> Option<(u64, u64)> {
    let kv = parse_key_values(text);
    let get = |k: &str| kv.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let ns = |ticks: u64| ticks.saturating_mul(NANOS_PER_SEC) / CLOCK_TICKS;
    Some((ns(get("user")?), ns(get("system")?)))
}

/// Whitespace-separated numbers (cpuacct.usage_percpu).
pub fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// cpuacct.usage_all ("cpu user system" header, then one line per CPU) as
/// (per-CPU kernel, per-CPU user) nanoseconds.
pub fn usage_all(text: &str) -> (Vec<u64>, Vec<u64>) {
    let mut kernel = Vec::new();
    let mut user = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, u, k] = f[..] else { continue };
        if let (Ok(u), Ok(k)) = (u.parse(), k.parse()) {
            user.push(u);
            kernel.push(k);
        }
    }
    (kernel, user)
}

/// cpu.stat of the v1 cpu controller (throttled_time is in nanoseconds).
pub fn throttling(text: &str, s: &mut Stats) {
    for (k, v) in parse_key_values(text) {
        match k {
            "nr_periods" => s.cpu.throttling.periods = v,
            "nr_throttled" => s.cpu.throttling.throttled_periods = v,
            "throttled_time" => s.cpu.throttling.throttled_time = v,
            _ => {}
        }
    }
}

/// A cpuset list ("0-3,8,10-11") as the numbers it names.
pub fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

fn cpuset(d: &Path, s: &mut Stats) {
    let c = &mut s.cpuset;
    let n = |name: &str| file_uint(d, name).unwrap_or(0);
    c.cpus = file(d, "cpuset.cpus").map_or_else(Vec::new, |t| cpu_list(&t));
    c.mems = file(d, "cpuset.mems").map_or_else(Vec::new, |t| cpu_list(&t));
    c.cpu_exclusive = n("cpuset.cpu_exclusive");
    c.mem_hardwall = n("cpuset.mem_hardwall");
    c.mem_exclusive = n("cpuset.mem_exclusive");
    c.memory_migrate = n("cpuset.memory_migrate");
    c.memory_spread_page = n("cpuset.memory_spread_page");
    c.memory_spread_slab = n("cpuset.memory_spread_slab");
    c.memory_pressure = n("cpuset.memory_pressure");
    c.sched_load_balance = n("cpuset.sched_load_balance");
    c.sched_relax_domain_level = file(d, "cpuset.sched_relax_domain_level")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
}

fn memory(d: &Path, s: &mut Stats) {
    let m = &mut s.memory;
    if let Some(t) = file(d, "memory.stat") {
        m.raw = parse_key_values(&t)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    // The same four files for plain memory, memory+swap and kernel memory.
    let entry = |prefix: &str| super::MemoryEntry {
        limit: file_uint(d, &format!("{prefix}.limit_in_bytes")).unwrap_or(0),
        usage: file_uint(d, &format!("{prefix}.usage_in_bytes")).unwrap_or(0),
        max: file_uint(d, &format!("{prefix}.max_usage_in_bytes")).unwrap_or(0),
        failcnt: file_uint(d, &format!("{prefix}.failcnt")).unwrap_or(0),
    };
    m.usage = entry("memory");
    m.swap = entry("memory.memsw");
    m.kernel = entry("memory.kmem");
    m.kernel_tcp = entry("memory.kmem.tcp");
}

/// One blkio file (`MAJ:MIN [Op] VALUE` lines, a trailing `Total N`).
pub fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split([' ', ':']).filter(|x| !x.is_empty()).collect();
        let (op, value) = match f.len() {
            3 => ("", f[2]),
            4 => (f[2], f[3]),
            _ => continue,
        };
        let (Ok(major), Ok(minor), Ok(value)) = (f[0].parse(), f[1].parse(), value.parse()) else {
            continue;
        };
        out.push(BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value,
        });
    }
    out
}

/// Which stats field a blkio file fills.
#[derive(Clone, Copy)]
enum Field {
    Sectors,
    ServiceTime,
    WaitTime,
    Merged,
    Queued,
    Time,
    Serviced,
    ServiceBytes,
}

/// runc's order of preference: BFQ with debug files, BFQ, CFQ, throttle
/// (recursive), throttle (this cgroup only). A group is taken when its
/// first file has entries, and filled until a file comes up empty.
const BLKIO_GROUPS: &[&[(&str, Field)]] = &[
    &[
        ("blkio.bfq.sectors_recursive", Field::Sectors),
        ("blkio.bfq.io_service_time_recursive", Field::ServiceTime),
        ("blkio.bfq.io_wait_time_recursive", Field::WaitTime),
        ("blkio.bfq.io_merged_recursive", Field::Merged),
        ("blkio.bfq.io_queued_recursive", Field::Queued),
        ("blkio.bfq.time_recursive", Field::Time),
        ("blkio.bfq.io_serviced_recursive", Field::Serviced),
        ("blkio.bfq.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.bfq.io_serviced_recursive", Field::Serviced),
        ("blkio.bfq.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.sectors_recursive", Field::Sectors),
        ("blkio.io_service_time_recursive", Field::ServiceTime),
        ("blkio.io_wait_time_recursive", Field::WaitTime),
        ("blkio.io_merged_recursive", Field::Merged),
        ("blkio.io_queued_recursive", Field::Queued),
        ("blkio.time_recursive", Field::Time),
        ("blkio.io_serviced_recursive", Field::Serviced),
        ("blkio.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.throttle.io_serviced_recursive", Field::Serviced),
        (
            "blkio.throttle.io_service_bytes_recursive",
            Field::ServiceBytes,
        ),
    ],
    &[
        ("blkio.throttle.io_serviced", Field::Serviced),
        ("blkio.throttle.io_service_bytes", Field::ServiceBytes),
    ],
];

fn blkio(d: &Path, s: &mut Stats) {
    fill_blkio(|name| file(d, name), s);
}

/// The group logic over a file reader, so tests can feed it text.
pub(crate) fn fill_blkio(read: impl Fn(&str) -> Option<String>, s: &mut Stats) {
    for group in BLKIO_GROUPS {
        for (i, (name, field)) in group.iter().enumerate() {
            let entries = read(name).map_or_else(Vec::new, |t| blkio_entries(&t));
            if entries.is_empty() {
                if i == 0 {
                    break;
                }
                return;
            }
            let b = &mut s.blkio;
            *match field {
                Field::Sectors => &mut b.sectors_recursive,
                Field::ServiceTime => &mut b.io_service_time_recursive,
                Field::WaitTime => &mut b.io_wait_time_recursive,
                Field::Merged => &mut b.io_merged_recursive,
                Field::Queued => &mut b.io_queued_recursive,
                Field::Time => &mut b.io_time_recursive,
                Field::Serviced => &mut b.io_serviced_recursive,
                Field::ServiceBytes => &mut b.io_service_bytes_recursive,
            } = entries;
            if i == group.len() - 1 {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    #[test]
    fn cpuacct_files() {
        assert_eq!(
            cpuacct_stat("user 10\nsystem 2\n"),
            Some((100_000_000, 20_000_000))
        );
        assert_eq!(cpuacct_stat("user 1\n"), None);
        assert_eq!(numbers("13976748 7460930 \n"), vec![13976748, 7460930]);
        let (k, u) = usage_all("cpu user system\n0 112 11852328\n1 0 7692863\n");
        assert_eq!(k, vec![11852328, 7692863]);
        assert_eq!(u, vec![112, 0]);
    }

    #[test]
    fn throttling_from_cpu_stat() {
        let mut s = Stats::default();
        throttling(
            "nr_periods 12\nnr_throttled 10\nthrottled_time 899579361\nnr_bursts 0\n",
            &mut s,
        );
        assert_eq!(s.cpu.throttling.periods, 12);
        assert_eq!(s.cpu.throttling.throttled_periods, 10);
        assert_eq!(s.cpu.throttling.throttled_time, 899579361);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(cpu_list("0\n"), vec![0]);
        assert_eq!(cpu_list("\n"), Vec::<u16>::new());
    }

    #[test]
    fn blkio_recursive_lines() {
        let text = "8:0 Read 1282048\n8:0 Write 2195456\n8:16 Total 3477504\nTotal 3477504\n";
        let e = blkio_entries(text);
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 1282048
            }
        );
        assert_eq!((e[2].minor, e[2].op.as_str()), (16, "Total"));
        // sectors: no op column
        let e = blkio_entries("253:1 6792\n");
        assert_eq!((e[0].major, e[0].minor, e[0].value), (253, 1, 6792));
        assert!(e[0].op.is_empty());
    }

    #[test]
    fn blkio_falls_back_to_throttle_files() {
        let files: HashMap<&str, &str> = [
            ("blkio.bfq.io_serviced_recursive", "Total 0\n"),
            (
                "blkio.throttle.io_serviced_recursive",
                "8:0 Read 3\nTotal 3\n",
            ),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\nTotal 4096\n",
            ),
        ]
        .into();
        let mut s = Stats::default();
        fill_blkio(|n| files.get(n).map(|t| t.to_string()), &mut s);
        assert_eq!(s.blkio.io_serviced_recursive[0].value, 3);
        assert_eq!(s.blkio.io_service_bytes_recursive[0].value, 4096);
        assert!(s.blkio.sectors_recursive.is_empty());
        // Nothing at all: empty, not an error.
        let mut s = Stats::default();
        fill_blkio(|_| None, &mut s);
        assert_eq!(s.blkio, Default::default());
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (n, t) in files {
            std::fs::write(dir.join(n), t).unwrap();
        }
    }

    /// A fake v1 cgroupfs: one temp dir per controller.
    #[test]
    fn reads_a_fake_v1_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs: HashMap<&str, PathBuf> = ["cpuacct", "cpu", "memory", "pids", "hugetlb"]
            .iter()
            .map(|c| {
                let p = tmp.path().join(c);
                std::fs::create_dir(&p).unwrap();
                (*c, p)
            })
            .collect();
        write(
            &dirs["cpuacct"],
            &[
                ("cpuacct.usage", "21437678\n"),
                ("cpuacct.usage_percpu", "13976748 7460930 \n"),
                ("cpuacct.stat", "user 0\nsystem 2\n"),
            ],
        );
        write(
            &dirs["memory"],
            &[
                ("memory.stat", "cache 4096\nrss 102400\ntotal_rss 102400\n"),
                ("memory.usage_in_bytes", "729088\n"),
                ("memory.max_usage_in_bytes", "2248704\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.failcnt", "0\n"),
                ("memory.memsw.usage_in_bytes", "729088\n"),
            ],
        );
        write(
            &dirs["pids"],
            &[("pids.current", "3\n"), ("pids.max", "max\n")],
        );
        write(
            &dirs["hugetlb"],
            &[
                ("hugetlb.2MB.usage_in_bytes", "0\n"),
                ("hugetlb.2MB.failcnt", "1\n"),
            ],
        );
        let sizes = vec!["1GB".to_string(), "2MB".to_string()];
        let s = read(|c| dirs.get(c).map(|p| p.as_path()), &sizes);
        assert_eq!(s.cpu.usage.total, 21437678);
        assert_eq!(s.cpu.usage.percpu, vec![13976748, 7460930]);
        assert!(s.cpu.usage.percpu_kernel.is_empty());
        assert_eq!(s.cpu.usage.kernel, 20_000_000);
        assert_eq!(s.memory.cache, 4096);
        assert_eq!(s.memory.raw["total_rss"], 102400);
        assert_eq!(s.memory.usage.usage, 729088);
        assert_eq!(s.memory.usage.max, 2248704);
        assert_eq!(s.memory.usage.limit, 9223372036854771712);
        assert_eq!(s.memory.swap.usage, 729088);
        assert_eq!(s.memory.swap.limit, 0, "missing file is zero");
        assert_eq!(s.pids.current, 3);
        assert_eq!(s.pids.limit, 0, "max is no limit");
        assert_eq!(s.hugetlb.len(), 1);
        assert_eq!(s.hugetlb["2MB"].failcnt, 1);
        assert_eq!(s.cpuset, Default::default(), "no cpuset directory");
    }
}
