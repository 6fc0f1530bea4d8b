//! Checks on kernel-side isolation: namespaces (new, joined by path, or shared
//! with the host), hostname and domainname, sysctl, user-namespace id maps and
//! time-namespace offsets.

use std::collections::BTreeMap;

use super::{read, Check, Observer};
use crate::config::{self, proc_ns_name, IdMapping, ANN_HOST_NS, ANN_NS_PATH_INODES};
use crate::procfs;

pub fn checks(obs: &Observer, out: &mut Vec<Check>) {
    namespace_checks(obs, out);
    if let Some(want) = &obs.spec.hostname {
        let got = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("error: {e}"));
        out.push(Check::eq("hostname", want.clone(), got));
    }
    if let Some(want) = &obs.spec.domainname {
        out.push(Check::eq(
            "domainname",
            want.clone(),
            read_trimmed("/proc/sys/kernel/domainname"),
        ));
    }
    for (key, want) in &obs.spec.linux.sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        out.push(Check::eq(
            format!("linux.sysctl[{key}]"),
            squash(want),
            squash(&read_trimmed(&path)),
        ));
    }
    if has_ns(obs, "user") {
        id_map_check(
            "linux.uidMappings",
            "/proc/self/uid_map",
            &obs.spec.linux.uid_mappings,
            out,
        );
        id_map_check(
            "linux.gidMappings",
            "/proc/self/gid_map",
            &obs.spec.linux.gid_mappings,
            out,
        );
    }
    if has_ns(obs, "time") {
        time_checks(obs, out);
    }
}

fn has_ns(obs: &Observer, kind: &str) -> bool {
    obs.spec.linux.namespaces.iter().any(|n| n.kind == kind)
}

/// Inside vs host inode of every namespace kind the driver reported. A kind
/// absent from the config must be the host's; a new one must differ; one joined
/// by path must be the inode the driver saw at that path.
fn namespace_checks(obs: &Observer, out: &mut Vec<Check>) {
    let Some(host) = obs.annotation(ANN_HOST_NS).map(config::parse_kv_list) else {
        return;
    };
    let joined = obs
        .annotation(ANN_NS_PATH_INODES)
        .map(config::parse_kv_list)
        .unwrap_or_default();
    let wanted: BTreeMap<&str, Option<&str>> = obs
        .spec
        .linux
        .namespaces
        .iter()
        .filter_map(|n| Some((proc_ns_name(&n.kind)?, n.path.as_deref())))
        .collect();
    for (kind, host_inode) in &host {
        let name = format!("namespace[{kind}]");
        let inside = match std::fs::read_link(format!("/proc/self/ns/{kind}")) {
            Ok(link) => match procfs::parse_ns_link(&link.to_string_lossy()) {
                Ok(inode) => inode.to_string(),
                Err(e) => {
                    out.push(Check::error(name, "an inode", e));
                    continue;
                }
            },
            Err(e) => {
                out.push(Check::error(name, "an inode", e));
                continue;
            }
        };
        let check = match wanted.get(kind.as_str()) {
            None => Check::new(
                name,
                &inside == host_inode,
                format!("same as host ({host_inode})"),
                inside,
            ),
            Some(None) => Check::new(
                name,
                &inside != host_inode,
                format!("new, not host ({host_inode})"),
                inside,
            ),
            Some(Some(path)) => match joined.get(kind) {
                Some(want) => Check::new(
                    name,
                    &inside == want,
                    format!("joined {path} ({want})"),
                    inside,
                ),
                None => Check::error(
                    name,
                    format!("joined {path}"),
                    "driver did not report its inode",
                ),
            },
        };
        out.push(check);
    }
}

fn id_map_check(name: &str, path: &str, want: &[IdMapping], out: &mut Vec<Check>) {
    let mut want = want.to_vec();
    want.sort();
    let fmt = |m: &[IdMapping]| {
        m.iter()
            .map(|m| format!("{} {} {}", m.container_id, m.host_id, m.size))
            .collect::<Vec<_>>()
    };
    match read(path)
        .map_err(|e| e.to_string())
        .and_then(|t| procfs::parse_id_map(&t).map_err(|e| e.to_string()))
    {
        Ok(got) => out.push(Check::new(name, got == want, fmt(&want), fmt(&got))),
        Err(e) => out.push(Check::error(name, fmt(&want), e)),
    }
}

fn time_checks(obs: &Observer, out: &mut Vec<Check>) {
    let text = match read("/proc/self/timens_offsets") {
        Ok(t) => t,
        Err(e) => {
            return out.push(Check::error(
                "linux.timeOffsets",
                "readable timens_offsets",
                e,
            ))
        }
    };
    let got = procfs::parse_timens_offsets(&text);
    for clock in ["monotonic", "boottime"] {
        let want = obs
            .spec
            .linux
            .time_offsets
            .get(clock)
            .map(|o| (o.secs, i64::from(o.nanosecs)))
            .unwrap_or((0, 0));
        out.push(Check::eq(
            format!("linux.timeOffsets[{clock}]"),
            Some(want),
            got.get(clock).copied(),
        ));
    }
}

fn read_trimmed(path: &str) -> String {
    read(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("error: {e}"))
}

/// Multi-value sysctls print tab-separated; configs usually use spaces.
fn squash(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}
