//! `berth pause` / `berth resume`.

use crate::cli::extras::Pause;

use super::Globals;

pub fn pause(g: &Globals, args: &Pause) -> anyhow::Result<i32> {
    let _ = (g, args);
    anyhow::bail!("pause: not implemented yet")
}

pub fn resume(g: &Globals, args: &Pause) -> anyhow::Result<i32> {
    let _ = (g, args);
    anyhow::bail!("resume: not implemented yet")
}
