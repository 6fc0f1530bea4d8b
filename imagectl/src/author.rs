//! Writing new images into the store: layer blobs from tar streams
//! (gzipped and hashed in one pass: the blob digest and the diff_id come
//! out of the same read), image configs with history, OCI manifests.
//!
//! The boundary: this module writes blobs and returns the manifest's
//! descriptor; naming it ([`Store::set_ref`]) is the caller's. Blobs are
//! unnamed until then, so a caller holds [`Store::use_lock`] from the
//! first [`write_layer`] to its `set_ref`, or a concurrent `gc` may take
//! them. [`apply_change`] is the small Dockerfile-instruction subset that
//! `commit --change` and `import --change` accept.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use oci_spec::image::{
    Arch, Config, Descriptor, History, ImageConfiguration, ImageManifestBuilder, MediaType, Os,
};

use crate::bundle::{self, RootfsMode};
use crate::image::{self, Image, ImageError};
use crate::layer::diff::{self, Change, DiffError, DiffStats};
use crate::layer::{self, LayerError};
use crate::platform::Platform;
use crate::store::Hashing;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    #[error("writing layer: {0}")]
    Layer(#[source] io::Error),
    #[error("--change {change:?}: {why}")]
    Change { change: String, why: String },
    #[error("image manifest: {0}")]
    Manifest(String),
    #[error("{0}: not a bundle made by imagectl (no {marker})", marker = bundle::MARKER)]
    NotABundle(PathBuf),
    #[error("{path}: {detail}")]
    Marker { path: PathBuf, detail: String },
    #[error("bundle {bundle}: base image {image}: {source}")]
    Base {
        bundle: PathBuf,
        image: String,
        #[source]
        source: ImageError,
    },
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    LayerCache(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A layer blob written to the store: its descriptor (media type
/// `application/vnd.oci.image.layer.v1.tar+gzip`, digest and size of the
/// compressed bytes) and its diff_id (sha256 of the uncompressed tar,
/// `sha256:<hex>`).
#[derive(Debug, Clone)]
pub struct NewLayer {
    pub desc: Descriptor,
    pub diff_id: String,
}

/// Streams an uncompressed layer tar in, gzips it and hashes both forms
/// in one pass (never the whole layer in memory); publishes the blob.
pub fn write_layer(store: &Store, mut tar: impl Read) -> Result<NewLayer, AuthorError> {
    write_layer_with(store, |w| io::copy(&mut tar, w).map(|_| ()))
}

/// The same for a tar produced by a writer callback (e.g.
/// [`crate::layer::diff::overlay_layer`] writing into it). An error the
/// callback returns is [`AuthorError::Layer`] and leaves no blob.
pub fn write_layer_with(
    store: &Store,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<NewLayer, AuthorError> {
    let _lock = store.use_lock()?;
    // The store's writer hashes the compressed bytes itself and learns the
    // digest at commit; only the uncompressed form needs a hasher here.
    let blob = store.blob_writer_any()?;
    let gz = GzEncoder::new(BufWriter::new(blob), flate2::Compression::default());
    let mut raw = Hashing::new(gz);
    f(&mut raw).map_err(AuthorError::Layer)?;
    let diff_id = raw.digest();
    let buf = raw.inner.finish().map_err(AuthorError::Layer)?;
    let blob = buf
        .into_inner()
        .map_err(|e| AuthorError::Layer(e.into_error()))?;
    let size = blob.written();
    let digest = blob.commit()?;
    Ok(NewLayer {
        desc: Descriptor::new(MediaType::ImageLayerGzip, size, digest),
        diff_id,
    })
}

/// The extensions a child image keeps from its base: `Healthcheck` and
/// `Shell` (docker runs a base's `OnBuild` triggers in the child and
/// does not pass them on).
fn inherited_extras(img: &Image) -> serde_json::Map<String, serde_json::Value> {
    let c = img.raw_exec_config();
    ["Healthcheck", "Shell"]
        .into_iter()
        .filter_map(|k| Some((k.to_string(), c.get(k).filter(|x| !x.is_null())?.clone())))
        .collect()
}

/// A new image: base (or scratch) + layers + config edits + history.
#[derive(Debug, Clone)]
pub struct ImageDraft {
    /// Docker's extensions of `config` that oci-spec's type does not model
    /// (`Healthcheck`, `Shell`, `OnBuild`), merged into it by [`Self::write`].
    pub extra_config: serde_json::Map<String, serde_json::Value>,
    /// The config, including `rootfs.diff_ids` and `history`.
    pub config: ImageConfiguration,
    /// The manifest's layers, bottom first, one per diff_id.
    pub layers: Vec<Descriptor>,
}

/// Docker layer media types and their OCI names: the bytes are the same,
/// and an OCI manifest should name its layers with OCI types.
const DOCKER_LAYER_TYPES: &[(&str, &str)] = &[
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.v1.tar",
    ),
];

impl ImageDraft {
    /// Starts from `base`'s config and layers, or from scratch: the
    /// host's os/arch, no layers, no history.
    pub fn from_base(base: Option<&Image>) -> ImageDraft {
        match base {
            Some(img) => {
                let layers = img
                    .manifest
                    .layers()
                    .iter()
                    .map(|l| {
                        let mut l = l.clone();
                        let mt = l.media_type().to_string();
                        if let Some((_, oci)) = DOCKER_LAYER_TYPES.iter().find(|(d, _)| *d == mt) {
                            l.set_media_type(MediaType::from(*oci));
                        }
                        l
                    })
                    .collect();
                ImageDraft {
                    config: img.config.clone(),
                    layers,
                    extra_config: inherited_extras(img),
                }
            }
            None => {
                let host = Platform::host();
                let mut config = ImageConfiguration::default();
                config.set_architecture(Arch::from(host.arch.as_str()));
                config.set_os(Os::from(host.os.as_str()));
                config.set_config(Some(Config::default()));
                ImageDraft {
                    config,
                    layers: Vec::new(),
                    extra_config: serde_json::Map::new(),
                }
            }
        }
    }

    /// Appends a layer, its diff_id and its history entry.
    pub fn add_layer(&mut self, l: &NewLayer, mut history: History) {
        self.layers.push(l.desc.clone());
        self.config
            .rootfs_mut()
            .diff_ids_mut()
            .push(l.diff_id.clone());
        history.set_empty_layer(None);
        self.config
            .history_mut()
            .get_or_insert_with(Vec::new)
            .push(history);
    }

    /// Appends a history entry that made no layer (marked empty_layer).
    pub fn add_history(&mut self, mut history: History) {
        history.set_empty_layer(Some(true));
        self.config
            .history_mut()
            .get_or_insert_with(Vec::new)
            .push(history);
    }

    /// Writes the config blob (created = now) and an OCI manifest;
    /// returns the manifest's descriptor (the image id is its digest).
    pub fn write(&self, store: &Store) -> Result<Descriptor, AuthorError> {
        let _lock = store.use_lock()?;
        let mut config = self.config.clone();
        config.set_created(Some(now_rfc3339()));
        let mut value =
            serde_json::to_value(&config).map_err(|e| AuthorError::Manifest(e.to_string()))?;
        if !self.extra_config.is_empty() {
            if let Some(obj) = value.as_object_mut() {
                let c = obj.entry("config").or_insert_with(|| serde_json::json!({}));
                if let Some(c) = c.as_object_mut() {
                    for (k, v) in &self.extra_config {
                        c.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let config_bytes =
            serde_json::to_vec(&value).map_err(|e| AuthorError::Manifest(e.to_string()))?;
        let config_digest = store.put_blob(&config_bytes)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_bytes.len() as u64,
                config_digest,
            ))
            .layers(self.layers.clone())
            .build()
            .map_err(|e| AuthorError::Manifest(e.to_string()))?;
        let bytes =
            serde_json::to_vec(&manifest).map_err(|e| AuthorError::Manifest(e.to_string()))?;
        let digest = store.put_blob(&bytes)?;
        Ok(Descriptor::new(
            MediaType::ImageManifest,
            bytes.len() as u64,
            digest,
        ))
    }
}

/// A bundle made by `imagectl unpack`, ready to list or commit its
/// changes: the base image (from the marker) and the lower layer dirs
/// (bottom first) its changes are measured against.
#[derive(Debug)]
pub struct BundleSource {
    pub dir: PathBuf,
    pub base: Image,
    pub mode: RootfsMode,
    pub lowers: Vec<PathBuf>,
}

/// The marker's fields this module reads.
#[derive(serde::Deserialize)]
struct Marker {
    image: String,
    name: Option<String>,
    mode: String,
    #[serde(default)]
    layers: Vec<PathBuf>,
}

/// Reads `dir`'s bundle marker and finds its base image (by the name it
/// was unpacked from while that still means the same image, else by id).
/// A copy bundle's lowers are the base's layers in the layer cache,
/// extracted now when missing.
pub fn open_bundle(store: &Store, dir: &Path) -> Result<BundleSource, AuthorError> {
    let mpath = dir.join(bundle::MARKER);
    let bytes = match std::fs::read(&mpath) {
        Ok(b) => b,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            return Err(AuthorError::NotABundle(dir.to_path_buf()))
        }
        Err(e) => {
            return Err(AuthorError::Marker {
                path: mpath,
                detail: e.to_string(),
            })
        }
    };
    let m: Marker = serde_json::from_slice(&bytes).map_err(|e| AuthorError::Marker {
        path: mpath.clone(),
        detail: e.to_string(),
    })?;
    let host = Platform::host();
    let by_name = m
        .name
        .as_deref()
        .and_then(|n| image::open(store, n, &host).ok())
        .filter(|img| img.id().to_string() == m.image);
    let base = match by_name {
        Some(img) => img,
        None => image::open(store, &m.image, &host).map_err(|source| AuthorError::Base {
            bundle: dir.to_path_buf(),
            image: m.image.clone(),
            source,
        })?,
    };
    let (mode, lowers) = match m.mode.as_str() {
        "overlay" => (RootfsMode::Overlay, m.layers),
        "copy" => {
            let ids = base.config.rootfs().diff_ids();
            let lowers = base
                .manifest
                .layers()
                .iter()
                .enumerate()
                .map(|(i, l)| layer::cache::ensure(store, l, ids.get(i).map(String::as_str)))
                .collect::<Result<Vec<_>, _>>()?;
            (RootfsMode::Copy, lowers)
        }
        other => {
            return Err(AuthorError::Marker {
                path: mpath,
                detail: format!("unknown mode {other:?}"),
            })
        }
    };
    Ok(BundleSource {
        dir: dir.to_path_buf(),
        base,
        mode,
        lowers,
    })
}

impl BundleSource {
    /// Where the changes are: the overlay upper dir, or the rootfs.
    pub fn changed_tree(&self) -> PathBuf {
        match self.mode {
            RootfsMode::Overlay => self.dir.join(".upper"),
            RootfsMode::Copy => self.dir.join("rootfs"),
        }
    }

    /// The changes since unpack, sorted by path.
    pub fn changes(&self) -> Result<Vec<Change>, AuthorError> {
        let tree = self.changed_tree();
        Ok(match self.mode {
            RootfsMode::Overlay => diff::overlay_changes(&tree, &self.lowers)?,
            RootfsMode::Copy => diff::copy_changes(&tree, &self.lowers)?,
        })
    }

    /// The changes as a layer blob in the store.
    pub fn write_layer(&self, store: &Store) -> Result<(NewLayer, DiffStats), AuthorError> {
        let tree = self.changed_tree();
        let mut stats = DiffStats::default();
        let mut failed: Option<DiffError> = None;
        let r = write_layer_with(store, |w| {
            let r = match self.mode {
                RootfsMode::Overlay => diff::overlay_layer(&tree, &self.lowers, w),
                RootfsMode::Copy => diff::copy_layer(&tree, &self.lowers, w),
            };
            match r {
                Ok(s) => {
                    stats = s;
                    Ok(())
                }
                Err(e) => {
                    failed = Some(e);
                    Err(io::Error::other("layer diff failed"))
                }
            }
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        Ok((r?, stats))
    }
}

/// A history entry created now.
pub fn history(
    created_by: &str,
    comment: Option<&str>,
    author: Option<&str>,
    empty_layer: bool,
) -> History {
    let mut h = History::default();
    h.set_created(Some(now_rfc3339()));
    h.set_created_by(Some(created_by.to_string()));
    h.set_comment(comment.map(str::to_string));
    h.set_author(author.map(str::to_string));
    h.set_empty_layer(empty_layer.then_some(true));
    h
}

/// Now as RFC 3339 UTC with seconds (`2026-12-02T00:18:15Z`).
pub fn now_rfc3339() -> String {
    rfc3339(now_secs())
}

/// Now, in seconds since the epoch (0 on a clock before 1970).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The instructions [`apply_change`] knows.
const CHANGES: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "WORKDIR",
    "USER",
    "EXPOSE",
    "LABEL",
    "VOLUME",
    "STOPSIGNAL",
];

/// Applies one Dockerfile-style instruction (`CMD ["/bin/echo","hi"]`,
/// `ENV A=1 B="x y"`, ...) to the config. CMD and ENTRYPOINT take a JSON
/// array or a shell form (`["/bin/sh","-c",TEXT]`). Setting ENTRYPOINT
/// does not reset CMD (docker's build does that for an inherited CMD;
/// a change list has no such notion).
pub fn apply_change(config: &mut ImageConfiguration, change: &str) -> Result<(), AuthorError> {
    let fail = |why: String| AuthorError::Change {
        change: change.to_string(),
        why,
    };
    let line = change.trim();
    let (word, rest) = line
        .split_once(|c: char| c.is_whitespace())
        .map_or((line, ""), |(w, r)| (w, r.trim()));
    let word = word.to_ascii_uppercase();
    if !CHANGES.contains(&word.as_str()) {
        return Err(fail(format!(
            "unsupported instruction {word:?} (known: {})",
            CHANGES.join(", ")
        )));
    }
    if rest.is_empty() {
        return Err(fail(format!("{word} needs an argument")));
    }
    let mut c = config.config().clone().unwrap_or_default();
    match word.as_str() {
        "CMD" => {
            c.set_cmd(Some(exec_form(rest).map_err(fail)?));
        }
        "ENTRYPOINT" => {
            c.set_entrypoint(Some(exec_form(rest).map_err(fail)?));
        }
        "ENV" => {
            let mut env = c.env().clone().unwrap_or_default();
            for (k, v) in pairs(rest, true).map_err(fail)? {
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix) && *e != k);
                env.push(format!("{k}={v}"));
            }
            c.set_env(Some(env));
        }
        "LABEL" => {
            let mut labels = c.labels().clone().unwrap_or_default();
            for (k, v) in pairs(rest, false).map_err(fail)? {
                labels.insert(k, v);
            }
            c.set_labels(Some(labels));
        }
        "WORKDIR" => {
            let dir = if rest.starts_with('/') {
                PathBuf::from(rest)
            } else {
                Path::new(c.working_dir().as_deref().unwrap_or("/")).join(rest)
            };
            c.set_working_dir(Some(dir.to_string_lossy().into_owned()));
        }
        "USER" => {
            c.set_user(Some(rest.to_string()));
        }
        "STOPSIGNAL" => {
            c.set_stop_signal(Some(rest.to_string()));
        }
        "EXPOSE" => {
            let mut ports = c.exposed_ports().clone().unwrap_or_default();
            for p in words(rest).map_err(fail)? {
                let p = if p.contains('/') {
                    p
                } else {
                    format!("{p}/tcp")
                };
                let (num, proto) = p.split_once('/').expect("has a /");
                if num.parse::<u16>().is_err() || !["tcp", "udp", "sctp"].contains(&proto) {
                    return Err(fail(format!("{p:?} is not PORT[/tcp|udp|sctp]")));
                }
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            c.set_exposed_ports(Some(ports));
        }
        "VOLUME" => {
            let mut vols = c.volumes().clone().unwrap_or_default();
            let new = if rest.starts_with('[') {
                json_array(rest).map_err(fail)?
            } else {
                words(rest).map_err(fail)?
            };
            for v in new {
                if !vols.contains(&v) {
                    vols.push(v);
                }
            }
            c.set_volumes(Some(vols));
        }
        _ => unreachable!("CHANGES lists every arm"),
    }
    config.set_config(Some(c));
    Ok(())
}

/// A JSON array of strings, or the shell form.
fn exec_form(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') {
        if let Ok(v) = json_array(rest) {
            return Ok(v);
        }
    }
    // As docker: text that is not a valid JSON array is shell form.
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

fn json_array(s: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(s).map_err(|e| format!("not a JSON array of strings: {e}"))
}

/// `K=V K2="V 2"`; with `legacy`, also `K V...` (ENV's old form).
fn pairs(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let ws = words(rest)?;
    if legacy && !ws[0].contains('=') {
        let (k, v) = rest
            .split_once(|c: char| c.is_whitespace())
            .ok_or("ENV KEY VALUE needs a value")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Splits at unquoted whitespace; `"..."` and `'...'` group, `\` escapes
/// (not inside single quotes). Quotes are removed.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                cur.push(chars.next().ok_or("trailing backslash")?);
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(changes: &[&str]) -> Config {
        let mut c = ImageConfiguration::default();
        for ch in changes {
            apply_change(&mut c, ch).unwrap();
        }
        c.config().clone().unwrap()
    }

    #[test]
    fn cmd_and_entrypoint_take_json_or_shell_form() {
        let c = cfg(&[r#"CMD ["/bin/echo","hi"]"#, "entrypoint exec app --x"]);
        assert_eq!(c.cmd().as_deref().unwrap(), ["/bin/echo", "hi"]);
        assert_eq!(
            c.entrypoint().as_deref().unwrap(),
            ["/bin/sh", "-c", "exec app --x"]
        );
        let c = cfg(&["CMD [not json"]);
        assert_eq!(c.cmd().as_deref().unwrap(), ["/bin/sh", "-c", "[not json"]);
    }

    #[test]
    fn env_replaces_and_quotes_group() {
        let c = cfg(&["ENV A=1 B=\"x y\"", "ENV A=2", "ENV C hello world"]);
        assert_eq!(
            c.env().as_deref().unwrap(),
            ["B=x y", "A=2", "C=hello world"]
        );
    }

    #[test]
    fn label_expose_volume_workdir_user_stopsignal() {
        let c = cfg(&[
            "LABEL a=b 'c d'=e",
            "EXPOSE 80 53/udp 80",
            r#"VOLUME ["/data"]"#,
            "VOLUME /a /b",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "STOPSIGNAL SIGTERM",
        ]);
        let l = c.labels().clone().unwrap();
        assert_eq!(l["a"], "b");
        assert_eq!(l["c d"], "e");
        assert_eq!(c.exposed_ports().as_deref().unwrap(), ["80/tcp", "53/udp"]);
        assert_eq!(c.volumes().as_deref().unwrap(), ["/data", "/a", "/b"]);
        assert_eq!(c.working_dir().as_deref(), Some("/srv/app"));
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        assert_eq!(c.stop_signal().as_deref(), Some("SIGTERM"));
    }

    #[test]
    fn bad_changes_are_refused() {
        let mut c = ImageConfiguration::default();
        for bad in [
            "RUN echo",
            "CMD",
            "EXPOSE http",
            "LABEL novalue",
            "ENV A=\"open",
        ] {
            assert!(apply_change(&mut c, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_208_000), "2024-02-29T12:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn a_layer_is_hashed_both_ways_and_the_draft_lists_it() {
        let (store, _dir) = crate::store::tests::temp_store("author");
        let tar: &[u8] = &[0u8; 1024];
        let l = write_layer(&store, tar).unwrap();
        assert_eq!(
            l.diff_id,
            format!("sha256:{}", crate::store::sha256_hex(tar))
        );
        let blob = store.read_blob(l.desc.digest()).unwrap();
        assert_eq!(blob.len() as u64, l.desc.size());
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw, tar);
        assert!(std::fs::read_dir(store.tmp_dir()).unwrap().next().is_none());

        let mut d = ImageDraft::from_base(None);
        d.add_layer(&l, history("imagectl import", None, None, false));
        d.add_history(history("imagectl commit --change CMD", None, None, false));
        let m = d.write(&store).unwrap();
        let manifest: oci_spec::image::ImageManifest =
            serde_json::from_slice(&store.read_blob(m.digest()).unwrap()).unwrap();
        assert_eq!(manifest.layers().len(), 1);
        let config: ImageConfiguration =
            serde_json::from_slice(&store.read_blob(manifest.config().digest()).unwrap()).unwrap();
        assert_eq!(config.rootfs().diff_ids(), std::slice::from_ref(&l.diff_id));
        let h = config.history().clone().unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].empty_layer(), Some(true));
        assert!(config.created().is_some());
    }

    #[test]
    fn a_failing_producer_leaves_no_blob() {
        let (store, _dir) = crate::store::tests::temp_store("author-fail");
        let r = write_layer_with(&store, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(matches!(r, Err(AuthorError::Layer(_))));
        assert!(std::fs::read_dir(store.tmp_dir()).unwrap().next().is_none());
    }
}
