//! The systemd cgroup driver's side of the contract: `linux.cgroupsPath` in
//! runc's `slice:prefix:name` form, and the unit it names. berth has no
//! D-Bus client yet, so [`check`] always ends in a clear error — which one
//! tells the user what they got wrong, what is missing, and what berth
//! would have created. It never falls back to cgroupfs silently.

use std::path::Path;

use super::CgroupError;

/// A parsed systemd cgroupsPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice, e.g. `system.slice`.
    pub slice: String,
    /// The unit berth would create: `<prefix>-<name>.scope`, or `<name>`
    /// when the name is itself a slice.
    pub unit: String,
}

/// Parses `slice:prefix:name` as runc does; empty means
/// `system.slice:berth:<id>`.
pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<UnitPath, CgroupError> {
    let bad = |reason: String| CgroupError::Field {
        field: "linux.cgroupsPath".into(),
        reason,
    };
    let p = cgroups_path.unwrap_or("");
    let (slice, prefix, name) = if p.is_empty() {
        ("system.slice", "berth", id)
    } else {
        let parts: Vec<&str> = p.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(bad(format!(
                "expected \"slice:prefix:name\" for systemd cgroups, got {p:?}"
            )));
        };
        (
            if slice.is_empty() { "-.slice" } else { slice },
            prefix,
            name,
        )
    };
    if !slice.ends_with(".slice") || slice.contains('/') {
        return Err(bad(format!("{slice:?} is not a systemd slice name")));
    }
    if name.is_empty() || name.contains('/') {
        return Err(bad(format!("{name:?} is not a valid unit name")));
    }
    let unit = match (name.ends_with(".slice"), prefix.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => format!("{name}.scope"),
        (false, false) => format!("{prefix}-{name}.scope"),
    };
    Ok(UnitPath {
        slice: slice.to_string(),
        unit,
    })
}

/// What `--systemd-cgroup` gets: a parse error naming the field, or the
/// reason the unit cannot be created here.
pub fn check(cgroups_path: Option<&str>, id: &str, systemd_dir: &Path) -> CgroupError {
    let unit = match parse(cgroups_path, id) {
        Ok(u) => u,
        Err(e) => return e,
    };
    let why = match systemd_dir.is_dir() {
        false => "systemd is not running as PID 1 on this host",
        true => "berth has no systemd cgroup driver yet",
    };
    CgroupError::Systemd(format!(
        "--systemd-cgroup: {why}; cannot create unit {} in {} (run without --systemd-cgroup to use cgroupfs)",
        unit.unit, unit.slice
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_forms() {
        let u = parse(Some("system.slice:docker:abc"), "x").unwrap();
        assert_eq!(
            (u.slice.as_str(), u.unit.as_str()),
            ("system.slice", "docker-abc.scope")
        );
        let u = parse(None, "c1").unwrap();
        assert_eq!(u.unit, "berth-c1.scope");
        assert_eq!(parse(Some(":p:n"), "x").unwrap().slice, "-.slice");
        assert_eq!(parse(Some("a.slice::n"), "x").unwrap().unit, "n.scope");
        assert_eq!(
            parse(Some("a.slice:p:b.slice"), "x").unwrap().unit,
            "b.slice"
        );
    }

    #[test]
    fn malformed_paths_name_the_field() {
        for bad in [
            "/berth/x",
            "a:b",
            "a.slice:b:c:d",
            "notaslice:p:n",
            "a.slice:p:",
        ] {
            let e = parse(Some(bad), "x").unwrap_err().to_string();
            assert!(e.starts_with("linux.cgroupsPath: "), "{bad}: {e}");
        }
    }

    #[test]
    fn without_systemd_the_error_names_the_unit() {
        let e = check(Some("system.slice:p:n"), "x", Path::new("/nonexistent")).to_string();
        assert!(
            e.contains("not running as PID 1") && e.contains("p-n.scope"),
            "{e}"
        );
    }
}
