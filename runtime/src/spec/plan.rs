//! A validated config plus the host facts needed to act on it: absolute bundle
//! and rootfs paths, the namespace strategy, bind sources resolved against the
//! bundle and parsed mount options. Built before any container syscall.

use std::path::{Component, Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::validate::validate;
use super::SpecError;
use crate::rootfs::options::{self, MountOptions};

/// How the container's init process is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnMode {
    /// One clone3 with every new namespace: the common, fast path.
    Direct,
    /// Joins namespaces first, then unshares and forks the init: needed when a
    /// user namespace is joined, or a new one must own joined namespaces.
    Intermediate,
}

#[derive(Debug, Clone)]
pub struct NamespacePlan {
    /// Every namespace to create.
    pub new: CloneFlags,
    /// Namespaces to join, in the order they must be entered (user first).
    pub joins: Vec<(CloneFlags, PathBuf)>,
    pub mode: SpawnMode,
}

impl NamespacePlan {
    pub fn creates(&self, flag: CloneFlags) -> bool {
        self.new.contains(flag)
    }
    pub fn joined(&self, flag: CloneFlags) -> Option<&Path> {
        self.joins
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, p)| p.as_path())
    }
}

#[derive(Debug, Clone)]
pub struct MountPlan {
    /// Absolute, lexically clean path inside the container.
    pub destination: PathBuf,
    pub typ: String,
    pub source: Option<PathBuf>,
    pub options: MountOptions,
}

/// Everything create needs, decided up front.
#[derive(Debug)]
pub struct Plan {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub namespaces: NamespacePlan,
    pub mounts: Vec<MountPlan>,
}

pub fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The order namespaces are joined: user first (it grants the rights to join
/// the others), mount last (it changes how later paths resolve).
fn join_rank(flag: CloneFlags) -> u8 {
    match flag {
        CloneFlags::CLONE_NEWUSER => 0,
        CloneFlags::CLONE_NEWIPC => 1,
        CloneFlags::CLONE_NEWUTS => 2,
        CloneFlags::CLONE_NEWNET => 3,
        CloneFlags::CLONE_NEWPID => 4,
        CloneFlags::CLONE_NEWNS => 6,
        _ => 5,
    }
}

impl Plan {
    /// Validates `spec` and resolves it against the bundle directory.
    pub fn new(spec: Spec, bundle: &Path) -> Result<Plan, SpecError> {
        validate(&spec, true)?;
        let bundle = std::fs::canonicalize(bundle).map_err(|source| SpecError::Read {
            path: bundle.to_path_buf(),
            source,
        })?;
        let root = spec.root().as_ref().expect("validated");
        let rootfs = bundle.join(root.path());
        let rootfs = std::fs::canonicalize(&rootfs)
            .map_err(|e| SpecError::invalid("root.path", format!("{}: {e}", rootfs.display())))?;
        if !rootfs.is_dir() {
            return Err(SpecError::invalid(
                "root.path",
                format!("{}: not a directory", rootfs.display()),
            ));
        }
        let namespaces = namespace_plan(&spec);
        let mounts = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| mount_plan(m, &bundle))
            .collect();
        Ok(Plan {
            spec,
            bundle,
            rootfs,
            namespaces,
            mounts,
        })
    }

    pub fn process(&self) -> &oci_spec::runtime::Process {
        self.spec
            .process()
            .as_ref()
            .expect("validated: process present")
    }
}

fn namespace_plan(spec: &Spec) -> NamespacePlan {
    let mut new = CloneFlags::empty();
    let mut joins = Vec::new();
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in list.into_iter().flatten() {
        match ns.path() {
            Some(p) => joins.push((ns_flag(ns.typ()), p.clone())),
            None => new |= ns_flag(ns.typ()),
        }
    }
    joins.sort_by_key(|(f, _)| join_rank(*f));
    let joins_in_child = joins.iter().any(|(f, _)| !is_parent_joined(*f));
    let mode = if joins.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWUSER)
        || (new.contains(CloneFlags::CLONE_NEWUSER) && joins_in_child)
    {
        SpawnMode::Intermediate
    } else {
        SpawnMode::Direct
    };
    NamespacePlan { new, joins, mode }
}

/// PID and time namespaces only apply to children, so in direct mode the
/// launcher enters them itself right before clone and leaves them right after.
pub fn is_parent_joined(flag: CloneFlags) -> bool {
    flag == CloneFlags::CLONE_NEWPID || flag.bits() == libc::CLONE_NEWTIME
}

fn mount_plan(m: &oci_spec::runtime::Mount, bundle: &Path) -> MountPlan {
    let typ = m.typ().clone().unwrap_or_default();
    let mut options = options::parse(m.options().as_deref().unwrap_or_default());
    if typ == "bind" && !options.is_bind() {
        options.flags |= nix::mount::MsFlags::MS_BIND;
    }
    let source = m.source().as_ref().map(|s| {
        if options.is_bind() && s.is_relative() {
            bundle.join(s)
        } else {
            s.clone()
        }
    });
    MountPlan {
        destination: clean_absolute(m.destination()),
        typ,
        source,
        options,
    }
}

/// Makes a container path absolute and removes `.`, `..` and repeated
/// separators lexically (`..` cannot climb above `/`).
pub fn clean_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load::parse;

    #[test]
    fn clean_absolute_cannot_escape() {
        assert_eq!(
            clean_absolute(Path::new("../../etc//passwd")),
            PathBuf::from("/etc/passwd")
        );
        assert_eq!(
            clean_absolute(Path::new("/a/./b/../c")),
            PathBuf::from("/a/c")
        );
        assert_eq!(
            clean_absolute(Path::new("dev/shm")),
            PathBuf::from("/dev/shm")
        );
    }

    fn ns(json: &str) -> NamespacePlan {
        let cfg = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"r"}},"linux":{{"namespaces":{json}}}}}"#
        );
        namespace_plan(&parse(cfg.as_bytes()).unwrap())
    }

    #[test]
    fn all_new_is_direct() {
        let p = ns(r#"[{"type":"pid"},{"type":"mount"},{"type":"user"},{"type":"network"}]"#);
        assert_eq!(p.mode, SpawnMode::Direct);
        assert!(p.creates(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET));
    }

    #[test]
    fn joined_user_needs_intermediate_and_comes_first() {
        let p = ns(
            r#"[{"type":"network","path":"/n"},{"type":"mount","path":"/m"},{"type":"user","path":"/u"},{"type":"pid"}]"#,
        );
        assert_eq!(p.mode, SpawnMode::Intermediate);
        let order: Vec<_> = p.joins.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            order,
            vec![
                CloneFlags::CLONE_NEWUSER,
                CloneFlags::CLONE_NEWNET,
                CloneFlags::CLONE_NEWNS
            ]
        );
    }

    #[test]
    fn new_user_with_joined_net_needs_intermediate() {
        assert_eq!(
            ns(r#"[{"type":"user"},{"type":"network","path":"/n"}]"#).mode,
            SpawnMode::Intermediate
        );
        assert_eq!(
            ns(r#"[{"type":"user"},{"type":"pid","path":"/p"}]"#).mode,
            SpawnMode::Direct
        );
    }

    #[test]
    fn bind_source_is_relative_to_bundle() {
        let cfg = r#"{"ociVersion":"1.0.2","root":{"path":"r"},"mounts":[{"destination":"data","type":"bind","source":"vol","options":["ro"]}]}"#;
        let spec = parse(cfg.as_bytes()).unwrap();
        let m = mount_plan(&spec.mounts().as_ref().unwrap()[0], Path::new("/b"));
        assert_eq!(m.source.unwrap(), PathBuf::from("/b/vol"));
        assert_eq!(m.destination, PathBuf::from("/data"));
        assert!(m.options.is_bind());
    }
}
