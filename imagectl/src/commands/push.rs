//! `imagectl push [--chunk-size N] [--jobs N] [--platform P] [-q]
//! [registry flags] IMAGE [DESTINATION]`: DESTINATION defaults to IMAGE's
//! own name.

use super::pull::RegistryFlags;
use super::Ctx;
use crate::image;
use crate::platform::Platform;
use crate::reference;
use crate::registry::progress::Progress;
use crate::registry::push::{push, PushOptions};
use crate::registry::{self};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A stored image (name or id).
    pub image: String,
    /// Where to push (default: the image's name).
    pub destination: Option<String>,
    /// Upload blobs in pieces of this many bytes (K, M, G suffixes) with
    /// PATCH requests; default: one PUT per blob.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub chunk_size: Option<u64>,
    /// Blobs uploaded at once.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub jobs: usize,
    /// Which manifest of a stored index to push when not all of its
    /// platforms are in the store (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// `4096`, `512K`, `5M`, `1G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("{s:?}: unknown size suffix (K, M or G)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: not a size"))?;
    match n.checked_mul(mul) {
        Some(0) | None => Err(format!("{s:?}: must be between 1 byte and 2^64")),
        Some(v) => Ok(v),
    }
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let platform = a.platform.clone().unwrap_or_else(Platform::host);
    let img = image::open(&store, &a.image, &platform)?;
    let source = img.name.as_deref().and_then(|n| reference::parse(n).ok());
    let dest = match &a.destination {
        Some(d) => reference::parse(d)?,
        None => source.clone().ok_or_else(|| {
            anyhow::anyhow!("{}: an image opened by id needs a DESTINATION", a.image)
        })?,
    };
    let opts = PushOptions {
        chunk_size: a.chunk_size,
        jobs: a.jobs,
    };
    let progress = Progress::new(a.quiet);
    let _in_use = store.use_lock()?;
    let rt = registry::runtime()?;
    let report = rt.block_on(async {
        let s = registry::connect(
            &dest.registry,
            &dest.repository,
            &a.registry.transport(),
            &a.registry.auth_files(),
        )
        .await?;
        push(&store, &s, &img, source.as_ref(), &dest, &opts, &progress).await
    })?;
    progress.line(&format!(
        "Pushed {}@{}: {} blobs uploaded, {} mounted, {} already present",
        report.dest, report.digest, report.uploaded, report.mounted, report.present
    ));
    println!("{}", report.digest);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("5m"), Ok(5 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("M").is_err());
    }
}
