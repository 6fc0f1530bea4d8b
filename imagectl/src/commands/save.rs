//! `imagectl save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`:
//! images to an archive tar (see [`crate::archive`]), on stdout unless
//! `-o`; with `-o` the archive is written to `FILE.tmp` and renamed, so a
//! failure leaves no half file.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Ctx;
use crate::archive::{self, Format};
use crate::platform::Platform;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The archive format.
    #[arg(long, value_enum, default_value = "docker-archive")]
    pub format: Format,
    /// Resolve an index to this platform (default: this machine's).
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Images (names or id prefixes); names of the same image are merged.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let platform = a.platform.unwrap_or_else(Platform::host);
    let items = archive::select(&store, &a.images, &platform)?;
    match &a.output {
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!(
                    "refusing to write an archive to a terminal: use -o FILE or redirect stdout"
                );
            }
            let out = BufWriter::with_capacity(1 << 20, stdout.lock());
            let mut out = archive::save(&store, &items, a.format, out)?;
            out.flush().context("stdout")?;
        }
        Some(path) => save_to_file(&store, &items, a.format, path)?,
    }
    Ok(0)
}

fn save_to_file(
    store: &crate::store::Store,
    items: &[archive::SaveItem],
    format: Format,
    path: &Path,
) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let r = (|| -> anyhow::Result<()> {
        let f = std::fs::File::create(&tmp).with_context(|| tmp.display().to_string())?;
        let out = archive::save(store, items, format, BufWriter::with_capacity(1 << 20, f))?;
        let f = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| tmp.display().to_string())?;
        f.sync_all().with_context(|| tmp.display().to_string())?;
        std::fs::rename(&tmp, path).with_context(|| path.display().to_string())
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}
