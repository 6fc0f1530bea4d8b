//! `imagectl commit [-m MSG] [-a AUTHOR] [-c CHANGE]... BUNDLE NAME`: a
//! new image from a bundle's changes since unpack (see
//! [`crate::layer::diff`]) on top of the image it was unpacked from.
//! A bundle whose container still runs is committed as it is on disk at
//! that moment (no freeze: files being written may be caught half-way).

use std::path::PathBuf;

use anyhow::Context;

use super::Ctx;
use crate::author::{self, ImageDraft};
use crate::image;
use crate::platform::Platform;
use crate::reference;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The history entry's comment.
    #[arg(short, long)]
    pub message: Option<String>,
    /// The image's (and the history entry's) author.
    #[arg(short, long)]
    pub author: Option<String>,
    /// A Dockerfile instruction to apply to the config (CMD, ENTRYPOINT,
    /// ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL).
    #[arg(short, long = "change", value_name = "CHANGE")]
    pub changes: Vec<String>,
    /// The bundle directory (made by `imagectl unpack`).
    pub bundle: PathBuf,
    /// The new image's name.
    pub name: String,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let name = reference::parse(&a.name)?;
    if name.digest.is_some() {
        anyhow::bail!("{}: an image name cannot carry a digest", a.name);
    }
    let name = name.to_string();
    let store = ctx.store()?;
    // Held until the name is set: the new blobs are unnamed till then.
    let _lock = store.use_lock()?;
    let src = author::open_bundle(&store, &a.bundle)?;
    let mut draft = ImageDraft::from_base(Some(&src.base));
    for c in &a.changes {
        author::apply_change(&mut draft.config, c)?;
    }
    if let Some(au) = &a.author {
        draft.config.set_author(Some(au.clone()));
    }
    let mut created_by = "imagectl commit".to_string();
    for c in &a.changes {
        created_by.push_str(&format!(" --change {c:?}"));
    }
    let h = author::history(
        &created_by,
        a.message.as_deref(),
        a.author.as_deref(),
        false,
    );
    let changes = src.changes()?;
    if changes.is_empty() {
        // Nothing changed on disk: no layer, only the history entry.
        draft.add_history(h);
    } else {
        let (layer, _stats) = src
            .write_layer(&store)
            .with_context(|| format!("commit {}", a.bundle.display()))?;
        draft.add_layer(&layer, h);
    }
    let desc = draft.write(&store)?;
    store.set_ref(&name, &desc)?;
    let img = image::resolve(&store, Some(name), desc, &Platform::host())?;
    println!("{}", img.id());
    Ok(0)
}
