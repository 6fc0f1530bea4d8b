//! `imagectl import [-c CHANGE]... [-m MSG] FILE|- NAME`: a one-layer
//! image from a rootfs tar (plain, gzip or zstd). The tar is stored as
//! the layer (recompressed with gzip) after every entry name, and every
//! hard link's target, is checked as unpack would: a tar with an
//! absolute or `..` path is refused before anything is named, and its
//! blob is not kept.

use std::fs::File;
use std::io::{self, Read, Write};

use anyhow::Context;

use super::Ctx;
use crate::author::{self, AuthorError, ImageDraft};
use crate::image;
use crate::layer::{compression, path};
use crate::platform::Platform;
use crate::reference;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A Dockerfile instruction to apply to the config (CMD, ENTRYPOINT,
    /// ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL).
    #[arg(short, long = "change", value_name = "CHANGE")]
    pub changes: Vec<String>,
    /// The history entry's comment.
    #[arg(short, long)]
    pub message: Option<String>,
    /// The rootfs tar, or `-` for stdin.
    pub file: String,
    /// The new image's name.
    pub name: String,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let name = reference::parse(&a.name)?;
    if name.digest.is_some() {
        anyhow::bail!("{}: an image name cannot carry a digest", a.name);
    }
    let name = name.to_string();
    let mut draft = ImageDraft::from_base(None);
    for c in &a.changes {
        author::apply_change(&mut draft.config, c)?;
    }
    let input: Box<dyn Read> = if a.file == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&a.file).with_context(|| format!("import {}", a.file))?)
    };
    let tar = compression::open("", input).map_err(|e| match e {
        compression::OpenError::Unsupported(w) => anyhow::anyhow!("unsupported compression {w}"),
        compression::OpenError::Io(e) => anyhow::Error::from(e),
    });
    let tar = tar.with_context(|| format!("import {}", a.file))?;
    let store = ctx.store()?;
    let _lock = store.use_lock()?;
    let mut refused: Option<String> = None;
    let layer = author::write_layer_with(&store, |w| {
        checked_copy(tar, w).map_err(|e| {
            if let Checked::Refused(why) = &e {
                refused = Some(why.clone());
            }
            e.into_io()
        })
    });
    if let Some(why) = refused {
        anyhow::bail!("import {}: {why}", a.file);
    }
    let layer = layer.map_err(|e| match e {
        AuthorError::Layer(e) => anyhow::anyhow!("import {}: not a readable tar: {e}", a.file),
        e => e.into(),
    })?;
    let created_by = if a.file == "-" {
        "imagectl import -".to_string()
    } else {
        format!("imagectl import {}", a.file)
    };
    draft.add_layer(
        &layer,
        author::history(&created_by, a.message.as_deref(), None, false),
    );
    let desc = draft.write(&store)?;
    store.set_ref(&name, &desc)?;
    let img = image::resolve(&store, Some(name), desc, &Platform::host())?;
    println!("{}", img.id());
    Ok(0)
}

enum Checked {
    Refused(String),
    Io(io::Error),
}

impl Checked {
    fn into_io(self) -> io::Error {
        match self {
            Checked::Refused(why) => io::Error::other(why),
            Checked::Io(e) => e,
        }
    }
}

/// Copies the tar stream into `w` while reading it as a tar, refusing
/// entries that would escape the root.
fn checked_copy(r: impl Read, w: &mut dyn Write) -> Result<(), Checked> {
    let mut tee = Tee { r, w };
    {
        let mut ar = tar::Archive::new(&mut tee);
        for e in ar.entries().map_err(Checked::Io)? {
            let e = e.map_err(Checked::Io)?;
            let name = e.path_bytes().into_owned();
            if let Err(u) = path::components(&name) {
                return Err(Checked::Refused(format!(
                    "entry {:?}: refused: {}",
                    String::from_utf8_lossy(&name),
                    u.describe()
                )));
            }
            if e.header().entry_type().is_hard_link() {
                let target = e
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if let Err(u) = path::components(&target) {
                    return Err(Checked::Refused(format!(
                        "entry {:?}: hard link to {:?}: refused: {}",
                        String::from_utf8_lossy(&name),
                        String::from_utf8_lossy(&target),
                        u.describe()
                    )));
                }
            }
        }
    }
    // The end-of-archive blocks and any padding after them.
    io::copy(&mut tee, &mut io::sink()).map_err(Checked::Io)?;
    Ok(())
}

/// Writes what it reads.
struct Tee<'a, R> {
    r: R,
    w: &'a mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.w.write_all(&buf[..n])?;
        Ok(n)
    }
}
