//! Linux security modules: process.apparmorProfile, process.selinuxLabel and
//! linux.mountLabel. Decided by the launcher from what the host has enabled
//! (probed once), applied by the init as exec attributes right before the
//! user switch.
//!
//! Without AppArmor on the host, a profile is an error, as with runc (which
//! fails writing the exec attribute): running unconfined when confinement
//! was asked for would be silent weakening. Without SELinux, labels are
//! ignored with a debug event, as crun does (runc refuses a process label
//! and fails mounting with a context= option).

use std::path::Path;

use crate::spec::plan::MountPlan;

/// What the host's kernel has enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LsmHost {
    pub apparmor: bool,
    pub selinux: bool,
}

impl LsmHost {
    pub fn probe() -> Self {
        let apparmor = Path::new("/sys/kernel/security/apparmor").exists()
            && std::fs::read("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|b| b.first() == Some(&b'Y'));
        let selinux = Path::new("/sys/fs/selinux/enforce").exists();
        LsmHost { apparmor, selinux }
    }
}

/// The exec attributes the init sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsmPlan {
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    pub mount_label: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LsmError {
    #[error("config.json: process.apparmorProfile: {0:?} requested but AppArmor is not enabled on this host")]
    NoAppArmor(String),
}

pub fn plan(
    apparmor_profile: Option<&str>,
    selinux_label: Option<&str>,
    mount_label: Option<&str>,
    host: LsmHost,
) -> Result<LsmPlan, LsmError> {
    let set = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    let (profile, label, mount) = (set(apparmor_profile), set(selinux_label), set(mount_label));
    if let Some(p) = &profile {
        if !host.apparmor {
            return Err(LsmError::NoAppArmor(p.clone()));
        }
    }
    if !host.selinux && (label.is_some() || mount.is_some()) {
        tracing::debug!(
            selinux_label = label.as_deref().unwrap_or(""),
            mount_label = mount.as_deref().unwrap_or(""),
            "SELinux is not enabled on this host: labels ignored"
        );
        return Ok(LsmPlan {
            apparmor_profile: profile,
            ..LsmPlan::default()
        });
    }
    Ok(LsmPlan {
        apparmor_profile: profile,
        selinux_label: label,
        mount_label: mount,
    })
}

/// Adds the SELinux mount label as `context=` to every mount that creates a
/// filesystem (binds keep their source's labels), as runc does.
pub fn label_mounts(mounts: &mut [MountPlan], label: &str) {
    for m in mounts.iter_mut().filter(|m| !m.options.is_bind()) {
        let ctx = format!("context=\"{label}\"");
        if m.options.data.is_empty() {
            m.options.data = ctx;
        } else {
            m.options.data = format!("{},{ctx}", m.options.data);
        }
    }
}

/// Sets the exec attributes; runs in the init after pivot, so /proc is the
/// container's.
pub fn apply(plan: &LsmPlan) -> std::io::Result<()> {
    if let Some(p) = &plan.apparmor_profile {
        let modern = Path::new("/proc/thread-self/attr/apparmor/exec");
        let path = if modern.exists() {
            modern
        } else {
            Path::new("/proc/thread-self/attr/exec")
        };
        std::fs::write(path, format!("exec {p}"))?;
    }
    if let Some(l) = &plan.selinux_label {
        std::fs::write("/proc/thread-self/attr/exec", l)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: LsmHost = LsmHost {
        apparmor: false,
        selinux: false,
    };
    const BOTH: LsmHost = LsmHost {
        apparmor: true,
        selinux: true,
    };

    #[test]
    fn apparmor_profile_without_apparmor_is_an_error_naming_the_field() {
        let err = plan(Some("docker-default"), None, None, NONE).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("config.json: process.apparmorProfile:"));
        assert_eq!(plan(Some(""), None, None, NONE), Ok(LsmPlan::default()));
        assert_eq!(
            plan(Some("p"), None, None, BOTH).unwrap().apparmor_profile,
            Some("p".into())
        );
    }

    #[test]
    fn selinux_labels_are_ignored_without_selinux_and_kept_with_it() {
        let p = plan(
            None,
            Some("system_u:system_r:container_t:s0"),
            Some("l"),
            NONE,
        )
        .unwrap();
        assert_eq!(p, LsmPlan::default());
        let p = plan(None, Some("x"), Some("y"), BOTH).unwrap();
        assert_eq!(p.selinux_label.as_deref(), Some("x"));
        assert_eq!(p.mount_label.as_deref(), Some("y"));
    }
}
