//! `imagectl diff BUNDLE`: the bundle's changes since unpack, one
//! `A /path`, `C /path` or `D /path` line each, sorted by path, as
//! `docker diff` prints them (see [`crate::layer::diff`] for what counts).

use std::io::Write;
use std::path::PathBuf;

use super::Ctx;
use crate::author;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle directory (made by `imagectl unpack`).
    pub bundle: PathBuf,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    // A copy bundle's lowers come from the layer cache: keep gc off them.
    let _lock = store.use_lock()?;
    let src = author::open_bundle(&store, &a.bundle)?;
    let mut out = std::io::stdout().lock();
    for c in src.changes()? {
        writeln!(out, "{c}")?;
    }
    Ok(0)
}
