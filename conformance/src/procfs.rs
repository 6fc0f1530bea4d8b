//! Pure parsers for the procfs files the checker reads: `/proc/self/mountinfo`,
//! `uid_map`/`gid_map`, `/proc/self/status`, `timens_offsets`, and namespace
//! link targets. No I/O here, so every parser is unit-tested on literal text.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::config::IdMapping;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("mountinfo line {line}: {reason}")]
    Mountinfo { line: usize, reason: &'static str },
    #[error("id map line {line}: expected three numbers")]
    IdMap { line: usize },
    #[error("status: field {field} missing or not hex")]
    Status { field: String },
    #[error("namespace link {0:?}: expected kind:[inode]")]
    NsLink(String),
}

/// One line of `/proc/<pid>/mountinfo` (see proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    pub root: String,
    pub mount_point: String,
    pub mount_opts: Vec<String>,
    /// Optional fields such as `shared:4`, `master:2`, `unbindable`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_opts: Vec<String>,
}

impl MountInfo {
    pub fn has_opt(&self, opt: &str) -> bool {
        self.mount_opts.iter().any(|o| o == opt)
    }

    /// Value of a `key=value` superblock option.
    pub fn super_opt(&self, key: &str) -> Option<&str> {
        self.super_opts
            .iter()
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    }

    /// Propagation as mountinfo shows it: which of `shared`, `master`,
    /// `unbindable` tags are present, in that order.
    pub fn propagation(&self) -> Vec<&'static str> {
        let mut tags = Vec::new();
        for (prefix, tag) in [
            ("shared:", "shared"),
            ("master:", "master"),
            ("unbindable", "unbindable"),
        ] {
            if self.optional.iter().any(|o| o.starts_with(prefix)) {
                tags.push(tag);
            }
        }
        tags
    }
}

/// Undoes the kernel's octal escaping of space, tab, newline and backslash.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| parse_mountinfo_line(n + 1, l))
        .collect()
}

fn parse_mountinfo_line(line: usize, text: &str) -> Result<MountInfo, ParseError> {
    let err = |reason| ParseError::Mountinfo { line, reason };
    let fields: Vec<&str> = text.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or(err("no ' - ' separator"))?;
    if sep < 6 || fields.len() < sep + 4 {
        return Err(err("too few fields"));
    }
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| err("mount id is not a number"))
    };
    let split = |s: &str| {
        s.split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect()
    };
    Ok(MountInfo {
        id: num(fields[0])?,
        parent: num(fields[1])?,
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        mount_opts: split(fields[5]),
        optional: fields[6..sep].iter().map(|s| s.to_string()).collect(),
        fstype: fields[sep + 1].to_string(),
        source: unescape(fields[sep + 2]),
        super_opts: split(fields[sep + 3]),
    })
}

/// The mount visible at `path`: the last entry for it, since later mounts
/// stack on top of earlier ones at the same mount point.
pub fn mount_at<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    let path = normalize_path(path);
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// Mounts strictly below `path`.
pub fn mounts_under<'a>(mounts: &'a [MountInfo], path: &str) -> Vec<&'a MountInfo> {
    let prefix = format!("{}/", normalize_path(path).trim_end_matches('/'));
    mounts
        .iter()
        .filter(|m| m.mount_point.starts_with(&prefix))
        .collect()
}

/// Drops duplicate and trailing slashes so config paths match mountinfo's.
pub fn normalize_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// Parses `uid_map`/`gid_map` lines into sorted mappings.
pub fn parse_id_map(text: &str) -> Result<Vec<IdMapping>, ParseError> {
    let mut maps = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            let nums: Vec<u32> = l
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            match nums[..] {
                [container_id, host_id, size] => Ok(IdMapping {
                    container_id,
                    host_id,
                    size,
                }),
                _ => Err(ParseError::IdMap { line: n + 1 }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    maps.sort();
    Ok(maps)
}

/// Maps an id inside the namespace to the parent namespace's id through
/// `uid_map`/`gid_map` lines; `None` if unmapped.
pub fn map_to_parent(maps: &[IdMapping], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.container_id && id - m.container_id < m.size)
        .map(|m| m.host_id + (id - m.container_id))
}

/// `Key:\tvalue` pairs of `/proc/self/status`.
pub fn parse_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A hex capability mask field (`CapEff` ...) of `/proc/self/status`.
pub fn status_cap_mask(status: &BTreeMap<String, String>, field: &str) -> Result<u64, ParseError> {
    status
        .get(field)
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .ok_or_else(|| ParseError::Status {
            field: field.to_string(),
        })
}

/// `net:[4026531840]` -> 4026531840.
pub fn parse_ns_link(link: &str) -> Result<u64, ParseError> {
    link.split_once(":[")
        .and_then(|(_, rest)| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ParseError::NsLink(link.to_string()))
}

/// `/proc/self/timens_offsets`: clock name -> (secs, nanosecs).
pub fn parse_timens_offsets(text: &str) -> BTreeMap<String, (i64, i64)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f[..] {
                [clock, secs, nanos] => {
                    Some((clock.to_string(), (secs.parse().ok()?, nanos.parse().ok()?)))
                }
                _ => None,
            }
        })
        .collect()
}

/// Sizes in mount options (`65536k`, `64m`, `1048576`) in bytes, rounded up to
/// whole pages the way tmpfs stores them.
pub fn size_in_bytes(value: &str) -> Option<u64> {
    let (digits, mult) = match value.char_indices().last()? {
        (i, 'k' | 'K') => (&value[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&value[..i], 1 << 20),
        (i, 'g' | 'G') => (&value[..i], 1 << 30),
        _ => (value, 1),
    };
    let bytes = digits.parse::<u64>().ok()?.checked_mul(mult)?;
    Some(bytes.div_ceil(4096) * 4096)
}

/// Octal modes as they appear in options (`0755`, `1777`, `620`).
pub fn octal(value: &str) -> Option<u32> {
    u32::from_str_radix(value, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
67 44 254:0 /tmp/b/rootfs / ro,relatime - ext4 /dev/vda rw,discard
69 67 0:42 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
70 69 0:43 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
90 67 0:50 / /mnt/with\\040space rw shared:7 master:3 - tmpfs tmpfs rw
91 67 0:51 / /mnt/with\\040space rw unbindable - tmpfs none ro
";

    #[test]
    fn mountinfo_fields_are_split_around_the_separator() {
        let m = parse_mountinfo(MOUNTINFO).unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].root, "/tmp/b/rootfs");
        assert!(m[0].has_opt("ro"));
        assert_eq!(m[2].fstype, "devpts");
        assert_eq!(m[2].super_opt("ptmxmode"), Some("666"));
        assert_eq!(m[2].super_opt("mode"), Some("620"));
        assert_eq!(m[3].optional, vec!["shared:7", "master:3"]);
        assert_eq!(m[3].propagation(), vec!["shared", "master"]);
    }

    #[test]
    fn mountinfo_unescapes_and_top_mount_wins() {
        let m = parse_mountinfo(MOUNTINFO).unwrap();
        let top = mount_at(&m, "/mnt/with space/").unwrap();
        assert_eq!(top.id, 91);
        assert_eq!(top.propagation(), vec!["unbindable"]);
        assert_eq!(mounts_under(&m, "/dev").len(), 1);
        assert!(mount_at(&m, "/nowhere").is_none());
    }

    #[test]
    fn mountinfo_rejects_lines_without_separator() {
        assert_eq!(
            parse_mountinfo("1 2 3:4 / / rw ext4").unwrap_err(),
            ParseError::Mountinfo {
                line: 1,
                reason: "no ' - ' separator"
            }
        );
    }

    #[test]
    fn unescape_leaves_lone_backslashes() {
        assert_eq!(unescape("a\\011b\\134c\\x"), "a\tb\\c\\x");
    }

    #[test]
    fn id_map_parses_several_ranges_sorted() {
        let maps =
            parse_id_map("      1000     200000         10\n         0     100000       1000\n")
                .unwrap();
        assert_eq!(
            maps[0],
            IdMapping {
                container_id: 0,
                host_id: 100000,
                size: 1000
            }
        );
        assert_eq!(
            maps[1],
            IdMapping {
                container_id: 1000,
                host_id: 200000,
                size: 10
            }
        );
        assert_eq!(
            parse_id_map("0 1\n").unwrap_err(),
            ParseError::IdMap { line: 1 }
        );
    }

    #[test]
    fn ids_map_to_the_parent_namespace() {
        let maps = parse_id_map("0 100000 1000\n1000 200000 10\n").unwrap();
        assert_eq!(map_to_parent(&maps, 5), Some(100005));
        assert_eq!(map_to_parent(&maps, 1009), Some(200009));
        assert_eq!(map_to_parent(&maps, 1010), None);
        let identity = parse_id_map("0 0 4294967295\n").unwrap();
        assert_eq!(map_to_parent(&identity, 5), Some(5));
    }

    #[test]
    fn status_caps_are_hex() {
        let st = parse_status("Name:\tx\nCapEff:\t0000000020000420\nNoNewPrivs:\t1\n");
        assert_eq!(status_cap_mask(&st, "CapEff").unwrap(), 0x2000_0420);
        assert!(status_cap_mask(&st, "CapBnd").is_err());
        assert_eq!(st.get("NoNewPrivs").map(String::as_str), Some("1"));
    }

    #[test]
    fn ns_links_and_offsets() {
        assert_eq!(parse_ns_link("net:[4026531840]").unwrap(), 4026531840);
        assert!(parse_ns_link("net:4026531840").is_err());
        let off =
            parse_timens_offsets("monotonic      86400         0\nboottime     -3600    500\n");
        assert_eq!(off["monotonic"], (86400, 0));
        assert_eq!(off["boottime"], (-3600, 500));
    }

    #[test]
    fn sizes_round_to_pages_and_modes_are_octal() {
        assert_eq!(size_in_bytes("65536k"), Some(64 << 20));
        assert_eq!(size_in_bytes("64m"), Some(64 << 20));
        assert_eq!(size_in_bytes("1000"), Some(4096));
        assert_eq!(size_in_bytes("x"), None);
        assert_eq!(octal("1777"), Some(0o1777));
        assert_eq!(octal("0755"), Some(0o755));
    }
}
