//! Bundles: a stored image as an OCI runtime bundle berth (or runc) can
//! run. [`config`] converts the image config to `config.json`, [`user`]
//! resolves `Config.User` inside the image, [`rootfs`] mounts or fills the
//! root filesystem.
//!
//! Layout of a bundle directory DIR:
//! ```text
//! DIR/config.json        the runtime config (root.path "rootfs")
//! DIR/rootfs/            overlay: lowerdir = cached layers (top first),
//!                        or, with --copy, a plain directory
//! DIR/.upper/            overlay upperdir: everything the container writes
//! DIR/.work/             overlay workdir
//! DIR/.empty/            the lower layer of an image with no layers
//! DIR/.imagectl-bundle   marker (JSON: image, mode, layers), so that
//!                        `imagectl unpack --remove DIR` removes only bundles
//! ```
//! An overlay bundle costs a mount, not a copy: layers are extracted once
//! into the layer cache ([`crate::layer::cache`]). Remove a bundle with
//! [`remove`] (`imagectl unpack --remove DIR`): it unmounts the rootfs and
//! deletes DIR.
//!
//! Failure leaves nothing behind: a DIR that did not exist is removed
//! again, and in an (empty) DIR that did exist, what was created in it is.

pub mod config;
pub mod rootfs;
pub mod user;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::image::Image;
use crate::layer::{self, Form, LayerError};
use crate::store::{Store, StoreError};

pub const MARKER: &str = ".imagectl-bundle";
const CREATED: &[&str] = &["config.json", "rootfs", ".upper", ".work", ".empty", MARKER];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsMode {
    /// overlayfs over the layer cache.
    Overlay,
    /// Layers applied onto a plain directory.
    Copy,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}: exists and is not an empty directory (refusing to write a bundle into it)")]
    NotEmpty(PathBuf),
    #[error("{0}: not a bundle made by imagectl (no {MARKER})")]
    NotABundle(PathBuf),
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("image config {digest}: {detail}")]
    Config { digest: String, detail: String },
    #[error("image config: {0}")]
    User(#[from] user::UserError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_at(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |source| BundleError::Io { path, op, source }
}

/// What [`unpack`] made.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub mode: RootfsMode,
    /// The layer cache dirs the overlay stacks (bottom first); empty for
    /// a copy.
    pub layers: Vec<PathBuf>,
    /// How many layers had to be extracted (0: all came from the cache).
    pub extracted: usize,
    pub config: serde_json::Value,
}

/// Undoes a half-made bundle on drop unless disarmed.
struct Cleanup {
    dir: PathBuf,
    made_dir: bool,
    mounted: bool,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let rootfs = self.dir.join("rootfs");
        if self.mounted && rootfs::unmount(&rootfs).is_err() {
            // Still mounted: removing would reach into the overlay.
            return;
        }
        if self.made_dir {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            for n in CREATED {
                let p = self.dir.join(n);
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        }
    }
}

/// Makes `dir` (missing, or an empty directory) a bundle of `image`.
/// Holds the store's use lock throughout, so gc cannot take a layer from
/// under it.
pub fn unpack(
    store: &Store,
    image: &Image,
    dir: &Path,
    mode: RootfsMode,
) -> Result<Bundle, BundleError> {
    let _lock = store.use_lock()?;
    let doc = config::ImageDoc::parse(&image.config_raw).map_err(|e| BundleError::Config {
        digest: image.id().to_string(),
        detail: e.to_string(),
    })?;
    if let Some(os) = doc.os.as_deref().filter(|o| !o.is_empty() && *o != "linux") {
        return Err(BundleError::Config {
            digest: image.id().to_string(),
            detail: format!("os {os:?}: only linux images can be unpacked"),
        });
    }
    let diff_ids = diff_ids(image)?;
    let made_dir = prepare_dir(dir)?;
    let mut guard = Cleanup {
        dir: dir.to_path_buf(),
        made_dir,
        mounted: false,
        armed: true,
    };
    let root = dir.join("rootfs");
    fs::create_dir(&root).map_err(io_at(&root, "mkdir"))?;
    let (layers, extracted) = match mode {
        RootfsMode::Overlay => {
            let r = overlay_rootfs(store, image, &diff_ids, dir)?;
            guard.mounted = true;
            r
        }
        RootfsMode::Copy => {
            for (l, d) in image.manifest.layers().iter().zip(&diff_ids) {
                layer::apply_blob(store, l, Some(d), &root, Form::Merged)?;
            }
            (Vec::new(), diff_ids.len())
        }
    };
    let passwd =
        rootfs::read_in_root(&root, "etc/passwd").map_err(io_at(&root, "read /etc/passwd"))?;
    let group =
        rootfs::read_in_root(&root, "etc/group").map_err(io_at(&root, "read /etc/group"))?;
    let user = user::resolve(
        doc.exec().user.as_deref().unwrap_or(""),
        passwd.as_deref(),
        group.as_deref(),
    )?;
    let spec = config::runtime_config(&doc, &user);
    write_json(&dir.join("config.json"), &spec)?;
    let marker = json!({
        "image": image.id().to_string(),
        "name": image.name,
        "mode": match mode { RootfsMode::Overlay => "overlay", RootfsMode::Copy => "copy" },
        "layers": layers,
    });
    write_json(&dir.join(MARKER), &marker)?;
    guard.armed = false;
    Ok(Bundle {
        dir: dir.to_path_buf(),
        mode,
        layers,
        extracted,
        config: spec,
    })
}

/// Unmounts (when mounted) and deletes a bundle made by [`unpack`].
pub fn remove(dir: &Path) -> Result<(), BundleError> {
    if !dir.join(MARKER).is_file() {
        return Err(BundleError::NotABundle(dir.to_path_buf()));
    }
    let root = dir.join("rootfs");
    if rootfs::is_mountpoint(&root) {
        rootfs::unmount(&root).map_err(io_at(&root, "unmount"))?;
    }
    if rootfs::is_mountpoint(&root) {
        return Err(BundleError::Io {
            path: root,
            op: "unmount",
            source: io::Error::other("still mounted (mounted more than once?)"),
        });
    }
    fs::remove_dir_all(dir).map_err(io_at(dir, "remove"))
}

/// Mounts DIR/rootfs over the image's cached layers (extracting the
/// missing ones). Returns the layer dirs (bottom first) and how many had
/// to be extracted.
fn overlay_rootfs(
    store: &Store,
    image: &Image,
    diff_ids: &[String],
    dir: &Path,
) -> Result<(Vec<PathBuf>, usize), BundleError> {
    let all: Vec<_> = image.manifest.layers().iter().zip(diff_ids).collect();
    let extracted = all
        .iter()
        .filter(|(l, _)| !layer::cache::contains(store, l))
        .count();
    let layers = ensure_layers(store, &all)?;
    let upper = dir.join(".upper");
    let work = dir.join(".work");
    fs::create_dir(&upper).map_err(io_at(&upper, "mkdir"))?;
    // The overlay's root takes its owner and mode from the upper dir:
    // give it the top layer's (the image's `/`).
    if let Some(top) = layers.last() {
        copy_owner_mode(top, &upper)?;
    }
    fs::create_dir(&work).map_err(io_at(&work, "mkdir"))?;
    let mut lowers: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    if lowers.is_empty() {
        // overlayfs needs a lower layer; an image with none is empty.
        let empty = dir.join(".empty");
        fs::create_dir(&empty).map_err(io_at(&empty, "mkdir"))?;
        lowers.push(empty);
    }
    let root = dir.join("rootfs");
    rootfs::mount_overlay(&lowers, &upper, &work, &root).map_err(io_at(&root, "mount overlay"))?;
    Ok((layers, extracted))
}

/// The cache dirs of `layers` (bottom first), extracting the missing
/// ones in parallel: each is its own directory, and a cold unpack is
/// bound by inflate and sha256, which parallelise per layer.
fn ensure_layers(
    store: &Store,
    layers: &[(&oci_spec::image::Descriptor, &String)],
) -> Result<Vec<PathBuf>, BundleError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let missing: Vec<usize> = (0..layers.len())
        .filter(|&i| !layer::cache::contains(store, layers[i].0))
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(missing.len());
    if workers > 1 {
        let next = AtomicUsize::new(0);
        let first_err: Mutex<Option<LayerError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = missing.get(k) else { break };
                    if first_err.lock().unwrap().is_some() {
                        break;
                    }
                    let (l, d) = layers[i];
                    if let Err(e) = layer::cache::ensure(store, l, Some(d)) {
                        first_err.lock().unwrap().get_or_insert(e);
                        break;
                    }
                });
            }
        });
        if let Some(e) = first_err.into_inner().unwrap() {
            return Err(e.into());
        }
    }
    // Sequentially (and for the already-cached ones, instantly): the
    // paths, in order.
    layers
        .iter()
        .map(|(l, d)| Ok(layer::cache::ensure(store, l, Some(d))?))
        .collect()
}

fn copy_owner_mode(from: &Path, to: &Path) -> Result<(), BundleError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = fs::metadata(from).map_err(io_at(from, "stat"))?;
    std::os::unix::fs::chown(to, Some(m.uid()), Some(m.gid())).map_err(io_at(to, "chown"))?;
    fs::set_permissions(to, fs::Permissions::from_mode(m.mode() & 0o7777))
        .map_err(io_at(to, "chmod"))
}

/// The config's diff_ids, one per manifest layer.
fn diff_ids(image: &Image) -> Result<Vec<String>, BundleError> {
    let ids: Vec<String> = image.config.rootfs().diff_ids().to_vec();
    let n = image.manifest.layers().len();
    if ids.len() != n {
        return Err(BundleError::Config {
            digest: image.id().to_string(),
            detail: format!("{} diff_ids for {n} layers", ids.len()),
        });
    }
    Ok(ids)
}

/// Creates `dir`, or checks it is empty. True when we created it.
fn prepare_dir(dir: &Path) -> Result<bool, BundleError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(dir).map_err(io_at(dir, "mkdir"))?;
            Ok(true)
        }
        Err(e) => Err(io_at(dir, "stat")(e)),
        Ok(m) if m.is_dir() => {
            let mut rd = fs::read_dir(dir).map_err(io_at(dir, "read"))?;
            if rd.next().is_some() {
                return Err(BundleError::NotEmpty(dir.to_path_buf()));
            }
            Ok(false)
        }
        Ok(_) => Err(BundleError::NotEmpty(dir.to_path_buf())),
    }
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), BundleError> {
    let mut bytes = serde_json::to_vec_pretty(v).expect("JSON values serialise");
    bytes.push(b'\n');
    fs::write(path, bytes).map_err(io_at(path, "write"))
}
