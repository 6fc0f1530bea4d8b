//! `berth state`: the OCI state JSON, with the status as it truly is now.

use crate::cli::oci::State;
use crate::state::Container;

use super::Globals;

pub fn run(g: &Globals, args: &State) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, &args.id)?;
    let status = c.status();
    println!("{}", serde_json::to_string_pretty(&c.oci_state(status))?);
    Ok(0)
}
