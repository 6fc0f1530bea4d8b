//! Mount options as data: the table maps every option runc accepts to the
//! mount(2) flag it sets or clears, a propagation change, or a recursive
//! mount_setattr(2) attribute. Anything not in the table is filesystem data
//! (`mode=755`, `size=64k`), passed through as the data string.

use nix::mount::MsFlags;

use crate::sys::fs::{
    MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME,
};

/// What one option word does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Set (true) or clear (false) a mount(2) flag.
    Flag(bool, MsFlags),
    /// A propagation type, applied after the mount.
    Propagation(MsFlags),
    /// A recursive attribute: (set, clear) for mount_setattr.
    Recursive(u64, u64),
    /// Accepted and handled elsewhere (tmpcopyup, idmap) or meaningless here.
    Special(&'static str),
}

const ATIME_MASK: u64 = MOUNT_ATTR__ATIME;

#[rustfmt::skip]
const TABLE: &[(&str, Effect)] = &[
    ("defaults", Effect::Flag(false, MsFlags::empty())),
    ("ro", Effect::Flag(true, MsFlags::MS_RDONLY)),
    ("rw", Effect::Flag(false, MsFlags::MS_RDONLY)),
    ("suid", Effect::Flag(false, MsFlags::MS_NOSUID)),
    ("nosuid", Effect::Flag(true, MsFlags::MS_NOSUID)),
    ("dev", Effect::Flag(false, MsFlags::MS_NODEV)),
    ("nodev", Effect::Flag(true, MsFlags::MS_NODEV)),
    ("exec", Effect::Flag(false, MsFlags::MS_NOEXEC)),
    ("noexec", Effect::Flag(true, MsFlags::MS_NOEXEC)),
    ("sync", Effect::Flag(true, MsFlags::MS_SYNCHRONOUS)),
    ("async", Effect::Flag(false, MsFlags::MS_SYNCHRONOUS)),
    ("dirsync", Effect::Flag(true, MsFlags::MS_DIRSYNC)),
    ("remount", Effect::Flag(true, MsFlags::MS_REMOUNT)),
    ("mand", Effect::Flag(true, MsFlags::MS_MANDLOCK)),
    ("nomand", Effect::Flag(false, MsFlags::MS_MANDLOCK)),
    ("atime", Effect::Flag(false, MsFlags::MS_NOATIME)),
    ("noatime", Effect::Flag(true, MsFlags::MS_NOATIME)),
    ("diratime", Effect::Flag(false, MsFlags::MS_NODIRATIME)),
    ("nodiratime", Effect::Flag(true, MsFlags::MS_NODIRATIME)),
    ("bind", Effect::Flag(true, MsFlags::MS_BIND)),
    ("rbind", Effect::Flag(true, MsFlags::MS_BIND.union(MsFlags::MS_REC))),
    ("relatime", Effect::Flag(true, MsFlags::MS_RELATIME)),
    ("norelatime", Effect::Flag(false, MsFlags::MS_RELATIME)),
    ("strictatime", Effect::Flag(true, MsFlags::MS_STRICTATIME)),
    ("nostrictatime", Effect::Flag(false, MsFlags::MS_STRICTATIME)),
    ("lazytime", Effect::Flag(true, MsFlags::MS_LAZYTIME)),
    ("nolazytime", Effect::Flag(false, MsFlags::MS_LAZYTIME)),
    ("iversion", Effect::Flag(true, MsFlags::MS_I_VERSION)),
    ("noiversion", Effect::Flag(false, MsFlags::MS_I_VERSION)),
    ("silent", Effect::Flag(true, MsFlags::MS_SILENT)),
    ("loud", Effect::Flag(false, MsFlags::MS_SILENT)),
    ("private", Effect::Propagation(MsFlags::MS_PRIVATE)),
    ("rprivate", Effect::Propagation(MsFlags::MS_PRIVATE.union(MsFlags::MS_REC))),
    ("shared", Effect::Propagation(MsFlags::MS_SHARED)),
    ("rshared", Effect::Propagation(MsFlags::MS_SHARED.union(MsFlags::MS_REC))),
    ("slave", Effect::Propagation(MsFlags::MS_SLAVE)),
    ("rslave", Effect::Propagation(MsFlags::MS_SLAVE.union(MsFlags::MS_REC))),
    ("unbindable", Effect::Propagation(MsFlags::MS_UNBINDABLE)),
    ("runbindable", Effect::Propagation(MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC))),
    ("rro", Effect::Recursive(MOUNT_ATTR_RDONLY, 0)),
    ("rrw", Effect::Recursive(0, MOUNT_ATTR_RDONLY)),
    ("rnosuid", Effect::Recursive(MOUNT_ATTR_NOSUID, 0)),
    ("rsuid", Effect::Recursive(0, MOUNT_ATTR_NOSUID)),
    ("rnodev", Effect::Recursive(MOUNT_ATTR_NODEV, 0)),
    ("rdev", Effect::Recursive(0, MOUNT_ATTR_NODEV)),
    ("rnoexec", Effect::Recursive(MOUNT_ATTR_NOEXEC, 0)),
    ("rexec", Effect::Recursive(0, MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", Effect::Recursive(MOUNT_ATTR_NODIRATIME, 0)),
    ("rdiratime", Effect::Recursive(0, MOUNT_ATTR_NODIRATIME)),
    ("rrelatime", Effect::Recursive(MOUNT_ATTR_RELATIME, ATIME_MASK)),
    ("rnorelatime", Effect::Recursive(0, MOUNT_ATTR_RELATIME)),
    ("rnoatime", Effect::Recursive(MOUNT_ATTR_NOATIME, ATIME_MASK)),
    ("ratime", Effect::Recursive(0, MOUNT_ATTR_NOATIME)),
    ("rstrictatime", Effect::Recursive(MOUNT_ATTR_STRICTATIME, ATIME_MASK)),
    ("rnostrictatime", Effect::Recursive(0, MOUNT_ATTR_STRICTATIME)),
    ("rnosymfollow", Effect::Recursive(MOUNT_ATTR_NOSYMFOLLOW, 0)),
    ("rsymfollow", Effect::Recursive(0, MOUNT_ATTR_NOSYMFOLLOW)),
    ("nosymfollow", Effect::Recursive(MOUNT_ATTR_NOSYMFOLLOW, 0)),
    ("symfollow", Effect::Recursive(0, MOUNT_ATTR_NOSYMFOLLOW)),
    ("tmpcopyup", Effect::Special("tmpcopyup")),
    ("idmap", Effect::Special("idmap")),
    ("ridmap", Effect::Special("ridmap")),
    ("acl", Effect::Special("acl")),
    ("noacl", Effect::Special("noacl")),
];

/// Every option word berth understands (reported by `features`).
pub fn known_options() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, _)| *name)
}

/// A mount's options, sorted into what each syscall needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub rec_set: u64,
    pub rec_clear: u64,
    pub data: String,
    pub tmpcopyup: bool,
    /// idmap / ridmap: idmapped mounts, not supported yet (refused).
    pub idmap: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clear: 0,
            data: String::new(),
            tmpcopyup: false,
            idmap: false,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Flags that need a second, remounting call after a bind mount, because
    /// the kernel ignores them on the initial MS_BIND.
    pub fn bind_remount_flags(&self) -> MsFlags {
        self.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }

    pub fn has_recursive_attrs(&self) -> bool {
        self.rec_set != 0 || self.rec_clear != 0
    }
}

/// Parses a mount's option list.
pub fn parse(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        match TABLE.iter().find(|(name, _)| name == opt).map(|(_, e)| *e) {
            Some(Effect::Flag(true, f)) => out.flags |= f,
            Some(Effect::Flag(false, f)) => out.flags &= !f,
            Some(Effect::Propagation(p)) => out.propagation.push(p),
            Some(Effect::Recursive(set, clear)) => {
                out.rec_set = (out.rec_set & !clear) | set;
                out.rec_clear = (out.rec_clear & !set) | clear;
            }
            Some(Effect::Special("tmpcopyup")) => out.tmpcopyup = true,
            Some(Effect::Special("idmap" | "ridmap")) => out.idmap = true,
            Some(Effect::Special(_)) => {}
            None => data.push(opt),
        }
    }
    out.data = data.join(",");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data_are_split() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
    }

    #[test]
    fn later_option_wins() {
        assert_eq!(p(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(p(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
    }

    #[test]
    fn rbind_is_recursive_bind() {
        let o = p(&["rbind", "ro"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.bind_remount_flags(), MsFlags::MS_RDONLY);
    }

    #[test]
    fn propagation_is_separate() {
        let o = p(&["bind", "rslave"]);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.flags, MsFlags::MS_BIND);
    }

    #[test]
    fn recursive_attrs_accumulate_and_cancel() {
        let o = p(&["rro", "rnosuid", "rrw"]);
        assert_eq!(o.rec_set, MOUNT_ATTR_NOSUID);
        assert_eq!(o.rec_clear, MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn special_options_are_not_data() {
        let o = p(&["tmpcopyup", "idmap", "uid=5"]);
        assert!(o.tmpcopyup);
        assert_eq!(o.data, "uid=5");
    }
}
