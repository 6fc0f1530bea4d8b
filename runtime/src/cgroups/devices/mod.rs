//! The device cgroup: which device nodes the container may open or mknod.
//!
//! [`rules`] builds the full ordered rule list (default deny, then the
//! config's `linux.resources.devices`, then runc's standard allow list);
//! the last matching rule wins. v1 writes it as devices.deny/devices.allow
//! lines, v2 attaches an eBPF program that berth assembles itself.

use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup};

use super::CgroupError;

/// One device rule: allow or deny access to a device (or a wildcard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a' (all), 'c' or 'b'.
    pub kind: char,
    /// None is the wildcard `*`.
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Some of "rwm".
    pub access: String,
}

/// The rules for a container, in order.
pub fn rules(config: &[LinuxDeviceCgroup], linux_devices: &[LinuxDevice]) -> Vec<Rule> {
    let _ = (config, linux_devices);
    Vec::new()
}

/// Makes a v1 devices cgroup at `dir` enforce `rules`.
pub fn apply_v1(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let _ = (dir, rules);
    Ok(())
}

/// Attaches the eBPF program for `rules` to the v2 cgroup at `dir`,
/// replacing the one berth attached before.
pub fn apply_v2(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let _ = (dir, rules);
    Ok(())
}
