//! `berth update`.

use crate::cli::extras::Update;

use super::Globals;

pub fn run(g: &Globals, args: &Update) -> anyhow::Result<i32> {
    let _ = (g, args);
    anyhow::bail!("update: not implemented yet")
}
