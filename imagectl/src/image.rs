//! Opening a stored image by name or id: the manifest (through an index
//! for the chosen platform, when the name points at one) and its config.
//! Every verb that reads an image (inspect, history, push, unpack, save)
//! starts here.

use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest};

use crate::platform::Platform;
use crate::reference;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {0:?} not found in the store")]
    NotFound(String),
    #[error("image id prefix {0:?} matches more than one image")]
    Ambiguous(String),
    #[error("{name}: no manifest for platform {platform} in its index")]
    NoPlatform { name: String, platform: String },
    #[error("{what} {digest}: {detail}")]
    Malformed {
        what: &'static str,
        digest: String,
        detail: String,
    },
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored image, resolved to one platform.
#[derive(Debug, Clone)]
pub struct Image {
    /// The full name it was found under (`None` when opened by id).
    pub name: Option<String>,
    /// What the name points at (an index or a manifest).
    pub target: Descriptor,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    pub config_raw: Vec<u8>,
}

impl Image {
    /// The image id: the config's digest, as docker and podman show it.
    pub fn id(&self) -> &Digest {
        self.manifest.config().digest()
    }

    /// The raw config's `config` object, with docker's extensions
    /// (`Shell`, `Healthcheck`, `OnBuild`) that oci-spec's type drops.
    pub fn raw_exec_config(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_slice::<serde_json::Value>(&self.config_raw)
            .ok()
            .and_then(|v| v.get("config")?.as_object().cloned())
            .unwrap_or_default()
    }

    /// Manifest + config + layers, in bytes (compressed, as stored).
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }
}

/// Finds `what`: a reference (normalised as docker does) or an id prefix
/// (at least 4 hex digits of the config digest, `sha256:` optional).
pub fn open(store: &Store, what: &str, platform: &Platform) -> Result<Image, ImageError> {
    let refs = store.refs()?;
    if let Ok(r) = reference::parse(what) {
        let full = r.to_string();
        if let Some((_, d)) = refs.iter().find(|(n, _)| *n == full) {
            return resolve(store, Some(full), d.clone(), platform);
        }
    }
    let hex = what.strip_prefix("sha256:").unwrap_or(what);
    if hex.len() >= 4 && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        let mut found: Option<Image> = None;
        for (n, d) in &refs {
            let Ok(img) = resolve(store, Some(n.clone()), d.clone(), platform) else {
                continue;
            };
            if img.id().digest().starts_with(hex) {
                match &found {
                    Some(f) if f.id() != img.id() => {
                        return Err(ImageError::Ambiguous(what.into()))
                    }
                    Some(_) => {}
                    None => found = Some(Image { name: None, ..img }),
                }
            }
        }
        if let Some(f) = found {
            return Ok(f);
        }
    }
    Err(ImageError::NotFound(what.into()))
}

/// From a named descriptor to the platform's manifest and its config.
pub fn resolve(
    store: &Store,
    name: Option<String>,
    target: Descriptor,
    platform: &Platform,
) -> Result<Image, ImageError> {
    let mut desc = target.clone();
    let mut bytes = store.read_blob(desc.digest())?;
    if is_index(&desc, &bytes) {
        let idx: ImageIndex = parse("index", desc.digest(), &bytes)?;
        desc = platform
            .choose(idx.manifests())
            .ok_or_else(|| ImageError::NoPlatform {
                name: name.clone().unwrap_or_else(|| desc.digest().to_string()),
                platform: platform.to_string(),
            })?
            .clone();
        bytes = store.read_blob(desc.digest())?;
    }
    let manifest: ImageManifest = parse("manifest", desc.digest(), &bytes)?;
    let config_raw = store.read_blob(manifest.config().digest())?;
    let config: ImageConfiguration = parse("config", manifest.config().digest(), &config_raw)?;
    Ok(Image {
        name,
        target,
        manifest_digest: desc.digest().clone(),
        manifest,
        config,
        config_raw,
    })
}

/// An OCI index or a Docker manifest list, by media type or by shape.
pub fn is_index(desc: &Descriptor, bytes: &[u8]) -> bool {
    let mt = desc.media_type().to_string();
    if mt.contains("index") || mt.contains("manifest.list") {
        return true;
    }
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map(|v| v.get("manifests").is_some())
        .unwrap_or(false)
}

fn parse<T: serde::de::DeserializeOwned>(
    what: &'static str,
    d: &Digest,
    bytes: &[u8],
) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::Malformed {
        what,
        digest: d.to_string(),
        detail: e.to_string(),
    })
}
