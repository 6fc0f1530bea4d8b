//! oci-archive: a tar of an OCI image layout.
//!
//! ```text
//! oci-layout            {"imageLayoutVersion":"1.0.0"}
//! blobs/sha256/<hex>    layers (as stored, compressed or not), configs, manifests
//! index.json            one manifest descriptor per name, annotated with
//!                       org.opencontainers.image.ref.name = the tag (what
//!                       `skopeo`/`podman` match in oci-archive:FILE:TAG) and
//!                       io.containerd.image.name = the full name (`ctr import`)
//! ```
//!
//! Loading names every descriptor of `index.json` that carries a name:
//! `io.containerd.image.name` first; else `ref.name` when it is a full
//! reference; a bare tag `T` becomes `localhost/<id12>:T`. A descriptor
//! without a name becomes `localhost/<id12>:latest`. Indexes are kept as
//! they are (the name points at the index), and every blob they reach
//! must be in the archive (or already in the store).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use oci_spec::image::{Descriptor, Digest, ImageManifest};
use serde_json::{json, Value};

use super::detect::Staged;
use super::docker::{OCI_LAYER, OCI_MANIFEST};
use super::{
    append_blob, append_bytes, append_dir, descriptor, full_name, untagged_name, ArchiveError,
    Loaded, Plan, SaveItem, CONTAINERD_NAME,
};
use crate::image::is_index;
use crate::reference;
use crate::store::{Store, REF_NAME};

/// Writes `items` as an oci-archive to `out`.
pub fn save<W: Write>(store: &Store, items: &[SaveItem], out: W) -> Result<W, ArchiveError> {
    let mut b = tar::Builder::new(out);
    append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append_dir(&mut b, "blobs/")?;
    append_dir(&mut b, "blobs/sha256/")?;
    let mut written: HashSet<Digest> = HashSet::new();
    let mut manifests = Vec::new();
    for item in items {
        let img = &item.image;
        let blobs = img
            .manifest
            .layers()
            .iter()
            .map(|l| l.digest().clone())
            .chain([img.id().clone(), img.manifest_digest.clone()]);
        for d in blobs {
            if written.insert(d.clone()) {
                append_blob(store, &mut b, &format!("blobs/sha256/{}", d.digest()), &d)?;
            }
        }
        let media_type = if img.target.digest() == &img.manifest_digest {
            img.target.media_type().to_string()
        } else {
            img.manifest
                .media_type()
                .as_ref()
                .map_or_else(|| OCI_MANIFEST.to_string(), |m| m.to_string())
        };
        let size = store.read_blob(&img.manifest_digest)?.len() as u64;
        if item.names.is_empty() {
            manifests.push(descriptor(&media_type, &img.manifest_digest, size, None));
        }
        for n in &item.names {
            let mut a = BTreeMap::new();
            a.insert(
                REF_NAME.to_string(),
                n.tag
                    .clone()
                    .unwrap_or_else(|| reference::DEFAULT_TAG.into()),
            );
            a.insert(CONTAINERD_NAME.to_string(), n.to_string());
            manifests.push(descriptor(&media_type, &img.manifest_digest, size, Some(a)));
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    append_bytes(&mut b, "index.json", index.to_string().as_bytes())?;
    b.into_inner()
        .map_err(super::io_err("finishing the archive"))
}

/// Checks a staged oci-archive is complete and says what to name.
pub fn load(store: &Store, staged: &Staged) -> Result<Plan, ArchiveError> {
    let index: Value = staged.json("index.json")?;
    let descs: Vec<Descriptor> = serde_json::from_value(index["manifests"].clone())
        .map_err(|e| ArchiveError::Corrupt(format!("index.json: manifests: {e}")))?;
    let mut plan = Plan::default();
    for d in descs {
        let id = check_complete(store, &d, 0)?;
        let ann = d.annotations().clone().unwrap_or_default();
        let name = match (ann.get(CONTAINERD_NAME), ann.get(REF_NAME)) {
            (Some(n), _) => full_name(n)?,
            (None, Some(r)) if r.contains('/') || r.contains(':') => full_name(r)?,
            (None, Some(tag)) => format!("localhost/{}:{tag}", &id.digest()[..12]),
            (None, None) => untagged_name(&id),
        };
        reference::parse(&name)?;
        let stored = descriptor(d.media_type().as_ref(), d.digest(), d.size(), None);
        plan.names.insert(name.clone(), stored);
        match plan.loaded.iter_mut().find(|l| l.id == id) {
            Some(l) => l.names.push(name),
            None => plan.loaded.push(Loaded {
                id,
                names: vec![name],
            }),
        }
    }
    if plan.names.is_empty() {
        return Err(ArchiveError::Corrupt("index.json lists no images".into()));
    }
    Ok(plan)
}

/// Every blob `d` reaches is in the store (staging put the archive's there
/// verified); an uncompressed layer must match its diff_id. Returns the
/// image id (config digest) of a manifest, the digest of an index.
fn check_complete(store: &Store, d: &Descriptor, depth: u32) -> Result<Digest, ArchiveError> {
    if depth > 4 {
        return Err(ArchiveError::Corrupt("indexes nested too deep".into()));
    }
    if !store.has_blob(d.digest()) {
        return Err(ArchiveError::Missing(format!(
            "blobs/sha256/{}",
            d.digest().digest()
        )));
    }
    let bytes = store.read_blob(d.digest())?;
    if is_index(d, &bytes) {
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ArchiveError::Corrupt(format!("index {}: {e}", d.digest())))?;
        let children: Vec<Descriptor> = serde_json::from_value(v["manifests"].clone())
            .map_err(|e| ArchiveError::Corrupt(format!("index {}: {e}", d.digest())))?;
        for c in &children {
            check_complete(store, c, depth + 1)?;
        }
        return Ok(d.digest().clone());
    }
    let m: ImageManifest = serde_json::from_slice(&bytes)
        .map_err(|e| ArchiveError::Corrupt(format!("manifest {}: {e}", d.digest())))?;
    let cfg = m.config().digest();
    if !store.has_blob(cfg) {
        return Err(ArchiveError::Missing(format!(
            "blobs/sha256/{}",
            cfg.digest()
        )));
    }
    let config: Value = serde_json::from_slice(&store.read_blob(cfg)?)
        .map_err(|e| ArchiveError::Corrupt(format!("config {cfg}: {e}")))?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if diff_ids.len() != m.layers().len() {
        return Err(ArchiveError::Corrupt(format!(
            "manifest {}: {} layers but its config has {} diff_ids",
            d.digest(),
            m.layers().len(),
            diff_ids.len()
        )));
    }
    for (l, diff) in m.layers().iter().zip(&diff_ids) {
        if !store.has_blob(l.digest()) {
            return Err(ArchiveError::Missing(format!(
                "blobs/sha256/{}",
                l.digest().digest()
            )));
        }
        let plain = l.media_type().to_string() == OCI_LAYER
            || l.media_type().to_string() == "application/vnd.docker.image.rootfs.diff.tar";
        if plain && diff.as_str() != Some(l.digest().as_ref()) {
            return Err(ArchiveError::DiffId {
                layer: l.digest().to_string(),
                expected: diff.as_str().unwrap_or_default().into(),
                actual: l.digest().to_string(),
            });
        }
    }
    Ok(cfg.clone())
}
