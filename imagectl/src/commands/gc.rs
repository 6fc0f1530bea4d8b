//! `imagectl gc` (alias `prune`): removes blobs and unpacked layers that no
//! name reaches, and temp files of dead writers.

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _a: Args) -> anyhow::Result<i32> {
    let r = ctx.store()?.gc()?;
    println!(
        "removed {} blobs ({} bytes) and {} unpacked layers",
        r.blobs, r.bytes, r.layers
    );
    Ok(0)
}
