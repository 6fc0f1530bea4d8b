//! cgroup v2 (unified): one directory.

use std::path::{Path, PathBuf};

use super::{io_err, remove_dir_retry, CgroupError, Manager};

#[derive(Debug)]
pub struct V2Manager {
    dir: PathBuf,
}

impl V2Manager {
    pub fn new(root: &Path, path: &str) -> V2Manager {
        V2Manager {
            dir: root.join(path.trim_start_matches('/')),
        }
    }
}

impl Manager for V2Manager {
    fn create(&self) -> Result<(), CgroupError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err("create", &self.dir))
    }

    fn add(&self, pid: i32) -> Result<(), CgroupError> {
        let f = self.dir.join("cgroup.procs");
        std::fs::write(&f, pid.to_string()).map_err(io_err("write", &f))
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        remove_dir_retry(&self.dir)
    }
}
