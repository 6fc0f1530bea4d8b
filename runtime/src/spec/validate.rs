//! Rules of the runtime spec (and runc's checks that clients rely on), applied
//! to a parsed config without touching the system. Each error names the JSON
//! path of the offending value.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::SpecError;

type Result<T> = std::result::Result<T, SpecError>;

/// Checks a parsed config. `need_process` is true for create/run.
pub fn validate(spec: &Spec, need_process: bool) -> Result<()> {
    version(spec.version())?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("root", "required"))?;
    if root.path().as_os_str().is_empty() {
        return Err(SpecError::invalid("root.path", "must not be empty"));
    }
    match spec.process() {
        Some(process) => {
            let args = process.args().as_deref().unwrap_or_default();
            if args.is_empty() || args[0].is_empty() {
                return Err(SpecError::invalid("process.args", "must name a program"));
            }
            if !process.cwd().is_absolute() {
                return Err(SpecError::invalid(
                    "process.cwd",
                    format!("{:?} is not an absolute path", process.cwd()),
                ));
            }
            if let Some(env) = process.env() {
                for (i, e) in env.iter().enumerate() {
                    if !e.contains('=') {
                        return Err(SpecError::invalid(
                            format!("process.env[{i}]"),
                            format!("{e:?} is not KEY=VALUE"),
                        ));
                    }
                }
            }
            rlimits(process)?;
        }
        None if need_process => {
            return Err(SpecError::invalid(
                "process",
                "required to create a container",
            ))
        }
        None => {}
    }
    let namespaces = namespaces(spec)?;
    id_mappings(spec, &namespaces)?;
    let has_new = |t: LinuxNamespaceType| namespaces.iter().any(|(ty, path)| *ty == t && !path);
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !has_new(LinuxNamespaceType::Uts)
    {
        return Err(SpecError::invalid("hostname", "needs a new uts namespace"));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
        && !has_new(LinuxNamespaceType::Uts)
    {
        return Err(SpecError::invalid(
            "domainname",
            "needs a new uts namespace",
        ));
    }
    if let Some(linux) = spec.linux() {
        if let Some(seccomp) = linux.seccomp() {
            crate::seccomp::validate(seccomp)?;
        }
        if let Some(sysctl) = linux.sysctl() {
            for key in sysctl.keys() {
                sysctl_allowed(key, &has_new)?;
            }
        }
        if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
            && !has_new(LinuxNamespaceType::Time)
        {
            return Err(SpecError::invalid(
                "linux.timeOffsets",
                "needs a new time namespace",
            ));
        }
        if let Some(devices) = linux.devices() {
            for (i, d) in devices.iter().enumerate() {
                if !d.path().is_absolute() {
                    return Err(SpecError::invalid(
                        format!("linux.devices[{i}].path"),
                        "must be absolute",
                    ));
                }
            }
        }
        if let Some(p) = linux.rootfs_propagation() {
            if !matches!(
                p.as_str(),
                "" | "shared"
                    | "rshared"
                    | "slave"
                    | "rslave"
                    | "private"
                    | "rprivate"
                    | "unbindable"
                    | "runbindable"
            ) {
                return Err(SpecError::invalid(
                    "linux.rootfsPropagation",
                    format!("unknown propagation {p:?}"),
                ));
            }
        }
    }
    if let Some(mounts) = spec.mounts() {
        for (i, m) in mounts.iter().enumerate() {
            if m.destination().as_os_str().is_empty() {
                return Err(SpecError::invalid(
                    format!("mounts[{i}].destination"),
                    "must not be empty",
                ));
            }
        }
    }
    hooks(spec)?;
    if need_process
        && !namespaces
            .iter()
            .any(|(t, _)| *t == LinuxNamespaceType::Mount)
    {
        // Without one, setting up the rootfs would remount and mount into
        // the host's own tree.
        return Err(SpecError::invalid(
            "linux.namespaces",
            "a mount namespace (new or joined) is required",
        ));
    }
    Ok(())
}

fn version(v: &str) -> Result<()> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.parse::<u64>().is_err())
    {
        return Err(SpecError::invalid(
            "ociVersion",
            format!("{v:?} is not a SemVer version"),
        ));
    }
    if parts[0] != "1" {
        return Err(SpecError::invalid(
            "ociVersion",
            format!("unsupported major version in {v:?}"),
        ));
    }
    Ok(())
}

/// Returns (type, joined-by-path) for every namespace entry.
fn namespaces(spec: &Spec) -> Result<Vec<(LinuxNamespaceType, bool)>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for (i, ns) in list.into_iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(SpecError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("duplicate namespace {:?}", ns.typ().to_string()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(SpecError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    "must be absolute",
                ));
            }
        }
        out.push((ns.typ(), ns.path().is_some()));
    }
    Ok(out)
}

fn id_mappings(spec: &Spec, namespaces: &[(LinuxNamespaceType, bool)]) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let new_user = namespaces
        .iter()
        .any(|(t, joined)| *t == LinuxNamespaceType::User && !joined);
    for (name, maps) in [
        ("uidMappings", linux.uid_mappings()),
        ("gidMappings", linux.gid_mappings()),
    ] {
        let maps = maps.as_deref().unwrap_or_default();
        if !maps.is_empty() && !new_user {
            return Err(SpecError::invalid(
                format!("linux.{name}"),
                "set, but no new user namespace is requested",
            ));
        }
        if maps.is_empty() && new_user {
            return Err(SpecError::invalid(
                format!("linux.{name}"),
                "a new user namespace needs mappings",
            ));
        }
        for (i, m) in maps.iter().enumerate() {
            if m.size() == 0 {
                return Err(SpecError::invalid(
                    format!("linux.{name}[{i}].size"),
                    "must be positive",
                ));
            }
        }
    }
    Ok(())
}

/// A sysctl may only be set when it belongs to a namespace the container owns
/// (the same rule runc applies, so the host is never changed through it).
fn sysctl_allowed(key: &str, has_new: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let path = format!("linux.sysctl.{key}");
    let (ok, ns) = if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        (has_new(LinuxNamespaceType::Ipc), "ipc")
    } else if key.starts_with("net.") {
        (has_new(LinuxNamespaceType::Network), "network")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        (has_new(LinuxNamespaceType::Uts), "uts")
    } else {
        return Err(SpecError::invalid(
            path,
            "not in a separate kernel namespace",
        ));
    };
    if !ok {
        return Err(SpecError::invalid(
            path,
            format!("needs a new {ns} namespace"),
        ));
    }
    if key.contains("..") {
        return Err(SpecError::invalid(path, "invalid name"));
    }
    Ok(())
}

fn rlimits(process: &oci_spec::runtime::Process) -> Result<()> {
    let mut seen = Vec::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if seen.contains(&r.typ()) {
            return Err(SpecError::invalid(
                format!("process.rlimits[{i}].type"),
                "duplicate rlimit",
            ));
        }
        seen.push(r.typ());
        if r.soft() > r.hard() {
            return Err(SpecError::invalid(
                format!("process.rlimits[{i}]"),
                "soft limit exceeds hard limit",
            ));
        }
    }
    Ok(())
}

fn hooks(spec: &Spec) -> Result<()> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    #[allow(deprecated)]
    let sets = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (name, list) in sets {
        for (i, h) in list.iter().flatten().enumerate() {
            if !Path::new(h.path()).is_absolute() {
                return Err(SpecError::invalid(
                    format!("hooks.{name}[{i}].path"),
                    "must be absolute",
                ));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(SpecError::invalid(
                    format!("hooks.{name}[{i}].timeout"),
                    "must be positive",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load::parse;

    fn spec(extra: &str) -> Spec {
        let base = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"process":{{"args":["sh"],"cwd":"/","user":{{"uid":0,"gid":0}}}}{extra}}}"#
        );
        parse(base.as_bytes()).unwrap()
    }

    fn err(extra: &str) -> String {
        validate(&spec(extra), true).unwrap_err().to_string()
    }

    #[test]
    fn accepts_minimal() {
        validate(&spec(r#","linux":{"namespaces":[{"type":"mount"}]}"#), true).unwrap();
    }

    #[test]
    fn rejects_bad_version() {
        let s = parse(br#"{"ociVersion":"2.0","root":{"path":"r"}}"#).unwrap();
        assert!(validate(&s, false)
            .unwrap_err()
            .to_string()
            .starts_with("config.json: ociVersion:"));
    }

    #[test]
    fn duplicate_namespace_names_index() {
        let e = err(r#","linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#);
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
    }

    #[test]
    fn hostname_needs_uts() {
        assert!(
            err(r#","hostname":"x","linux":{"namespaces":[{"type":"pid"}]}"#).contains("hostname")
        );
        validate(
            &spec(r#","hostname":"x","linux":{"namespaces":[{"type":"uts"},{"type":"mount"}]}"#),
            true,
        )
        .unwrap();
    }

    #[test]
    fn sysctl_rules() {
        assert!(err(r#","linux":{"sysctl":{"net.ipv4.ip_forward":"1"}}"#)
            .contains("needs a new network namespace"));
        assert!(err(
            r#","linux":{"namespaces":[{"type":"network"}],"sysctl":{"vm.swappiness":"1"}}"#
        )
        .contains("not in a separate"));
        validate(&spec(r#","linux":{"namespaces":[{"type":"network"},{"type":"mount"}],"sysctl":{"net.ipv4.ip_forward":"1"}}"#), true).unwrap();
    }

    #[test]
    fn mappings_need_user_namespace() {
        let e = err(r#","linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#);
        assert!(e.contains("linux.uidMappings"), "{e}");
        let e = err(r#","linux":{"namespaces":[{"type":"user"}]}"#);
        assert!(e.contains("needs mappings"), "{e}");
    }

    #[test]
    fn relative_cwd_and_empty_args() {
        let s = parse(br#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["sh"],"cwd":"tmp","user":{"uid":0,"gid":0}}}"#).unwrap();
        assert!(validate(&s, true)
            .unwrap_err()
            .to_string()
            .contains("process.cwd"));
        let s = parse(br#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}}"#).unwrap();
        assert!(validate(&s, true)
            .unwrap_err()
            .to_string()
            .contains("process.args"));
    }

    #[test]
    fn mount_namespace_is_required() {
        let s = parse(br#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},"linux":{"namespaces":[{"type":"pid"}]}}"#).unwrap();
        assert!(validate(&s, true)
            .unwrap_err()
            .to_string()
            .contains("mount namespace"));
        let s = parse(br#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},"linux":{"namespaces":[{"type":"mount","path":"/proc/1/ns/mnt"}]}}"#).unwrap();
        validate(&s, true).unwrap();
    }

    #[test]
    fn relative_hook_path_rejected() {
        let e = err(r#","hooks":{"poststop":[{"path":"true"}]}"#);
        assert!(e.contains("hooks.poststop[0].path"), "{e}");
    }
}
