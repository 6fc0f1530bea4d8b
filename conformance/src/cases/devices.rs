//! config-linux.md devices: the default devices, /dev filesystems and links are
//! checked by the checker in every case; these cases add `linux.devices`
//! entries of each type with modes and owners.

use serde_json::{json, Value};

use super::Case;
use crate::driver::spec;

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker("devices/defaults", super::unchanged),
        Case::checker("devices/linux-devices", linux_devices),
    ]
}

/// One entry per device type. The cgroup rules allow them, so a runtime that
/// bind-mounts host devices instead of mknod still has something to bind.
fn linux_devices(config: &mut Value) {
    config["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0},
        {"path": "/dev/berth-loop", "type": "b", "major": 7, "minor": 200, "fileMode": 0o640, "uid": 1000, "gid": 100},
        {"path": "/dev/berth-uchar", "type": "u", "major": 1, "minor": 7, "fileMode": 0o600, "uid": 1000, "gid": 1000},
        {"path": "/dev/berth-fifo", "type": "p", "fileMode": 0o620, "uid": 0, "gid": 5}
    ]);
    for (kind, major, minor) in [("c", 10, 229), ("b", 7, 200), ("c", 1, 7)] {
        spec::push(
            &mut config["linux"]["resources"]["devices"],
            json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": "rwm"}),
        );
    }
}
