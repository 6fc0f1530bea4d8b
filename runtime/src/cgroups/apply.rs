//! Carries out a resources plan on a container's cgroup directories: each
//! write goes to the hierarchy of its controller, and every failure names
//! the linux.resources field it came from.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::resources::{self, Version, Write};
use super::{devices, CgroupError, Placement};

/// Applies `res` (and the device rules, when given) to `placement`.
pub fn apply(
    placement: &Placement,
    res: &LinuxResources,
    rules: Option<&[devices::Rule]>,
) -> Result<(), CgroupError> {
    let version = placement.version();
    let current = |controller: &str, file: &str| -> Option<String> {
        let dir = placement.dir(controller)?;
        std::fs::read_to_string(dir.join(file))
            .ok()
            .map(|s| s.trim().to_string())
    };
    // Hybrid hosts may carry a controller only on the unified hierarchy
    // (hugetlb here): its limits are written there, as v2 values.
    let hugetlb_on_unified = version == Version::V1
        && placement.dir("hugetlb").is_none()
        && placement.v2.is_some()
        && res
            .hugepage_limits()
            .as_ref()
            .is_some_and(|l| !l.is_empty());
    let (res_v1, unified_writes) = match hugetlb_on_unified {
        false => (None, Vec::new()),
        true => {
            let mut rest = res.clone();
            rest.set_hugepage_limits(None);
            let mut huge = LinuxResources::default();
            huge.set_hugepage_limits(res.hugepage_limits().clone());
            let dir = placement.v2.as_deref().expect("checked above");
            let current_v2 = |_: &str, file: &str| -> Option<String> {
                std::fs::read_to_string(dir.join(file))
                    .ok()
                    .map(|s| s.trim().to_string())
            };
            (
                Some(rest),
                resources::plan(&huge, Version::V2, &current_v2)?,
            )
        }
    };
    let writes = resources::plan(res_v1.as_ref().unwrap_or(res), version, &current)?;
    if version == Version::V2 {
        if let Some(dir) = &placement.v2 {
            super::v2::require_controllers(dir, &writes)?;
        }
    }
    if let (Some(dir), false) = (&placement.v2, unified_writes.is_empty()) {
        super::v2::enable_down_to(dir, &["hugetlb"])?;
        super::v2::require_controllers(dir, &unified_writes)?;
    }
    for w in &writes {
        write(placement, version, w)?;
    }
    for w in &unified_writes {
        write(placement, Version::V2, w)?;
    }
    if let Some(rules) = rules {
        match version {
            Version::V1 => {
                if let Some(dir) = placement.dir("devices") {
                    devices::apply_v1(dir, rules)?;
                }
            }
            Version::V2 => {
                if let Some(dir) = &placement.v2 {
                    devices::apply_v2(dir, rules)?;
                }
            }
        }
    }
    Ok(())
}

fn write(placement: &Placement, version: Version, w: &Write) -> Result<(), CgroupError> {
    let field = |reason: String| CgroupError::Field {
        field: w.field.clone(),
        reason,
    };
    let dir: &Path = match version {
        Version::V1 => placement.dir(w.controller).ok_or_else(|| {
            field(format!(
                "this host mounts no cgroup v1 {} hierarchy",
                w.controller
            ))
        })?,
        Version::V2 => placement
            .v2
            .as_deref()
            .ok_or_else(|| field("no cgroup v2 directory".into()))?,
    };
    let path = dir.join(&w.file);
    if version == Version::V1 && w.file == "cpu.rt_runtime_us" {
        lend_rt_runtime(dir, &w.value).map_err(|e| field(e.to_string()))?;
    }
    if !path.exists() {
        return Err(field(format!(
            "not supported by this kernel ({} does not exist)",
            path.display()
        )));
    }
    std::fs::write(&path, &w.value).map_err(|e| {
        field(format!(
            "the kernel refused {:?} for {}: {e}",
            w.value,
            path.display()
        ))
    })
}

/// v1 realtime bandwidth is a budget handed down the tree: the children of
/// a cgroup share at most its runtime/period, and new cgroups start with
/// none. So each ancestor below the hierarchy's root (whose budget the
/// kernel fixes) is raised, top down, to what its children need with the
/// container's `value` over its period: just that, so siblings elsewhere
/// in the tree keep what is left.
fn lend_rt_runtime(dir: &Path, value: &str) -> std::io::Result<()> {
    let read = |p: &Path, f: &str| -> i64 {
        std::fs::read_to_string(p.join(f))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    // A child's budget over another period, rounded up.
    let scaled = |(r, q): (i64, i64), period: i64| -> i64 {
        if r > 0 && q > 0 {
            (r * period + q - 1) / q
        } else {
            0
        }
    };
    let budget = |p: &Path| (read(p, "cpu.rt_runtime_us"), read(p, "cpu.rt_period_us"));
    let (Ok(want), want_period) = (value.parse::<i64>(), read(dir, "cpu.rt_period_us")) else {
        return Ok(());
    };
    if want <= 0 || want_period <= 0 {
        return Ok(());
    }
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|p| p.join("cpu.rt_runtime_us").exists())
        .collect();
    chain.pop(); // the root's budget is the host's
                 // Bottom up: what each level must hold for its children, the path
                 // child at its new share.
    let mut child: (&Path, (i64, i64)) = (dir, (want, want_period));
    let mut plan = Vec::new();
    for level in chain {
        let period = read(level, "cpu.rt_period_us");
        let others: i64 = std::fs::read_dir(level)?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && e.path() != child.0)
            .map(|e| scaled(budget(&e.path()), period))
            .sum();
        let need = others + scaled(child.1, period);
        let have = read(level, "cpu.rt_runtime_us");
        if have < need {
            plan.push((level, need));
        }
        child = (level, (need.max(have), period));
    }
    for (level, need) in plan.into_iter().rev() {
        let f = level.join("cpu.rt_runtime_us");
        std::fs::write(&f, need.to_string()).map_err(|e| {
            std::io::Error::new(e.kind(), format!("raise {} to {need}: {e}", f.display()))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(dir: &Path, runtime: i64, period: i64) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("cpu.rt_runtime_us"), runtime.to_string()).unwrap();
        std::fs::write(dir.join("cpu.rt_period_us"), period.to_string()).unwrap();
    }

    fn runtime(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("cpu.rt_runtime_us")).unwrap()
    }

    #[test]
    fn rt_budget_is_lent_down_the_path_counting_siblings_and_never_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        set(root, 950_000, 1_000_000);
        set(&root.join("berth"), 0, 1_000_000);
        set(&root.join("berth/old"), 20_000, 1_000_000); // a sibling holding 2%
        set(&root.join("berth/new"), 0, 100_000);
        set(&root.join("other"), 100_000, 1_000_000);
        // 10000/100000 is 10% for the new container, plus the sibling's 2%.
        lend_rt_runtime(&root.join("berth/new"), "10000").unwrap();
        assert_eq!(runtime(&root.join("berth")), "120000");
        assert_eq!(runtime(root), "950000", "the root is the host's");
        assert_eq!(runtime(&root.join("other")), "100000");
        // Enough already: nothing is written.
        std::fs::write(root.join("berth/cpu.rt_runtime_us"), "500000").unwrap();
        lend_rt_runtime(&root.join("berth/new"), "10000").unwrap();
        assert_eq!(runtime(&root.join("berth")), "500000");
    }
}
