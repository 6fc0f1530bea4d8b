//! `berth create`: set the container up and leave its init blocked on the
//! exec fifo until `start`.

use crate::cli::oci::Create;
use crate::process::launch::{launch, LaunchMode, LaunchOptions};

use super::Globals;

pub fn run(g: &Globals, args: &Create) -> anyhow::Result<i32> {
    let o = &args.opts;
    launch(&LaunchOptions {
        root: &g.root,
        id: &args.id,
        bundle: &o.bundle,
        mode: LaunchMode::Create,
        pid_file: o.pid_file.as_deref(),
        console_socket: o.console_socket.as_deref(),
        no_pivot: o.no_pivot,
        preserve_fds: o.preserve_fds,
        no_new_keyring: o.no_new_keyring,
        systemd_cgroup: g.systemd_cgroup,
        block_signals: false,
    })?;
    Ok(0)
}
