//! Builds a bundle directory from busybox-static: a rootfs with /bin/busybox
//! and its applet symlinks, /etc/passwd and /etc/group, the checker, and the
//! config.json (written both to the bundle and to /conformance in the rootfs so
//! the checker can compare against exactly what the runtime read).

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use serde_json::Value;
use thiserror::Error;

use crate::config::{DEV_PROBE, EXEC_PROBE, MARKER_CONTENT, MARKER_FILE};

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mknod {path}: {source}")]
    Mknod {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BundleError + 'a {
    move |source| BundleError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Users without group members on purpose: runtimes such as runc add the
/// groups /etc/group lists for the user, and the cases want additionalGids to
/// be the only source of supplementary groups.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str =
    "root:x:0:\nwheel:x:10:\ntty:x:5:\nusers:x:100:\nuser:x:1000:\nnogroup:x:65534:\n";

/// Host files shared by every bundle of a run.
pub struct Assets {
    pub busybox: PathBuf,
    pub applets: Vec<String>,
    pub checker: PathBuf,
}

pub struct Bundle {
    pub dir: PathBuf,
}

impl Bundle {
    /// Creates `dir` with a fresh rootfs.
    pub fn create(dir: &Path, assets: &Assets) -> Result<Bundle, BundleError> {
        let rootfs = dir.join("rootfs");
        for sub in [
            "bin",
            "etc",
            "conformance",
            "dev",
            "proc",
            "sys",
            "tmp",
            "root",
            "home/user",
            "var",
            "mnt",
            "run",
        ] {
            mkdir(&rootfs.join(sub), 0o755)?;
        }
        // Containers with a user namespace reach the rootfs as an unprivileged
        // host uid, so every directory on the way must be searchable.
        chmod(dir, 0o755)?;
        chmod(&rootfs.join("tmp"), 0o1777)?;
        chmod(&rootfs.join("home/user"), 0o777)?;
        let bb = rootfs.join("bin/busybox");
        link_or_copy(&assets.busybox, &bb)?;
        for applet in assets.applets.iter().filter(|a| a.as_str() != "busybox") {
            let link = rootfs.join("bin").join(applet);
            symlink("busybox", &link).map_err(io_err("symlink", &link))?;
        }
        write(&rootfs.join("etc/passwd"), PASSWD)?;
        write(&rootfs.join("etc/group"), GROUP)?;
        let checker = rootfs.join("conformance/berth-check");
        link_or_copy(&assets.checker, &checker)?;
        Ok(Bundle {
            dir: dir.to_path_buf(),
        })
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Host path of an absolute path inside the rootfs.
    pub fn in_rootfs(&self, path: &str) -> PathBuf {
        self.rootfs().join(path.trim_start_matches('/'))
    }

    pub fn write_config(&self, config: &Value) -> Result<(), BundleError> {
        let text = serde_json::to_string_pretty(config).unwrap_or_default();
        write(&self.dir.join("config.json"), &text)?;
        write(&self.in_rootfs(crate::config::CONFIG_IN_ROOTFS), &text)
    }

    /// A host directory to bind into the container, holding the probe files
    /// the checker looks for: a marker, an executable and a char device.
    pub fn bind_source(&self, name: &str) -> Result<PathBuf, BundleError> {
        let dir = self.dir.join(name);
        mkdir(&dir, 0o777)?;
        chmod(&dir, 0o777)?;
        write(&dir.join(MARKER_FILE), MARKER_CONTENT)?;
        let exec = dir.join(EXEC_PROBE);
        write(&exec, "#!/bin/sh\nexit 0\n")?;
        chmod(&exec, 0o755)?;
        let dev = dir.join(DEV_PROBE);
        mknod(
            &dev,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(1, 3),
        )
        .map_err(|source| BundleError::Mknod {
            path: dev.clone(),
            source,
        })?;
        chmod(&dev, 0o666)?;
        Ok(dir)
    }
}

pub fn mkdir(path: &Path, mode: u32) -> Result<(), BundleError> {
    fs::create_dir_all(path).map_err(io_err("mkdir", path))?;
    chmod(path, mode)
}

pub fn chmod(path: &Path, mode: u32) -> Result<(), BundleError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", path))
}

pub fn write(path: &Path, text: &str) -> Result<(), BundleError> {
    fs::write(path, text).map_err(io_err("write", path))
}

/// Hard links keep bundle creation fast; copies cover a cross-device base dir.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), BundleError> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to).map_err(io_err("copy", to))?;
    chmod(to, 0o755)
}

/// Applet names from `busybox --list`.
pub fn busybox_applets(busybox: &Path) -> Result<Vec<String>, BundleError> {
    let out = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(io_err("run --list", busybox))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('/'))
        .map(String::from)
        .collect())
}
