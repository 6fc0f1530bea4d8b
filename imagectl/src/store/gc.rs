//! Garbage collection: mark every blob reachable from a name (indexes,
//! manifests, configs, layers), then remove the rest, the unpacked layers of
//! removed blobs and abandoned temp files. Runs under the exclusive "in
//! use" lock, so no pull is half-way through.

use std::collections::HashSet;
use std::fs;
use std::str::FromStr;

use nix::fcntl::FlockArg;
use oci_spec::image::{Digest, ImageIndex, ImageManifest};

use super::{io_at, Store, StoreError};

/// What a collection removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: usize,
    pub bytes: u64,
    pub layers: usize,
}

pub(super) fn run(s: &Store) -> Result<GcReport, StoreError> {
    let _g = s.lock_file("use.lock", FlockArg::LockExclusive)?;
    let live = mark(s)?;
    let mut r = GcReport::default();
    let blobs = s.root().join("blobs/sha256");
    for e in fs::read_dir(&blobs).map_err(io_at(&blobs))? {
        let e = e.map_err(io_at(&blobs))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !live.contains(&name) {
            r.bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(e.path()).map_err(io_at(&e.path()))?;
            r.blobs += 1;
        }
    }
    let layers = s.layers_dir().join("sha256");
    if let Ok(rd) = fs::read_dir(&layers) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Under the exclusive lock a `.<hex>-*` extraction is abandoned.
            if name.starts_with('.')
                || !live.contains(name.trim_start_matches('.').split('-').next().unwrap_or(""))
            {
                fs::remove_dir_all(e.path()).map_err(io_at(&e.path()))?;
                r.layers += 1;
            }
        }
    }
    // Nobody holds the use lock: every temp file is from a dead process.
    if let Ok(rd) = fs::read_dir(s.tmp_dir()) {
        for e in rd.flatten() {
            let _ = fs::remove_file(e.path()).or_else(|_| fs::remove_dir_all(e.path()));
        }
    }
    Ok(r)
}

/// Hex digests of every blob a name reaches. A child that is not in the
/// store (the other platforms of a pulled index) is skipped.
fn mark(s: &Store) -> Result<HashSet<String>, StoreError> {
    let mut live = HashSet::new();
    let mut todo: Vec<Digest> = s
        .refs()?
        .into_iter()
        .map(|(_, d)| d.digest().clone())
        .collect();
    while let Some(d) = todo.pop() {
        let hex = d
            .to_string()
            .split_once(':')
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        if !live.insert(hex) || !s.has_blob(&d) {
            continue;
        }
        let bytes = s.read_blob(&d)?;
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if v.get("manifests").is_some() {
            if let Ok(idx) = serde_json::from_slice::<ImageIndex>(&bytes) {
                todo.extend(idx.manifests().iter().map(|m| m.digest().clone()));
            }
        } else if v.get("layers").is_some() || v.get("config").is_some() {
            if let Ok(m) = serde_json::from_slice::<ImageManifest>(&bytes) {
                todo.push(m.config().digest().clone());
                todo.extend(m.layers().iter().map(|l| l.digest().clone()));
            }
        }
    }
    // Defensive: a digest string that is not sha256 never matches a file.
    live.retain(|h| Digest::from_str(&format!("sha256:{h}")).is_ok());
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};

    #[test]
    fn only_unreachable_blobs_go() {
        let (s, dir) = temp_store("gc");
        let config = s.put_blob(b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}").unwrap();
        let layer = s.put_blob(b"layer").unwrap();
        let stray = s.put_blob(b"stray").unwrap();
        let m = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, 1, config.clone()))
            .layers(vec![Descriptor::new(
                MediaType::ImageLayerGzip,
                5,
                layer.clone(),
            )])
            .build()
            .unwrap();
        let mb = serde_json::to_vec(&m).unwrap();
        let md = s.put_blob(&mb).unwrap();
        s.set_ref(
            "r/x:1",
            &Descriptor::new(MediaType::ImageManifest, mb.len() as u64, md.clone()),
        )
        .unwrap();
        std::fs::create_dir_all(s.layers_dir().join("sha256").join(stray.digest())).unwrap();
        std::fs::create_dir_all(s.layers_dir().join("sha256").join(layer.digest())).unwrap();
        let r = s.gc().unwrap();
        assert_eq!((r.blobs, r.layers), (1, 1));
        for d in [&config, &layer, &md] {
            assert!(s.has_blob(d));
        }
        assert!(!s.has_blob(&stray));
        assert!(s.layers_dir().join("sha256").join(layer.digest()).exists());
        s.remove_ref("r/x:1").unwrap();
        assert_eq!(s.gc().unwrap().blobs, 3);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
