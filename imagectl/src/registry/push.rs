//! `push`: every blob of the image that the destination lacks goes up
//! (mounted from the source repository when both are on the same registry,
//! else uploaded monolithically or in `chunk_size` pieces, streamed from the
//! store), then the manifest, then (when the store holds every platform of
//! it) the index, so the registry never sees a manifest with absent blobs.

use std::collections::HashSet;

use bytes::Bytes;
use futures_util::TryStreamExt;
use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use reqwest::header::HeaderValue;
use tokio::io::AsyncReadExt;

use super::client::scope;
use super::progress::Progress;
use super::{oci_ref, oci_ref_digest, RegistryError, Session};
use crate::image::{is_index, Image};
use crate::reference::Reference;
use crate::store::Store;

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// `None`: one PUT per blob; `Some(n)`: PATCH pieces of n bytes.
    pub chunk_size: Option<u64>,
    pub jobs: usize,
}

#[derive(Debug, Clone, Default)]
pub struct PushReport {
    pub dest: String,
    /// The digest the destination tag points at.
    pub digest: String,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
}

enum Outcome {
    Uploaded,
    Mounted,
    Present,
}

/// Pushes `img` (found in `store` under `source`, when it has a name) to
/// `dest`.
pub async fn push(
    store: &Store,
    s: &Session,
    img: &Image,
    source: Option<&Reference>,
    dest: &Reference,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<PushReport, RegistryError> {
    let dref = oci_ref(dest);
    let mount_from =
        source.filter(|src| src.registry == dest.registry && src.repository != dest.repository);
    let extra: Vec<String> = mount_from
        .map(|src| vec![scope(&src.repository, RegistryOperation::Pull)])
        .unwrap_or_default();
    s.prepare(&dref, RegistryOperation::Push, &extra).await?;
    let mut pull_extra = extra.clone();
    pull_extra.push(scope(&dest.repository, RegistryOperation::Push));
    s.prepare(&dref, RegistryOperation::Pull, &pull_extra)
        .await?;

    // (manifest bytes, descriptor) to push, children first.
    let mut manifests: Vec<(Vec<u8>, Descriptor)> = Vec::new();
    let top = store.read_blob(img.target.digest())?;
    let whole_index = is_index(&img.target, &top) && index_complete(store, &top)?;
    if whole_index {
        let idx: ImageIndex =
            serde_json::from_slice(&top).map_err(|e| RegistryError::Protocol {
                what: format!("{} index", img.target.digest()),
                detail: e.to_string(),
            })?;
        for d in idx.manifests() {
            manifests.push((store.read_blob(d.digest())?, d.clone()));
        }
        manifests.push((top, img.target.clone()));
    } else {
        let d = if is_index(&img.target, &top) {
            // Only one platform is in the store: push that manifest alone.
            let bytes = store.read_blob(&img.manifest_digest)?;
            let mt = super::pull::manifest_media_type(&bytes);
            Descriptor::new(mt, bytes.len() as u64, img.manifest_digest.clone())
        } else {
            img.target.clone()
        };
        manifests.push((store.read_blob(d.digest())?, d));
    }

    let mut seen = HashSet::new();
    let mut blobs: Vec<Descriptor> = Vec::new();
    for (bytes, d) in &manifests {
        if is_index(d, bytes) {
            continue;
        }
        let m: ImageManifest =
            serde_json::from_slice(bytes).map_err(|e| RegistryError::Protocol {
                what: format!("manifest {}", d.digest()),
                detail: e.to_string(),
            })?;
        for b in std::iter::once(m.config().clone()).chain(m.layers().iter().cloned()) {
            if seen.insert(b.digest().to_string()) {
                blobs.push(b);
            }
        }
    }

    let outcomes: Vec<Outcome> =
        futures_util::stream::iter(blobs.into_iter().map(Ok::<_, RegistryError>))
            .map_ok(|b| push_blob(store, s, dest, mount_from, b, opts, progress))
            .try_buffer_unordered(opts.jobs.max(1))
            .try_collect()
            .await?;

    let n = manifests.len();
    let mut digest = String::new();
    for (i, (bytes, d)) in manifests.into_iter().enumerate() {
        let last = i + 1 == n;
        let target = if last {
            dref.clone()
        } else {
            oci_ref_digest(dest, d.digest().as_ref())
        };
        let ct = HeaderValue::from_str(d.media_type().as_ref()).map_err(|e| {
            RegistryError::Protocol {
                what: format!("manifest {}", d.digest()),
                detail: format!("media type: {e}"),
            }
        })?;
        s.oci
            .push_manifest_raw(&target, bytes, ct)
            .await
            .map_err(|e| s.map_oci(format!("{dest}: manifest {}", d.digest()), e))?;
        digest = d.digest().to_string();
    }
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    Ok(PushReport {
        dest: dest.to_string(),
        digest,
        uploaded: count(|o| matches!(o, Outcome::Uploaded)),
        mounted: count(|o| matches!(o, Outcome::Mounted)),
        present: count(|o| matches!(o, Outcome::Present)),
    })
}

/// Whether every manifest of a stored index, and their blobs, are here.
fn index_complete(store: &Store, bytes: &[u8]) -> Result<bool, RegistryError> {
    let Ok(idx) = serde_json::from_slice::<ImageIndex>(bytes) else {
        return Ok(false);
    };
    for d in idx.manifests() {
        if !store.has_blob(d.digest()) {
            return Ok(false);
        }
        let Ok(m) = serde_json::from_slice::<ImageManifest>(&store.read_blob(d.digest())?) else {
            return Ok(false);
        };
        if !std::iter::once(m.config())
            .chain(m.layers().iter())
            .all(|b| store.has_blob(b.digest()))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn push_blob(
    store: &Store,
    s: &Session,
    dest: &Reference,
    mount_from: Option<&Reference>,
    b: Descriptor,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<Outcome, RegistryError> {
    let digest = b.digest().to_string();
    let what = format!("{}/{}@{digest}", dest.registry, dest.repository);
    let dref = oci_ref(dest);
    let bar = progress.blob("Pushing", &digest, b.size());
    let exists = s
        .oci
        .blob_exists(&dref, &digest)
        .await
        .map_err(|e| s.map_oci(what.clone(), e))?;
    if exists {
        bar.finish("already present");
        return Ok(Outcome::Present);
    }
    if let Some(src) = mount_from {
        match s.oci.mount_blob(&dref, &oci_ref(src), &digest).await {
            Ok(()) => {
                bar.finish("mounted");
                return Ok(Outcome::Mounted);
            }
            // 202: the registry could not mount and opened an upload
            // instead; upload in a session of our own.
            Err(OciDistributionError::SpecViolationError(_)) => {}
            Err(e) => return Err(s.map_oci(what, e)),
        }
    }
    let r = match opts.chunk_size {
        None => monolithic(store, s, dest, &b, &bar).await,
        Some(n) => chunked(store, s, dest, &b, n, &bar).await,
    };
    match r {
        Ok(()) => {
            bar.finish("done");
            Ok(Outcome::Uploaded)
        }
        Err(e) => {
            bar.abandon();
            Err(e)
        }
    }
}

const READ_BUF: usize = 1 << 20;

async fn monolithic(
    store: &Store,
    s: &Session,
    dest: &Reference,
    b: &Descriptor,
    bar: &super::progress::BlobProgress,
) -> Result<(), RegistryError> {
    let digest = b.digest().to_string();
    let file = tokio::fs::File::from_std(store.open_blob(b.digest())?);
    let counter = bar.counter();
    let body = futures_util::stream::try_unfold(file, move |mut f| {
        let counter = counter.clone();
        async move {
            let mut buf = vec![0u8; READ_BUF];
            let n = f.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, OciDistributionError>(None);
            }
            buf.truncate(n);
            if let Some(c) = &counter {
                c.inc(n as u64);
            }
            Ok(Some((Bytes::from(buf), f)))
        }
    });
    s.oci
        .push_blob_stream(&oci_ref(dest), body, &digest, Some(b.size()))
        .await
        .map_err(|e| s.map_oci(format!("{}/{}@{digest}", dest.registry, dest.repository), e))?;
    Ok(())
}

/// POST, PATCH per `chunk` bytes (Content-Range), PUT ?digest=.
async fn chunked(
    store: &Store,
    s: &Session,
    dest: &Reference,
    b: &Descriptor,
    chunk: u64,
    bar: &super::progress::BlobProgress,
) -> Result<(), RegistryError> {
    let digest = b.digest().to_string();
    let what = format!("{}/{}@{digest}", dest.registry, dest.repository);
    let scopes = vec![scope(&dest.repository, RegistryOperation::Push)];
    let start_url = format!("{}/v2/{}/blobs/uploads/", s.base, dest.repository);
    let r = s
        .send(&scopes, &what, |h| {
            let mut q = s.http.post(&start_url).header("Content-Length", "0");
            if let Some(h) = h {
                q = q.header("Authorization", h);
            }
            q
        })
        .await?;
    let mut location = upload_location(s, &what, r, 202).await?;
    let mut file = tokio::fs::File::from_std(store.open_blob(b.digest())?);
    let mut offset = 0u64;
    let mut buf = vec![0u8; chunk.min(b.size().max(1)) as usize];
    loop {
        let mut n = 0;
        while n < buf.len() {
            let k = file
                .read(&mut buf[n..])
                .await
                .map_err(|source| RegistryError::Io {
                    path: store.root().join("blobs").join(&digest),
                    source,
                })?;
            if k == 0 {
                break;
            }
            n += k;
        }
        if n == 0 {
            break;
        }
        let body = Bytes::copy_from_slice(&buf[..n]);
        let range = format!("{offset}-{}", offset + n as u64 - 1);
        let loc = location.clone();
        let r = s
            .send(&scopes, &what, |h| {
                let mut q = s
                    .http
                    .patch(loc.clone())
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", range.clone())
                    .header("Content-Length", n.to_string())
                    .body(body.clone());
                if let Some(h) = h {
                    q = q.header("Authorization", h);
                }
                q
            })
            .await?;
        location = upload_location(s, &what, r, 202).await?;
        offset += n as u64;
        bar.inc(n as u64);
    }
    let mut fin = location.clone();
    fin.query_pairs_mut().append_pair("digest", &digest);
    let r = s
        .send(&scopes, &what, |h| {
            let mut q = s.http.put(fin.clone()).header("Content-Length", "0");
            if let Some(h) = h {
                q = q.header("Authorization", h);
            }
            q
        })
        .await?;
    upload_location(s, &what, r, 201).await?;
    Ok(())
}

/// Checks the status and resolves the (possibly relative) Location.
async fn upload_location(
    s: &Session,
    what: &str,
    r: reqwest::Response,
    want: u16,
) -> Result<reqwest::Url, RegistryError> {
    let status = r.status().as_u16();
    if status != want {
        let body = r.text().await.unwrap_or_default();
        return Err(RegistryError::Transfer {
            what: what.into(),
            detail: format!("upload: HTTP {status} (expected {want}): {}", body.trim()),
        });
    }
    let loc = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Protocol {
            what: what.into(),
            detail: "upload response without a Location".into(),
        })?;
    let base = reqwest::Url::parse(&s.base).map_err(|e| RegistryError::Config(e.to_string()))?;
    base.join(loc).map_err(|e| RegistryError::Protocol {
        what: what.into(),
        detail: format!("bad Location {loc:?}: {e}"),
    })
}
