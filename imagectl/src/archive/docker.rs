//! docker-archive, as `docker save` (1.10 and later) writes it:
//!
//! ```text
//! <id>/VERSION     "1.0"
//! <id>/json        the legacy v1 layer JSON (id, parent)
//! <id>/layer.tar   the layer, UNCOMPRESSED: its sha256 is the diff_id
//! <hex>.json       the image config, byte for byte (so the id is kept)
//! manifest.json    [{"Config":"<hex>.json","RepoTags":["busybox:latest"],"Layers":["<id>/layer.tar"]}]
//! repositories     {"busybox":{"latest":"<top layer id>"}}
//! ```
//!
//! `<id>` is a chain id: sha256 of the parent id and the diff_id, so a
//! layer two images share is written once. RepoTags are familiar names.
//!
//! Loading also reads Docker 25+ archives (the same `manifest.json`, but
//! naming `blobs/sha256/<hex>` of an OCI layout in the same tar) and the
//! pre-1.10 layout (only `repositories` and `<id>/{json,layer.tar}`).
//! Layers are stored as they come (uncompressed, digest = diff_id).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::str::FromStr;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::detect::{Entry, Staged};
use super::{
    append_blob, append_bytes, append_dir, descriptor, familiar, file_header, full_name, io_err,
    untagged_name, ArchiveError, Hashing, Loaded, Plan, SaveItem, TempFile,
};
use crate::layer::compression::{self, Compression};
use crate::store::{sha256_hex, Store};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// One entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ManifestEntry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

/// Writes `items` as a docker-archive to `out`.
pub fn save<W: Write>(store: &Store, items: &[SaveItem], out: W) -> Result<W, ArchiveError> {
    let mut b = tar::Builder::new(out);
    let mut written: HashSet<String> = HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    // Layers go last: a reader that meets manifest.json and the configs
    // first knows each layer's diff_id before its bytes arrive, and can
    // store them straight away (see detect.rs).
    let mut pending = Vec::new();
    for item in items {
        let img = &item.image;
        let diff_ids = img.config.rootfs().diff_ids();
        let layers = img.manifest.layers();
        if diff_ids.len() != layers.len() {
            return Err(ArchiveError::Corrupt(format!(
                "image {}: {} layers but {} diff_ids in its config",
                img.id(),
                layers.len(),
                diff_ids.len()
            )));
        }
        let mut parent = String::new();
        let mut paths = Vec::new();
        let top = layers.len().saturating_sub(1);
        for (i, (desc, diff)) in layers.iter().zip(diff_ids).enumerate() {
            let id = sha256_hex(format!("{parent}\n{diff}").as_bytes());
            if written.insert(id.clone()) {
                let mut v1 = json!({"id": id, "created": "1970-01-01T00:00:00Z",
                    "container_config": {"Cmd": null}});
                if !parent.is_empty() {
                    v1["parent"] = json!(parent);
                }
                if i == top {
                    // As docker: the top layer's v1 JSON carries the image
                    // config, which is what a pre-1.10 reader runs.
                    legacy_config(&mut v1, &img.config_raw);
                }
                pending.push((id.clone(), v1, desc.clone(), diff.clone()));
            }
            paths.push(format!("{id}/layer.tar"));
            parent = id;
        }
        let config = format!("{}.json", img.id().digest());
        if written.insert(config.clone()) {
            append_bytes(&mut b, &config, &img.config_raw)?;
        }
        let tags: Vec<String> = item.names.iter().map(familiar).collect();
        for n in &item.names {
            repositories.entry(n.familiar_name()).or_default().insert(
                n.tag.clone().unwrap_or_else(|| "latest".into()),
                parent.clone(),
            );
        }
        manifest.push(ManifestEntry {
            config,
            repo_tags: Some(tags),
            layers: paths,
        });
    }
    let m = serde_json::to_vec(&manifest).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    append_bytes(&mut b, "manifest.json", &m)?;
    let r = serde_json::to_vec(&repositories).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    append_bytes(&mut b, "repositories", &r)?;
    for (id, v1, desc, diff) in pending {
        append_dir(&mut b, &format!("{id}/"))?;
        append_bytes(&mut b, &format!("{id}/VERSION"), b"1.0")?;
        append_bytes(&mut b, &format!("{id}/json"), v1.to_string().as_bytes())?;
        append_layer(store, &mut b, &format!("{id}/layer.tar"), &desc, &diff)?;
    }
    b.into_inner().map_err(io_err("finishing the archive"))
}

/// Copies what a v1 image JSON holds of the config into `v1`.
fn legacy_config(v1: &mut Value, config_raw: &[u8]) {
    let Ok(c) = serde_json::from_slice::<Value>(config_raw) else {
        return;
    };
    for k in [
        "architecture",
        "os",
        "config",
        "created",
        "author",
        "variant",
    ] {
        if let Some(x) = c.get(k) {
            v1[k] = x.clone();
        }
    }
}

/// Writes a layer uncompressed: the stored blob itself when it already is
/// (digest = diff_id), else decompressed into a temp file first (a tar
/// header needs the size before the bytes), checked against `diff`.
fn append_layer<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    name: &str,
    desc: &oci_spec::image::Descriptor,
    diff: &str,
) -> Result<(), ArchiveError> {
    if desc.digest().to_string() == diff {
        return append_blob(store, b, name, desc.digest());
    }
    let tmp = TempFile::new(store, "layer");
    let what = || tmp.0.display().to_string();
    let f = File::create(&tmp.0).map_err(io_err(what()))?;
    let mut h = Hashing::new(BufWriter::with_capacity(1 << 20, f));
    let blob = store.open_blob(desc.digest())?;
    let mut r = compression::open(desc.media_type().as_ref(), blob).map_err(|e| match e {
        compression::OpenError::Io(e) => io_err(format!("layer {}", desc.digest()))(e),
        compression::OpenError::Unsupported(c) => ArchiveError::Corrupt(format!(
            "layer {}: unsupported compression {c}",
            desc.digest()
        )),
    })?;
    io::copy(&mut r, &mut h).map_err(io_err(format!("decompressing layer {}", desc.digest())))?;
    h.flush().map_err(io_err(what()))?;
    if h.digest() != diff {
        return Err(ArchiveError::DiffId {
            layer: desc.digest().to_string(),
            expected: diff.into(),
            actual: h.digest(),
        });
    }
    let size = h.written;
    drop(h);
    let f = File::open(&tmp.0).map_err(io_err(what()))?;
    let mut hd = file_header(size);
    b.append_data(&mut hd, name, BufReader::with_capacity(1 << 20, f))
        .map_err(io_err(format!("writing {name}")))
}

/// Turns a staged docker-archive into blobs and the names to set.
pub fn load(store: &Store, staged: &Staged) -> Result<Plan, ArchiveError> {
    if !staged.entries.contains_key("manifest.json") {
        return load_legacy(store, staged);
    }
    let manifest: Vec<ManifestEntry> = staged.json("manifest.json")?;
    let mut plan = Plan::default();
    for m in &manifest {
        let config_raw = match staged.get(&m.config)? {
            Entry::Small(b) => b.clone(),
            Entry::Blob(d) => store.read_blob(d)?,
            _ => return Err(ArchiveError::Corrupt(format!("{}: not a config", m.config))),
        };
        check_named_digest(&m.config, &config_raw)?;
        let names = match &m.repo_tags {
            Some(t) if !t.is_empty() => t.iter().map(|t| full_name(t)).collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let layers: Vec<&Entry> = m
            .layers
            .iter()
            .map(|l| staged.get(l))
            .collect::<Result<_, _>>()?;
        plan_image(store, &mut plan, config_raw, &m.layers, &layers, names)?;
    }
    Ok(plan)
}

/// When an archive names a file by its digest (`<hex>.json`,
/// `blobs/sha256/<hex>`), the bytes must have it.
fn check_named_digest(name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let hex = base.strip_suffix(".json").unwrap_or(base);
    if hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        let actual = sha256_hex(bytes);
        if actual != hex {
            return Err(ArchiveError::Corrupt(format!(
                "{name}: content has digest sha256:{actual}"
            )));
        }
    }
    Ok(())
}

/// Stores one image's config, layers and an OCI manifest; records its
/// names (or the untagged name) in `plan`.
fn plan_image(
    store: &Store,
    plan: &mut Plan,
    config_raw: Vec<u8>,
    layer_names: &[String],
    layers: &[&Entry],
    names: Vec<String>,
) -> Result<(), ArchiveError> {
    let config: Value = serde_json::from_slice(&config_raw)
        .map_err(|e| ArchiveError::Corrupt(format!("image config: {e}")))?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(ArchiveError::Corrupt(format!(
            "{} layers listed but the config has {} diff_ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    let mut descs = Vec::new();
    for ((entry, name), diff) in layers.iter().zip(layer_names).zip(&diff_ids) {
        descs.push(store_layer(store, entry, name, diff)?);
    }
    let cd = store.put_blob(&config_raw)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &cd, config_raw.len() as u64, None),
        "layers": descs,
    });
    let mb = serde_json::to_vec(&manifest).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    let md = store.put_blob(&mb)?;
    let desc = descriptor(OCI_MANIFEST, &md, mb.len() as u64, None);
    let names = if names.is_empty() {
        vec![untagged_name(&cd)]
    } else {
        names
    };
    for n in &names {
        plan.names.insert(n.clone(), desc.clone());
    }
    plan.loaded.push(Loaded { id: cd, names });
    Ok(())
}

/// Reopens a layer's bytes (a blob or a temp file) from the start.
type Opener = Box<dyn Fn() -> Result<File, ArchiveError>>;

/// Puts one layer entry into the store (when not there yet) after
/// checking it against its diff_id; returns its descriptor.
fn store_layer(
    store: &Store,
    entry: &Entry,
    name: &str,
    diff: &str,
) -> Result<oci_spec::image::Descriptor, ArchiveError> {
    let (digest, size, open): (String, u64, Opener) = match entry {
        Entry::Blob(d) => {
            let p = store.blob_path(d)?;
            let size = std::fs::metadata(&p)
                .map_err(io_err(p.display().to_string()))?
                .len();
            let d2 = d.clone();
            let s = store.clone();
            (d.to_string(), size, Box::new(move || Ok(s.open_blob(&d2)?)))
        }
        Entry::Temp { file, digest, size } => {
            let p = file.0.clone();
            (
                digest.clone(),
                *size,
                Box::new(move || File::open(&p).map_err(io_err(p.display().to_string()))),
            )
        }
        Entry::Small(_) | Entry::Alias(_) => {
            return Err(ArchiveError::Corrupt(format!("{name}: not a layer")))
        }
    };
    let media_type = if digest == diff {
        OCI_LAYER
    } else {
        // A compressed layer (some writers keep them so): its
        // uncompressed stream must still be the diff_id.
        let mut head = [0u8; 8];
        let mut f = open()?;
        let n = f.read(&mut head).map_err(io_err(name.to_string()))?;
        let c = Compression::detect("", &head[..n]).unwrap_or(Compression::None);
        let actual = if c == Compression::None {
            digest.clone()
        } else {
            let r = c
                .reader(BufReader::new(open()?))
                .map_err(io_err(name.to_string()))?;
            uncompressed_digest(r).map_err(io_err(format!("decompressing {name}")))?
        };
        if actual != diff {
            return Err(ArchiveError::DiffId {
                layer: name.into(),
                expected: diff.into(),
                actual,
            });
        }
        if c == Compression::Gzip {
            OCI_LAYER_GZIP
        } else {
            OCI_LAYER_ZSTD
        }
    };
    let d = Digest::from_str(&digest).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    if let Entry::Temp { .. } = entry {
        if !store.has_blob(&d) {
            let mut w = store.blob_writer(&d, Some(size))?;
            io::copy(&mut BufReader::with_capacity(1 << 20, open()?), &mut w)
                .map_err(io_err(format!("storing {name}")))?;
            w.commit()?;
        }
    }
    Ok(descriptor(media_type, &d, size, None))
}

fn uncompressed_digest(mut r: impl Read) -> io::Result<String> {
    let mut h = Hashing::new(io::sink());
    io::copy(&mut r, &mut h)?;
    Ok(h.digest())
}

/// Pre-1.10 docker save: `repositories` names top layer ids; each
/// `<id>/json` is a v1 image JSON with its `parent`. The config is the top
/// JSON with a `rootfs` made from the layers' hashes.
fn load_legacy(store: &Store, staged: &Staged) -> Result<Plan, ArchiveError> {
    let repos: BTreeMap<String, BTreeMap<String, String>> = staged.json("repositories")?;
    let mut by_top: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (repo, tags) in &repos {
        for (tag, top) in tags {
            by_top
                .entry(top.clone())
                .or_default()
                .push(full_name(&format!("{repo}:{tag}"))?);
        }
    }
    let mut plan = Plan::default();
    for (top, names) in by_top {
        let top_json: Value = staged.json(&format!("{top}/json"))?;
        let mut chain = Vec::new();
        let mut id = top.clone();
        loop {
            let v: Value = staged.json(&format!("{id}/json"))?;
            chain.push(id.clone());
            if chain.len() > 1000 {
                return Err(ArchiveError::Corrupt(format!("{top}: parent loop")));
            }
            match v["parent"].as_str() {
                Some(p) if !p.is_empty() => id = p.to_string(),
                _ => break,
            }
        }
        chain.reverse();
        let layer_names: Vec<String> = chain.iter().map(|i| format!("{i}/layer.tar")).collect();
        let layers: Vec<&Entry> = layer_names
            .iter()
            .map(|l| staged.get(l))
            .collect::<Result<_, _>>()?;
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|e| match e {
                Entry::Temp { digest, .. } => Ok(digest.clone()),
                Entry::Blob(d) => Ok(d.to_string()),
                _ => Err(ArchiveError::Corrupt("legacy layer is not a file".into())),
            })
            .collect::<Result<_, _>>()?;
        let mut config = top_json;
        if let Some(o) = config.as_object_mut() {
            for k in ["id", "parent", "Size", "parent_id", "layer_id"] {
                o.remove(k);
            }
            o.insert(
                "rootfs".into(),
                json!({"type": "layers", "diff_ids": diff_ids}),
            );
        }
        let raw = serde_json::to_vec(&config).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        plan_image(store, &mut plan, raw, &layer_names, &layers, names)?;
    }
    Ok(plan)
}
