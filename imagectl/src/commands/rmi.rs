//! `imagectl rmi IMAGE...`: removes names, then collects what no name
//! reaches any more (as docker deletes an image's layers with its last
//! tag). An id with several names needs --force.

use super::Ctx;
use crate::image;
use crate::platform::Platform;
use crate::reference;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove every name of an image given by id.
    #[arg(short, long)]
    pub force: bool,
    /// Keep the blobs (collect them later with `gc`).
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    for what in &a.images {
        let full = reference::parse(what).ok().map(|r| r.to_string());
        if let Some(full) = full.filter(|f| store.resolve(f).ok().flatten().is_some()) {
            store.remove_ref(&full)?;
            println!("Untagged: {full}");
            continue;
        }
        let img = image::open(&store, what, &Platform::host())?;
        let names: Vec<String> = store
            .refs()?
            .into_iter()
            .filter(|(n, d)| {
                d.digest() == img.target.digest()
                    || image::resolve(&store, Some(n.clone()), d.clone(), &Platform::host())
                        .map(|i| i.id() == img.id())
                        .unwrap_or(false)
            })
            .map(|(n, _)| n)
            .collect();
        if names.len() > 1 && !a.force {
            anyhow::bail!(
                "image {} is named {} times ({}): remove by name or use --force",
                what,
                names.len(),
                names.join(", ")
            );
        }
        for n in names {
            store.remove_ref(&n)?;
            println!("Untagged: {n}");
        }
    }
    if !a.no_prune {
        let r = store.gc()?;
        if r.blobs > 0 {
            println!("Deleted: {} blobs ({} bytes)", r.blobs, r.bytes);
        }
    }
    Ok(0)
}
