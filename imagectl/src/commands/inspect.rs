//! `imagectl inspect IMAGE...`: a JSON array, one object per image, in the
//! shape podman prints (Id, Digest, RepoTags, Created, Config, RootFS,
//! History, Size, ...), plus the manifest itself.

use super::Ctx;
use crate::image;
use crate::platform::Platform;
use crate::reference;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Resolve an index to this platform (default: this machine's).
    #[arg(long)]
    pub platform: Option<Platform>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let platform = a.platform.unwrap_or_else(Platform::host);
    let refs = store.refs()?;
    let mut out = Vec::new();
    for what in &a.images {
        let img = image::open(&store, what, &platform)?;
        let tags: Vec<String> = refs
            .iter()
            .filter(|(_, d)| d.digest() == img.target.digest())
            .map(|(n, _)| {
                reference::parse(n)
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| n.clone())
            })
            .collect();
        let config: serde_json::Value = serde_json::from_slice(&img.config_raw)?;
        out.push(serde_json::json!({
            "Id": img.id().digest(),
            "Digest": img.target.digest().to_string(),
            "ManifestDigest": img.manifest_digest.to_string(),
            "RepoTags": tags,
            "Created": config.get("created"),
            "Author": config.get("author"),
            "Architecture": config.get("architecture"),
            "Os": config.get("os"),
            "Variant": config.get("variant"),
            "Config": config.get("config").cloned().unwrap_or(serde_json::json!({})),
            "RootFS": config.get("rootfs"),
            "History": config.get("history"),
            "Size": img.size(),
            "MediaType": img.manifest.media_type().as_ref().map(|m| m.to_string()),
            "Manifest": serde_json::to_value(&img.manifest)?,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}
