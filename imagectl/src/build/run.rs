//! RUN: the stage's image unpacked to a temp overlay bundle
//! (`bundle::unpack(.., RootfsMode::Overlay)`: a mount over the layer
//! cache, no copy), its config.json rewritten for the command (SHELL +
//! command or the JSON form, the stage's env plus the ARGs in scope, its
//! workdir and user; the host network: no network namespace, the host's
//! /etc/resolv.conf bind-mounted read-only), `berth run --bundle DIR ID`
//! with its output streamed, then the upper dir's changes as the layer
//! (`layer::diff::overlay_layer` into `author::write_layer_with`).
//!
//! One fresh bundle per RUN (not one per stage): each step's result is
//! an image anyway (the cache needs it), and a new mount over cached
//! layers costs less than keeping uppers consistent across steps. The
//! bundle is removed on every path ([`TempBundle`]'s drop), failures
//! included.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::dockerfile::{Instruction, ShellOrExec};
use super::executor::Builder;
use super::instructions;
use super::BuildError;
use crate::author::{self, NewLayer};
use crate::bundle::{self, rootfs, RootfsMode};
use crate::image::Image;

/// A temp bundle directory under the store's tmp/, removed on drop
/// (unmounting first).
pub(crate) struct TempBundle(pub PathBuf);

impl TempBundle {
    pub fn new(b: &Builder, what: &str) -> TempBundle {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempBundle(
            b.store
                .tmp_dir()
                .join(format!("build-{what}-{}-{n}", std::process::id())),
        )
    }
}

impl Drop for TempBundle {
    fn drop(&mut self) {
        if self.0.join(bundle::MARKER).exists() {
            let _ = bundle::remove(&self.0);
        } else {
            let root = self.0.join("rootfs");
            if rootfs::is_mountpoint(&root) {
                let _ = rootfs::unmount(&root);
            }
            if !rootfs::is_mountpoint(&root) {
                let _ = fs::remove_dir_all(&self.0);
            }
        }
    }
}

/// The stage's image, writing an empty one for a scratch stage.
pub(crate) fn stage_image(b: &mut Builder, s: usize) -> Result<Image, BuildError> {
    if let Some(i) = &b.stages[s].img {
        return Ok(i.clone());
    }
    let img = b.write_draft(&b.stages[s], author::ImageDraft::from_base(None))?;
    b.stages[s].img = Some(img.clone());
    Ok(img)
}

/// Runs one RUN step; returns its layer.
pub(crate) fn run(
    b: &mut Builder,
    s: usize,
    i: &Instruction,
    form: &ShellOrExec,
    flags: &[(String, String)],
) -> Result<NewLayer, BuildError> {
    let mut host_network = true;
    for (k, v) in flags {
        match (k.as_str(), v.as_str()) {
            ("network", "default" | "host") => {}
            ("network", "none") => host_network = false,
            _ => {
                return Err(BuildError::Step(format!(
                    "line {}: RUN --{k}={v}: not supported",
                    i.pos.line
                )))
            }
        }
    }
    let img = stage_image(b, s)?;
    let tb = TempBundle::new(b, "run");
    let bun = bundle::unpack(b.store, &img, &tb.0, RootfsMode::Overlay)?;
    let root = tb.0.join("rootfs");
    let st = &b.stages[s];
    let argv = instructions::argv(form, &st.extras.shell);
    let mut spec = bun.config.clone();
    let p = &mut spec["process"];
    p["args"] = json!(argv);
    p["terminal"] = json!(false);
    let mut env: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for (k, v) in &st.vars.args {
        if !env
            .iter()
            .any(|e| e.split_once('=').is_some_and(|(n, _)| n == k))
        {
            env.push(format!("{k}={v}"));
        }
    }
    p["env"] = json!(env);
    let cwd = st.workdir().unwrap_or_else(|| "/".into());
    p["cwd"] = json!(cwd);
    // The working dir must exist (docker creates it); made through the
    // overlay, it becomes part of this step's layer.
    let rel = super::copy::resolve_in_root(&root, &cwd)?;
    fs::create_dir_all(root.join(&rel)).map_err(io_at(&root.join(&rel)))?;
    if host_network {
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
    }
    let etc = root.join("etc");
    let resolv_target_made =
        if host_network && etc.is_dir() && Path::new("/etc/resolv.conf").exists() {
            let t = etc.join("resolv.conf");
            let made = fs::symlink_metadata(&t).is_err();
            if let Some(m) = spec["mounts"].as_array_mut() {
                m.push(json!({
                    "destination": "/etc/resolv.conf",
                    "type": "bind",
                    "source": "/etc/resolv.conf",
                    "options": ["rbind", "ro"],
                }));
            }
            if made {
                fs::write(&t, b"").map_err(io_at(&t))?;
            }
            made
        } else {
            false
        };
    let cfg = tb.0.join("config.json");
    fs::write(
        &cfg,
        serde_json::to_vec_pretty(&spec).expect("JSON values serialise"),
    )
    .map_err(io_at(&cfg))?;
    let id = format!(
        "imagectl-build-{}-{}",
        std::process::id(),
        tb.0.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string())
    );
    let code = exec_runtime(b, &tb.0, &id)?;
    if super::interrupt::interrupted() {
        return Err(BuildError::Interrupted);
    }
    if code != 0 {
        return Err(BuildError::RunFailed {
            text: i.text.clone(),
            code,
        });
    }
    rootfs::unmount(&root).map_err(io_at(&root))?;
    let upper = tb.0.join(".upper");
    if resolv_target_made {
        // Only the mount point we made: leave it out of the layer.
        let t = upper.join("etc/resolv.conf");
        if fs::metadata(&t).is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(&t);
        }
    }
    let lowers = bun.layers.clone();
    let layer = author::write_layer_with(b.store, |w| {
        crate::layer::diff::overlay_layer(&upper, &lowers, w)
            .map(|_| ())
            .map_err(io::Error::other)
    })?;
    drop(tb);
    Ok(layer)
}

/// `RUNTIME run --bundle DIR ID`, output prefixed and streamed; the exit
/// code (128+N for a signal).
fn exec_runtime(b: &mut Builder, dir: &Path, id: &str) -> Result<i32, BuildError> {
    let mut child = Proc::new(&b.opts.runtime)
        .args(["run", "--bundle"])
        .arg(dir)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BuildError::Runtime(format!("{}: {e}", b.opts.runtime.display())))?;
    super::interrupt::set_child(Some(super::interrupt::Running {
        pid: child.id(),
        runtime: b.opts.runtime.clone(),
        id: id.to_string(),
    }));
    let err = child.stderr.take().expect("piped");
    let errs = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            lines.push(l);
        }
        lines
    });
    if let Some(out) = child.stdout.take() {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = writeln!(b.out, "  | {l}");
        }
    }
    for l in errs.join().unwrap_or_default() {
        let _ = writeln!(b.out, "  | {l}");
    }
    let st = child.wait();
    super::interrupt::set_child(None);
    let st = st.map_err(|e| BuildError::Runtime(format!("wait: {e}")))?;
    // Best effort: a runtime that kept state for a failed container.
    let _ = Proc::new(&b.opts.runtime)
        .args(["delete", "--force", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    use std::os::unix::process::ExitStatusExt;
    Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
}

fn io_at(p: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: p.to_path_buf(),
        source,
    }
}
