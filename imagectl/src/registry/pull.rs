//! `pull`: resolve a tag to a manifest (through an index or Docker manifest
//! list, to one platform), stream every missing blob network → store in
//! one pass (the store hashes as it writes and publishes only a verified
//! blob), several at a time, then the manifest(s), and only then the name.
//! An index is kept as the registry serves it, so the stored digest is the
//! one `skopeo inspect` shows; only the chosen platform's blobs are fetched.

use std::collections::HashSet;
use std::io::Write;
use std::str::FromStr;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};

use super::progress::{human_bytes, Progress};
use super::{oci_ref, oci_ref_digest, RegistryError, Session, MANIFEST_TYPES};
use crate::image::is_index;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::{sha256_hex, BlobWriter, Store};

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub platform: Platform,
    /// Blobs downloaded at once.
    pub jobs: usize,
}

/// What a pull did, for the command to print (and tests to check).
#[derive(Debug, Clone)]
pub struct PullReport {
    /// The store name (full reference).
    pub name: String,
    /// What the name points at: the index/list or the manifest.
    pub target: Descriptor,
    pub manifest_digest: String,
    /// The image id.
    pub config_digest: String,
    pub fetched: usize,
    pub fetched_bytes: u64,
    pub present: usize,
}

/// Pulls `r` from `s` into `store`.
pub async fn pull(
    store: &Store,
    s: &Session,
    r: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<PullReport, RegistryError> {
    // Blobs written below are unnamed until set_ref: keep gc away.
    let _in_use = store.use_lock()?;
    let oref = oci_ref(r);
    s.prepare(&oref, RegistryOperation::Pull, &[]).await?;

    let (top_bytes, top_desc) = fetch_manifest(s, r, r.target(), None).await?;
    let mut manifests = vec![(top_bytes.clone(), top_desc.clone())];
    let (man_bytes, man_desc) = if is_index(&top_desc, &top_bytes) {
        let idx: ImageIndex = parse_json(&r.to_string(), "index", &top_bytes)?;
        let chosen = opts
            .platform
            .choose(idx.manifests())
            .ok_or_else(|| no_platform(r, &idx, &opts.platform))?
            .clone();
        let (b, d) = fetch_manifest(s, r, chosen.digest().as_ref(), Some(&chosen)).await?;
        manifests.insert(0, (b.clone(), d.clone()));
        (b, d)
    } else {
        (top_bytes, top_desc.clone())
    };
    let manifest: ImageManifest = parse_json(&r.to_string(), "manifest", &man_bytes)?;

    let mut seen = HashSet::new();
    let blobs: Vec<Descriptor> = std::iter::once(manifest.config().clone())
        .chain(manifest.layers().iter().cloned())
        .filter(|d| seen.insert(d.digest().to_string()))
        .collect();
    let (present, missing): (Vec<_>, Vec<_>) =
        blobs.into_iter().partition(|d| store.has_blob(d.digest()));
    for d in &present {
        progress
            .blob("Copying", d.digest().as_ref(), d.size())
            .finish("already present");
    }
    let fetched = missing.len();
    let fetched_bytes: u64 = missing.iter().map(|d| d.size()).sum();
    // Every download completes and verifies before any blob is published,
    // so a bad or truncated blob leaves the store as it was.
    let writers: Vec<BlobWriter> =
        futures_util::stream::iter(missing.into_iter().map(Ok::<_, RegistryError>))
            .map_ok(|d| fetch_blob(store, s, r, d, progress))
            .try_buffer_unordered(opts.jobs.max(1))
            .try_collect()
            .await?;
    tokio::task::spawn_blocking(move || {
        writers.into_iter().try_for_each(|w| w.commit().map(|_| ()))
    })
    .await
    .map_err(|e| RegistryError::Transfer {
        what: r.to_string(),
        detail: e.to_string(),
    })??;

    // Manifest before index, so whatever is visible points at present blobs.
    for (bytes, d) in &manifests {
        if !store.has_blob(d.digest()) {
            let mut w = store.blob_writer(d.digest(), Some(d.size()))?;
            w.write_all(bytes).map_err(|source| RegistryError::Io {
                path: store.tmp_dir(),
                source,
            })?;
            w.commit()?;
        }
    }
    let name = r.to_string();
    store.set_ref(&name, &top_desc)?;
    Ok(PullReport {
        name,
        target: top_desc,
        manifest_digest: man_desc.digest().to_string(),
        config_digest: manifest.config().digest().to_string(),
        fetched,
        fetched_bytes,
        present: present.len(),
    })
}

fn no_platform(r: &Reference, idx: &ImageIndex, want: &Platform) -> RegistryError {
    let available: Vec<String> = idx
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| {
            let mut s = format!("{}/{}", p.os(), p.architecture());
            if let Some(v) = p.variant() {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .collect();
    RegistryError::NoPlatform {
        name: r.to_string(),
        platform: want.to_string(),
        available: if available.is_empty() {
            "no platforms".into()
        } else {
            available.join(", ")
        },
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    name: &str,
    what: &str,
    bytes: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Protocol {
        what: format!("{name}: {what}"),
        detail: format!("malformed: {e}"),
    })
}

/// The media type a manifest declares, or what its shape says.
pub fn manifest_media_type(bytes: &[u8]) -> MediaType {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    match v.get("mediaType").and_then(|m| m.as_str()) {
        Some(m) => MediaType::from(m),
        None if v.get("manifests").is_some() => MediaType::ImageIndex,
        None => MediaType::ImageManifest,
    }
}

/// GETs a manifest by tag or digest and checks it against what pointed at
/// it (the reference's digest, or the index entry).
async fn fetch_manifest(
    s: &Session,
    r: &Reference,
    target: &str,
    expected: Option<&Descriptor>,
) -> Result<(Vec<u8>, Descriptor), RegistryError> {
    let oref = if target.contains(':') {
        oci_ref_digest(r, target)
    } else {
        oci_ref(r)
    };
    let what = format!("{}/{}:{target}", r.registry, r.repository);
    let what = if target.contains(':') {
        what.replacen(&format!(":{target}"), &format!("@{target}"), 1)
    } else {
        what
    };
    let (bytes, _) = s
        .oci
        .pull_manifest_raw(
            &oref,
            &oci_client::secrets::RegistryAuth::Anonymous,
            MANIFEST_TYPES,
        )
        .await
        .map_err(|e| s.map_oci(what.clone(), e))?;
    let digest = format!("sha256:{}", sha256_hex(&bytes));
    let pinned = expected
        .map(|d| d.digest().to_string())
        .or_else(|| target.contains(':').then(|| target.to_string()));
    if let Some(want) = pinned {
        if want != digest {
            return Err(RegistryError::Transfer {
                what,
                detail: format!("manifest has digest {digest}, expected {want}"),
            });
        }
    }
    if let Some(d) = expected {
        if d.size() != bytes.len() as u64 {
            return Err(RegistryError::Transfer {
                what,
                detail: format!(
                    "manifest is {} bytes, the index says {}",
                    bytes.len(),
                    d.size()
                ),
            });
        }
    }
    let mt = match expected {
        Some(d) => d.media_type().clone(),
        None => manifest_media_type(&bytes),
    };
    let d = Digest::from_str(&digest).map_err(|e| RegistryError::Protocol {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    Ok((bytes.to_vec(), Descriptor::new(mt, bytes.len() as u64, d)))
}

/// Streams one blob into an uncommitted (invisible) store writer.
async fn fetch_blob(
    store: &Store,
    s: &Session,
    r: &Reference,
    d: Descriptor,
    progress: &Progress,
) -> Result<BlobWriter, RegistryError> {
    let digest = d.digest().to_string();
    let size = d.size();
    let bar = progress.blob("Copying", &digest, size);
    match fetch_blob_into(store, s, r, &d, &bar).await {
        Ok(w) => {
            bar.finish("done");
            Ok(w)
        }
        Err(e) => {
            bar.abandon();
            Err(e)
        }
    }
}

async fn fetch_blob_into(
    store: &Store,
    s: &Session,
    r: &Reference,
    d: &Descriptor,
    bar: &super::progress::BlobProgress,
) -> Result<BlobWriter, RegistryError> {
    let digest = d.digest().to_string();
    let size = d.size();
    let what = format!("{}/{}@{digest}", r.registry, r.repository);
    let oref = oci_ref_digest(r, &digest);
    let mut w = store.blob_writer(d.digest(), Some(size))?;
    // oci-client's stream checks the digest as the last bytes arrive (and
    // the store's writer checks again at commit): a lying registry is
    // caught before anything is published.
    let resp = s
        .oci
        .pull_blob_stream(&oref, digest.as_str())
        .await
        .map_err(|e| s.map_oci(what.clone(), e))?;
    let mut stream = resp.stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| blob_error(&what, &w, size, &e))?;
        if w.written() + chunk.len() as u64 > size {
            return Err(RegistryError::Transfer {
                what,
                detail: format!("the registry sent more than the {size} bytes the manifest gives"),
            });
        }
        w.write_all(&chunk).map_err(|source| RegistryError::Io {
            path: store.tmp_dir(),
            source,
        })?;
        bar.inc(chunk.len() as u64);
    }
    if w.written() < size {
        return Err(RegistryError::Transfer {
            what,
            detail: format!("truncated download: {} of {size} bytes", w.written()),
        });
    }
    Ok(w)
}

fn blob_error(what: &str, w: &BlobWriter, size: u64, e: &std::io::Error) -> RegistryError {
    if let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<oci_client::errors::DigestError>())
    {
        return RegistryError::Transfer {
            what: what.into(),
            detail: format!(
                "digest mismatch: the registry sent content with digest {actual}, not {expected}"
            ),
        };
    }
    RegistryError::Transfer {
        what: what.into(),
        detail: format!(
            "download failed after {} of {}: {}",
            human_bytes(w.written()),
            human_bytes(size),
            super::client::error_chain(e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_from_field_or_shape() {
        assert_eq!(
            manifest_media_type(
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#
            )
            .to_string(),
            "application/vnd.docker.distribution.manifest.list.v2+json"
        );
        assert_eq!(
            manifest_media_type(br#"{"manifests":[]}"#),
            MediaType::ImageIndex
        );
        assert_eq!(
            manifest_media_type(br#"{"config":{},"layers":[]}"#),
            MediaType::ImageManifest
        );
    }
}
