//! User namespace id maps, written by the launcher into
//! /proc/<pid>/{uid,gid}_map of the child (several ranges allowed).

use std::io;

use oci_spec::runtime::LinuxIdMapping;

/// The text the kernel expects: "container host size" per line.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes both maps for `pid`. The kernel accepts each file once, in one write.
pub fn write_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> io::Result<()> {
    let w = |file: &str, text: String| {
        std::fs::write(format!("/proc/{pid}/{file}"), text)
            .map_err(|e| io::Error::new(e.kind(), format!("write /proc/{pid}/{file}: {e}")))
    };
    w("uid_map", map_text(uid))?;
    w("gid_map", map_text(gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_ranges() {
        let maps: Vec<LinuxIdMapping> =
            serde_json::from_str(r#"[{"containerID":0,"hostID":100000,"size":1000},{"containerID":1000,"hostID":1000,"size":1}]"#).unwrap();
        assert_eq!(map_text(&maps), "0 100000 1000\n1000 1000 1\n");
    }
}
