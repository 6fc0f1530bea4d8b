//! cgroup v1: one directory per mounted hierarchy (and the unified one on
//! hybrid hosts). New cpuset cgroups start with empty cpus/mems, which would
//! refuse every task, so they inherit their parent's on creation.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{
    container_path, devices, io_err, own_cgroup, remove_dir_retry, CgroupError, Manager, Placement,
    V1Hierarchy,
};

#[derive(Debug)]
pub struct V1Manager {
    placement: Placement,
}

impl V1Manager {
    pub fn new(
        hierarchies: &[V1Hierarchy],
        unified: Option<&Path>,
        cgroups_path: Option<&str>,
        id: &str,
        self_cgroup: &str,
    ) -> V1Manager {
        let mut placement = Placement::default();
        for h in hierarchies {
            let ctrl = h.controllers.first().map(String::as_str);
            let path = container_path(cgroups_path, id, &own_cgroup(self_cgroup, ctrl));
            placement
                .v1
                .push((h.controllers.clone(), join(&h.mountpoint, &path)));
        }
        if let Some(u) = unified {
            let path = container_path(cgroups_path, id, &own_cgroup(self_cgroup, None));
            placement.v2 = Some(join(u, &path));
        }
        V1Manager { placement }
    }
}

fn join(mountpoint: &Path, path: &str) -> PathBuf {
    mountpoint.join(path.trim_start_matches('/'))
}

/// Creates `dir` and any missing parents below the mountpoint, copying
/// cpuset.cpus and cpuset.mems down from the nearest parent for cpusets.
fn create_dir(dir: &Path, cpuset: bool) -> Result<(), CgroupError> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir(parent, cpuset)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => {
            return Err(CgroupError::Io {
                op: "create",
                path: dir.to_path_buf(),
                source: e,
            })
        }
    }
    if cpuset {
        let parent = dir.parent().expect("created below a mountpoint");
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let cur = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            if cur.trim().is_empty() {
                let value = std::fs::read_to_string(parent.join(file))
                    .map_err(io_err("read", &parent.join(file)))?;
                std::fs::write(dir.join(file), value.trim())
                    .map_err(io_err("write", &dir.join(file)))?;
            }
        }
    }
    Ok(())
}

impl Manager for V1Manager {
    fn create(&self) -> Result<(), CgroupError> {
        for (controllers, dir) in &self.placement.v1 {
            create_dir(dir, controllers.iter().any(|c| c == "cpuset"))?;
        }
        // The unified hierarchy only places the process: its controllers
        // (hugetlb here) are enabled when a limit needs one (see apply),
        // since enabling one keeps the host from mounting it on v1.
        if let Some(dir) = &self.placement.v2 {
            create_dir(dir, false)?;
        }
        Ok(())
    }

    fn add(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for dir in self.placement.paths().iter() {
            let f = dir.join("cgroup.procs");
            std::fs::write(&f, &pid).map_err(io_err("write", &f))?;
        }
        Ok(())
    }

    fn apply(
        &self,
        res: &LinuxResources,
        devices: Option<&[devices::Rule]>,
    ) -> Result<(), CgroupError> {
        super::apply(&self.placement, res, devices)
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.placement.paths()
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        for dir in self.placement.paths() {
            remove_dir_retry(&dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_inherits_cpuset_and_destroys_in_fake_cgroupfs() {
        let fs = tempfile::tempdir().unwrap();
        let cpuset = fs.path().join("cpuset");
        let pids = fs.path().join("pids");
        std::fs::create_dir_all(&cpuset).unwrap();
        std::fs::create_dir_all(&pids).unwrap();
        std::fs::write(cpuset.join("cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(cpuset.join("cpuset.mems"), "0\n").unwrap();
        let hier = vec![
            V1Hierarchy {
                mountpoint: cpuset.clone(),
                controllers: vec!["cpuset".into()],
            },
            V1Hierarchy {
                mountpoint: pids.clone(),
                controllers: vec!["pids".into()],
            },
        ];
        let m = V1Manager::new(&hier, None, Some("/a/b"), "id", "");
        m.create().unwrap();
        assert_eq!(
            std::fs::read_to_string(cpuset.join("a/b/cpuset.cpus")).unwrap(),
            "0-1"
        );
        assert_eq!(
            std::fs::read_to_string(cpuset.join("a/cpuset.mems")).unwrap(),
            "0"
        );
        assert!(!pids.join("a/b/cpuset.cpus").exists());
        m.add(42).unwrap();
        assert_eq!(
            std::fs::read_to_string(pids.join("a/b/cgroup.procs")).unwrap(),
            "42"
        );
        assert_eq!(m.paths(), vec![cpuset.join("a/b"), pids.join("a/b")]);
        // A real cgroupfs rmdir ignores the control files; the fake one has them.
        for p in m.paths() {
            for e in std::fs::read_dir(&p).unwrap() {
                std::fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
        m.destroy().unwrap();
        assert!(!pids.join("a/b").exists());
        assert!(
            pids.join("a").exists(),
            "only the container's own directory is removed"
        );
    }
}
