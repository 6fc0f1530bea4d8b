//! `berth ps`.

use crate::cli::extras::Ps;

use super::Globals;

pub fn run(g: &Globals, args: &Ps) -> anyhow::Result<i32> {
    let _ = (g, args);
    anyhow::bail!("ps: not implemented yet")
}
