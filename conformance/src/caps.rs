//! Capability names, masks, and the model of what `execve(2)` leaves in each of
//! the five sets, so the checker can predict what a process that a runtime set
//! up faithfully from `process.capabilities` sees in `/proc/self/status`.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CapsError {
    #[error("unknown capability {0:?}")]
    Unknown(String),
}

/// Capability names in bit order (linux/capability.h).
pub const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub fn mask<S: AsRef<str>>(names: &[S]) -> Result<u64, CapsError> {
    names.iter().try_fold(0u64, |acc, n| {
        let n = n.as_ref();
        let bit = NAMES
            .iter()
            .position(|c| c.eq_ignore_ascii_case(n))
            .ok_or_else(|| CapsError::Unknown(n.to_string()))?;
        Ok(acc | 1 << bit)
    })
}

pub fn names(mask: u64) -> Vec<&'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// The five sets, as masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

impl CapSets {
    pub fn from_config(c: &crate::config::Capabilities) -> Result<Self, CapsError> {
        Ok(CapSets {
            bounding: mask(&c.bounding)?,
            effective: mask(&c.effective)?,
            inheritable: mask(&c.inheritable)?,
            permitted: mask(&c.permitted)?,
            ambient: mask(&c.ambient)?,
        })
    }

    /// The sets after `execve` of a file without file capabilities and without
    /// set-id bits, for a process whose effective uid is `euid` (in its own user
    /// namespace) and with no securebits. The runtime applies the config before
    /// exec; exec then recomputes permitted and effective, so these are what a
    /// correct runtime's process can observe:
    /// - ambient can only hold caps that are both permitted and inheritable;
    /// - root gets `bounding | inheritable | ambient` in permitted and effective
    ///   (the "root is fully privileged" rule), others get just ambient.
    pub fn after_exec(&self, euid: u32, ruid: u32) -> CapSets {
        let ambient = self.ambient & self.permitted & self.inheritable;
        let root = euid == 0 || ruid == 0;
        let permitted = if root {
            self.bounding | self.inheritable | ambient
        } else {
            ambient
        };
        let effective = if euid == 0 { permitted } else { ambient };
        CapSets {
            bounding: self.bounding,
            effective,
            inheritable: self.inheritable,
            permitted,
            ambient,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

    #[test]
    fn mask_matches_kernel_bits() {
        // What runc's default spec shows as CapEff on a real container.
        assert_eq!(mask(&DEFAULT).unwrap(), 0x2000_0420);
        assert_eq!(mask(&["CAP_CHECKPOINT_RESTORE"]).unwrap(), 1 << 40);
        assert_eq!(
            mask(&["CAP_NOPE"]).unwrap_err(),
            CapsError::Unknown("CAP_NOPE".into())
        );
        assert_eq!(
            names(0x2000_0420),
            vec!["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
        );
    }

    #[test]
    fn root_gets_bounding_in_permitted_and_effective() {
        let sets = CapSets {
            bounding: 0b111,
            effective: 0b001,
            permitted: 0b001,
            ..Default::default()
        };
        let after = sets.after_exec(0, 0);
        assert_eq!(after.permitted, 0b111);
        assert_eq!(after.effective, 0b111);
        assert_eq!(after.ambient, 0);
    }

    #[test]
    fn non_root_keeps_only_ambient() {
        let sets = CapSets {
            bounding: 0b111,
            effective: 0b011,
            permitted: 0b011,
            inheritable: 0b011,
            ambient: 0b110,
        };
        let after = sets.after_exec(1000, 1000);
        // bit 2 is not permitted, so the kernel could never have raised it.
        assert_eq!(after.ambient, 0b010);
        assert_eq!(after.permitted, 0b010);
        assert_eq!(after.effective, 0b010);
        assert_eq!(after.inheritable, 0b011);
        assert_eq!(after.bounding, 0b111);
    }

    #[test]
    fn a_runtime_that_ignores_caps_is_caught() {
        // A process that kept the host's full bounding set must not match.
        let wanted = CapSets {
            bounding: mask(&DEFAULT).unwrap(),
            ..Default::default()
        }
        .after_exec(0, 0);
        let host_like = CapSets {
            bounding: (1 << 41) - 1,
            ..Default::default()
        }
        .after_exec(0, 0);
        assert_ne!(wanted, host_like);
    }
}
