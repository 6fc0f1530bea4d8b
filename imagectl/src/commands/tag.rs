//! `imagectl tag SOURCE TARGET`: another name for a stored image.

use super::Ctx;
use crate::image;
use crate::platform::Platform;
use crate::reference;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub source: String,
    pub target: String,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let img = image::open(&store, &a.source, &Platform::host())?;
    let target = reference::parse(&a.target)?;
    if target.digest.is_some() {
        anyhow::bail!("{}: a tag target cannot carry a digest", a.target);
    }
    store.set_ref(&target.to_string(), &img.target)?;
    Ok(0)
}
