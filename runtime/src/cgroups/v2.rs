//! cgroup v2 (unified): one directory. Controllers must be enabled in every
//! ancestor's cgroup.subtree_control before the container's directory has
//! their files; creation enables what each level offers, from the root down.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::resources::Write;
use super::{devices, io_err, remove_dir_retry, CgroupError, Manager, Placement};

#[derive(Debug)]
pub struct V2Manager {
    root: PathBuf,
    dir: PathBuf,
}

impl V2Manager {
    pub fn new(root: &Path, path: &str) -> V2Manager {
        V2Manager {
            root: root.to_path_buf(),
            dir: root.join(path.trim_start_matches('/')),
        }
    }
}

/// Enables, level by level from `root` to the parent of `dir`, every
/// controller the level has in cgroup.controllers, then creates `dir`.
/// A level that refuses (processes in an inner node, a controller not
/// delegated to it) keeps what it has: [`require_controllers`] reports the
/// missing controller against the field that needs it.
pub(crate) fn create_with_controllers(root: &Path, dir: &Path) -> Result<(), CgroupError> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        let offered = std::fs::read_to_string(cur.join("cgroup.controllers")).unwrap_or_default();
        let enabled =
            std::fs::read_to_string(cur.join("cgroup.subtree_control")).unwrap_or_default();
        let want: Vec<String> = offered
            .split_whitespace()
            .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if !want.is_empty() {
            let f = cur.join("cgroup.subtree_control");
            if std::fs::write(&f, want.join(" ")).is_err() {
                // One at a time, so one refusal does not cost the others.
                for w in &want {
                    let _ = std::fs::write(&f, w);
                }
            }
        }
        cur.push(comp);
        match std::fs::create_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(CgroupError::Io {
                    op: "create",
                    path: cur,
                    source: e,
                })
            }
        }
    }
    Ok(())
}

/// Enables `controllers` in every level from the hierarchy's root down to
/// the parent of `dir` (a hybrid host's unified tree, where berth enables
/// only what a limit needs). The root is the highest ancestor that is
/// still a cgroup directory.
pub fn enable_down_to(dir: &Path, controllers: &[&str]) -> Result<(), CgroupError> {
    let mut levels: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|p| p.join("cgroup.controllers").exists())
        .collect();
    levels.reverse();
    for level in levels {
        let enabled =
            std::fs::read_to_string(level.join("cgroup.subtree_control")).unwrap_or_default();
        for c in controllers {
            if !enabled.split_whitespace().any(|e| e == *c) {
                let f = level.join("cgroup.subtree_control");
                std::fs::write(&f, format!("+{c}")).map_err(io_err("write", &f))?;
            }
        }
    }
    Ok(())
}

/// Checks that every controller the writes need is available in `dir`.
pub fn require_controllers(dir: &Path, writes: &[Write]) -> Result<(), CgroupError> {
    let have = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    for w in writes {
        if !w.controller.is_empty() && !have.split_whitespace().any(|c| c == w.controller) {
            return Err(CgroupError::Field {
                field: w.field.clone(),
                reason: format!(
                    "the {} controller is not available in {} (not delegated by its parent)",
                    w.controller,
                    dir.display()
                ),
            });
        }
    }
    Ok(())
}

impl Manager for V2Manager {
    fn create(&self) -> Result<(), CgroupError> {
        create_with_controllers(&self.root, &self.dir)
    }

    fn add(&self, pid: i32) -> Result<(), CgroupError> {
        let f = self.dir.join("cgroup.procs");
        std::fs::write(&f, pid.to_string()).map_err(io_err("write", &f))
    }

    fn apply(
        &self,
        res: &LinuxResources,
        devices: Option<&[devices::Rule]>,
    ) -> Result<(), CgroupError> {
        let placement = Placement {
            v1: Vec::new(),
            v2: Some(self.dir.clone()),
        };
        super::apply(&placement, res, devices)
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        remove_dir_retry(&self.dir)
    }
}
