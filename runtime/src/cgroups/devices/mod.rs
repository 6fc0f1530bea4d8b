//! The device cgroup: which device nodes the container may open or mknod.
//!
//! [`rules`] builds the full ordered rule list (default deny, then the
//! config's `linux.resources.devices`, then runc's standard allow list).
//! The meaning of a list is fixed here, in [`decide`]: for each access bit
//! (r, w, m) of a request, the last rule that matches the device and names
//! that bit decides it, and a request is allowed only when all of its bits
//! are. v1 ([`apply_v1`]) writes the list as the fewest devices.deny /
//! devices.allow lines that move the kernel's current exception list to one
//! with exactly that meaning, and refuses lists v1 cannot express; v2
//! ([`apply_v2`]) attaches an eBPF program that berth assembles itself.

mod attach;
mod bpf;
#[cfg(test)]
mod ebpf_test_interp;
mod v1;

use std::fmt;
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

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

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        write!(
            f,
            "{} {} {}:{} {}",
            if self.allow { "allow" } else { "deny" },
            self.kind,
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

/// runc 1.1's built-in allow list (specconv.AllowedDevices, plus the tun/tap
/// rule 1.1 still has), appended after the config's rules so that a config
/// cannot take them away. An entry with a path is dropped when linux.devices
/// has a device at that path, as runc does.
#[rustfmt::skip]
const STANDARD: &[Standard] = &[
    (None,                 'c', None,      None,      "m"),
    (None,                 'b', None,      None,      "m"),
    (Some("/dev/null"),    'c', Some(1),   Some(3),   "rwm"),
    (Some("/dev/random"),  'c', Some(1),   Some(8),   "rwm"),
    (Some("/dev/full"),    'c', Some(1),   Some(7),   "rwm"),
    (Some("/dev/tty"),     'c', Some(5),   Some(0),   "rwm"),
    (Some("/dev/zero"),    'c', Some(1),   Some(5),   "rwm"),
    (Some("/dev/urandom"), 'c', Some(1),   Some(9),   "rwm"),
    // /dev/pts/*
    (None,                 'c', Some(136), None,      "rwm"),
    // /dev/ptmx
    (None,                 'c', Some(5),   Some(2),   "rwm"),
    // /dev/net/tun
    (None,                 'c', Some(10),  Some(200), "rwm"),
];

/// One built-in rule: (path of the device it is for, kind, major, minor,
/// access).
type Standard = (
    Option<&'static str>,
    char,
    Option<i64>,
    Option<i64>,
    &'static str,
);

/// The rules for a container, in order. linux.devices entries are not
/// allowed by themselves (runc does not either): a config that creates a
/// device must also allow it in linux.resources.devices.
pub fn rules(config: &[LinuxDeviceCgroup], linux_devices: &[LinuxDevice]) -> Vec<Rule> {
    let mut out = vec![Rule {
        allow: false,
        kind: 'a',
        major: None,
        minor: None,
        access: "rwm".into(),
    }];
    // runc reads a negative major or minor (its own encoding of "unset") as
    // the wildcard.
    let number = |n: Option<i64>| n.filter(|n| *n >= 0);
    out.extend(config.iter().map(|d| Rule {
        allow: d.allow(),
        kind: match d.typ() {
            None | Some(LinuxDeviceType::A) => 'a',
            Some(LinuxDeviceType::B) => 'b',
            Some(LinuxDeviceType::C) => 'c',
            Some(LinuxDeviceType::U) => 'u',
            Some(LinuxDeviceType::P) => 'p',
        },
        major: number(d.major()),
        minor: number(d.minor()),
        access: d.access().clone().unwrap_or_default(),
    }));
    let overridden = |path: &str| linux_devices.iter().any(|d| d.path() == Path::new(path));
    out.extend(
        STANDARD
            .iter()
            .filter(|(path, ..)| !path.is_some_and(overridden))
            .map(|&(_, kind, major, minor, access)| Rule {
                allow: true,
                kind,
                major,
                minor,
                access: access.into(),
            }),
    );
    out
}

/// Access bits, in the kernel's BPF_DEVCG_ACC_* encoding.
pub(crate) const ACC_MKNOD: u8 = 1;
pub(crate) const ACC_READ: u8 = 2;
pub(crate) const ACC_WRITE: u8 = 4;
pub(crate) const ACC_ALL: u8 = 7;
/// Device types, in the kernel's BPF_DEVCG_DEV_* encoding.
pub(crate) const DEV_BLOCK: u32 = 1;
pub(crate) const DEV_CHAR: u32 = 2;

/// A checked rule: numbers in the kernel's ranges, access as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Norm {
    pub allow: bool,
    /// DEV_CHAR or DEV_BLOCK; None matches both.
    pub ty: Option<u32>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl Norm {
    pub fn matches(&self, ty: u32, major: u32, minor: u32) -> bool {
        self.ty.is_none_or(|t| t == ty)
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }
}

fn invalid(rule: &Rule, reason: &str) -> CgroupError {
    CgroupError::Field {
        field: "linux.resources.devices".into(),
        reason: format!("rule \"{rule}\": {reason}"),
    }
}

/// Checks every rule: type a/b/c, numbers within u32, access a non-empty
/// subset of "rwm" (runc refuses an empty one too).
pub(crate) fn normalize(rules: &[Rule]) -> Result<Vec<Norm>, CgroupError> {
    rules
        .iter()
        .map(|r| {
            let ty = match r.kind {
                'a' => None,
                'c' => Some(DEV_CHAR),
                'b' => Some(DEV_BLOCK),
                k => return Err(invalid(r, &format!("invalid cgroup device type {k:?}"))),
            };
            let num = |n: Option<i64>| match n {
                None => Ok(None),
                Some(n) => u32::try_from(n)
                    .map(Some)
                    .map_err(|_| invalid(r, &format!("device number {n} is out of range"))),
            };
            let mut access = 0;
            for c in r.access.chars() {
                access |= match c {
                    'r' => ACC_READ,
                    'w' => ACC_WRITE,
                    'm' => ACC_MKNOD,
                    _ => return Err(invalid(r, &format!("invalid access {c:?}"))),
                };
            }
            if access == 0 {
                return Err(invalid(r, "access cannot be empty"));
            }
            Ok(Norm {
                allow: r.allow,
                ty,
                major: num(r.major)?,
                minor: num(r.minor)?,
                access,
            })
        })
        .collect()
}

/// Whether `rules` allow `access` (a set of ACC_* bits) to a device: each
/// bit is decided by the last matching rule that names it, and a bit no
/// rule names is denied. (The reference the tests hold the v1 exceptions
/// and the eBPF program to.)
#[cfg(test)]
pub(crate) fn decide(rules: &[Norm], ty: u32, major: u32, minor: u32, access: u8) -> bool {
    allowed_bits(rules, ty, major, minor) & access == access
}

/// The access bits `rules` allow to one device.
pub(crate) fn allowed_bits(rules: &[Norm], ty: u32, major: u32, minor: u32) -> u8 {
    let mut allowed = 0;
    for r in rules.iter().filter(|r| r.matches(ty, major, minor)) {
        match r.allow {
            true => allowed |= r.access,
            false => allowed &= !r.access,
        }
    }
    allowed
}

/// Makes a v1 devices cgroup at `dir` enforce `rules`.
pub fn apply_v1(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let rules = normalize(rules)?;
    let target = v1::target(&rules).map_err(|reason| CgroupError::Field {
        field: "linux.resources.devices".into(),
        reason,
    })?;
    let list = dir.join("devices.list");
    let text = std::fs::read_to_string(&list).map_err(super::io_err("read", &list))?;
    let current = v1::parse_list(&text).map_err(|reason| CgroupError::Field {
        field: "linux.resources.devices".into(),
        reason: format!("{}: {reason}", list.display()),
    })?;
    for w in v1::transition(&current, &target) {
        let file = dir.join(w.file);
        // The kernel takes one rule per write(2).
        std::fs::write(&file, &w.line).map_err(|e| CgroupError::Field {
            field: "linux.resources.devices".into(),
            reason: format!(
                "the kernel refused {:?} for {}: {e}",
                w.line,
                file.display()
            ),
        })?;
    }
    Ok(())
}

/// Attaches the eBPF program for `rules` to the v2 cgroup at `dir`,
/// replacing the one berth attached before.
pub fn apply_v2(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let rules = normalize(rules)?;
    let prog = bpf::program(&rules).map_err(|reason| CgroupError::Field {
        field: "linux.resources.devices".into(),
        reason,
    })?;
    attach::install(dir, &prog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceCgroupBuilder};

    fn cg(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    fn short(r: &Rule) -> String {
        r.to_string()
    }

    #[test]
    fn rules_are_deny_all_then_config_then_standard_list() {
        let config = [
            cg(true, Some(LinuxDeviceType::C), Some(4), Some(64), "rw"),
            cg(false, None, None, None, "m"),
        ];
        let got: Vec<String> = rules(&config, &[]).iter().map(short).collect();
        assert_eq!(
            got,
            [
                "deny a *:* rwm",
                "allow c 4:64 rw",
                "deny a *:* m",
                "allow c *:* m",
                "allow b *:* m",
                "allow c 1:3 rwm",
                "allow c 1:8 rwm",
                "allow c 1:7 rwm",
                "allow c 5:0 rwm",
                "allow c 1:5 rwm",
                "allow c 1:9 rwm",
                "allow c 136:* rwm",
                "allow c 5:2 rwm",
                "allow c 10:200 rwm",
            ]
        );
    }

    #[test]
    fn standard_list_cannot_be_denied_by_config() {
        let config = [cg(false, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm")];
        let r = normalize(&rules(&config, &[])).unwrap();
        assert!(decide(&r, DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE));
        assert!(!decide(&r, DEV_CHAR, 1, 4, ACC_READ));
        assert!(decide(&r, DEV_BLOCK, 8, 0, ACC_MKNOD));
        assert!(!decide(&r, DEV_BLOCK, 8, 0, ACC_READ));
        assert!(decide(&r, DEV_CHAR, 136, 7, ACC_WRITE));
    }

    #[test]
    fn linux_devices_replace_standard_entries_at_their_path_and_are_not_allowed() {
        let dev = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(42)
            .build()
            .unwrap();
        let extra = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .build()
            .unwrap();
        let got = rules(&[], &[dev, extra]);
        assert!(!got.iter().any(|r| r.major == Some(1) && r.minor == Some(3)));
        assert_eq!(got.len(), 1 + STANDARD.len() - 1);
        let r = normalize(&got).unwrap();
        assert!(!decide(&r, DEV_CHAR, 1, 3, ACC_READ));
        assert!(!decide(&r, DEV_CHAR, 1, 42, ACC_READ));
        assert!(!decide(&r, DEV_CHAR, 10, 229, ACC_READ));
        assert!(decide(&r, DEV_CHAR, 10, 229, ACC_MKNOD));
    }

    #[test]
    fn config_type_and_numbers_convert_like_runc() {
        let config = [
            cg(true, None, Some(-1), Some(-1), "r"),
            cg(true, Some(LinuxDeviceType::B), Some(8), None, "w"),
            cg(true, Some(LinuxDeviceType::P), Some(1), Some(1), ""),
        ];
        let got = rules(&config, &[]);
        assert_eq!(short(&got[1]), "allow a *:* r");
        assert_eq!(short(&got[2]), "allow b 8:* w");
        assert_eq!(got[3].kind, 'p');
        let err = normalize(&got).unwrap_err().to_string();
        assert!(err.contains("invalid cgroup device type 'p'"), "{err}");
        let empty = normalize(&[Rule {
            kind: 'c',
            ..got[3].clone()
        }])
        .unwrap_err();
        assert!(empty.to_string().contains("access cannot be empty"));
        let big = Rule {
            major: Some(1 << 33),
            ..got[2].clone()
        };
        assert!(normalize(&[big])
            .unwrap_err()
            .to_string()
            .contains("out of range"));
    }

    #[test]
    fn decide_is_last_match_per_access_bit() {
        let rules = [
            Norm {
                allow: false,
                ty: None,
                major: None,
                minor: None,
                access: ACC_ALL,
            },
            Norm {
                allow: true,
                ty: Some(DEV_CHAR),
                major: Some(1),
                minor: None,
                access: ACC_READ,
            },
            Norm {
                allow: true,
                ty: Some(DEV_CHAR),
                major: None,
                minor: Some(3),
                access: ACC_WRITE,
            },
            Norm {
                allow: false,
                ty: Some(DEV_CHAR),
                major: Some(1),
                minor: Some(4),
                access: ACC_READ,
            },
        ];
        assert!(decide(&rules, DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE));
        assert!(!decide(&rules, DEV_CHAR, 1, 4, ACC_READ));
        assert!(decide(&rules, DEV_CHAR, 1, 5, ACC_READ));
        assert!(!decide(&rules, DEV_CHAR, 1, 5, ACC_WRITE));
        assert!(decide(&rules, DEV_CHAR, 9, 3, ACC_WRITE));
        assert!(!decide(&rules, DEV_BLOCK, 1, 3, ACC_READ));
    }
}
