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
            super::v2::enable_controllers(dir, &writes)?;
        }
    }
    if let (Some(dir), false) = (&placement.v2, unified_writes.is_empty()) {
        super::v2::enable_down_to(dir, &["hugetlb"])?;
        super::v2::enable_controllers(dir, &unified_writes)?;
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
