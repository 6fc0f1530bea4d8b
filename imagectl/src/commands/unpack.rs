//! `imagectl unpack IMAGE DIR`: write an OCI runtime bundle (config.json
//! plus rootfs, see [`crate::bundle`]); `--copy` for a plain-directory
//! rootfs; `imagectl unpack --remove DIR` unmounts and deletes one.

use std::path::PathBuf;

use anyhow::Context;

use super::Ctx;
use crate::bundle::{self, RootfsMode};
use crate::image;
use crate::platform::Platform;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image (name or id prefix).
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
    /// The bundle directory (missing, or empty).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Apply the layers onto a plain directory instead of mounting an
    /// overlay over the layer cache (slower; for where overlay is not
    /// possible).
    #[arg(long, conflicts_with = "remove")]
    pub copy: bool,
    /// Unmount and delete the bundle DIR (`imagectl unpack --remove DIR`).
    #[arg(long)]
    pub remove: bool,
    /// Resolve an index to this platform (default: this machine's).
    #[arg(long)]
    pub platform: Option<Platform>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    if a.remove {
        let dir = match (a.image, a.dir) {
            (Some(d), None) => PathBuf::from(d),
            (None, Some(d)) => d,
            _ => anyhow::bail!("usage: imagectl unpack --remove DIR"),
        };
        bundle::remove(&dir)?;
        return Ok(0);
    }
    let (Some(what), Some(dir)) = (a.image, a.dir) else {
        anyhow::bail!("usage: imagectl unpack [--copy] IMAGE DIR");
    };
    let store = ctx.store()?;
    let platform = a.platform.unwrap_or_else(Platform::host);
    let img = image::open(&store, &what, &platform)?;
    let mode = if a.copy {
        RootfsMode::Copy
    } else {
        RootfsMode::Overlay
    };
    let b = bundle::unpack(&store, &img, &dir, mode)
        .with_context(|| format!("unpack {what} into {}", dir.display()))?;
    eprintln!(
        "{}: {} layers ({} extracted), rootfs {}",
        b.dir.display(),
        img.manifest.layers().len(),
        b.extracted,
        match b.mode {
            RootfsMode::Overlay => "overlay",
            RootfsMode::Copy => "copy",
        }
    );
    Ok(0)
}
