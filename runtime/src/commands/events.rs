//! `berth events`.

use crate::cli::extras::Events;

use super::Globals;

pub fn run(g: &Globals, args: &Events) -> anyhow::Result<i32> {
    let _ = (g, args);
    anyhow::bail!("events: not implemented yet")
}
