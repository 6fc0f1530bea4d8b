//! `imagectl export [-o FILE] CONTAINER|BUNDLE`: a rootfs as a tar, as
//! `docker export` writes it (see [`crate::archive::rootfs`]). BUNDLE is a
//! directory with a config.json; anything else is a berth container id,
//! whose bundle `berth state ID` reports. The rootfs is config.json's
//! `root.path` (relative to the bundle).

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::Ctx;
use crate::archive::rootfs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to FILE instead of stdout (via FILE.tmp + rename).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The runtime to ask for a container's bundle.
    #[arg(long, value_name = "PATH", default_value = "berth")]
    pub runtime: PathBuf,
    /// The runtime's state root (its --root).
    #[arg(long, value_name = "DIR")]
    pub runtime_root: Option<PathBuf>,
    /// A container id or a bundle directory.
    #[arg(value_name = "CONTAINER|BUNDLE")]
    pub target: String,
}

pub fn run(_ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let bundle = bundle_of(&a)?;
    let cfg_path = bundle.join("config.json");
    let cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&cfg_path).with_context(|| cfg_path.display().to_string())?,
    )
    .with_context(|| cfg_path.display().to_string())?;
    let root = cfg["root"]["path"]
        .as_str()
        .with_context(|| format!("{}: root.path: missing", cfg_path.display()))?;
    let root = bundle.join(root);
    match &a.output {
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!(
                    "refusing to write a tar to a terminal: use -o FILE or redirect stdout"
                );
            }
            let (mut out, _) =
                rootfs::write_tree(&root, BufWriter::with_capacity(1 << 20, stdout.lock()))?;
            out.flush().context("stdout")?;
        }
        Some(path) => {
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".tmp");
            let tmp = PathBuf::from(tmp);
            let r = (|| -> anyhow::Result<()> {
                let f = std::fs::File::create(&tmp).with_context(|| tmp.display().to_string())?;
                let (out, _) = rootfs::write_tree(&root, BufWriter::with_capacity(1 << 20, f))?;
                let f = out.into_inner().map_err(|e| e.into_error())?;
                f.sync_all()?;
                std::fs::rename(&tmp, path).with_context(|| path.display().to_string())
            })();
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r?;
        }
    }
    Ok(0)
}

/// The bundle dir: TARGET itself when it holds a config.json, else what
/// `RUNTIME [--root DIR] state TARGET` says.
fn bundle_of(a: &Args) -> anyhow::Result<PathBuf> {
    let p = Path::new(&a.target);
    if p.join("config.json").is_file() {
        return Ok(p.to_path_buf());
    }
    if a.target.contains('/') {
        anyhow::bail!("{}: not a bundle (no config.json)", a.target);
    }
    let mut cmd = Command::new(&a.runtime);
    if let Some(r) = &a.runtime_root {
        cmd.arg("--root").arg(r);
    }
    let out = cmd.arg("state").arg(&a.target).output().with_context(|| {
        format!(
            "{}: not a bundle dir, and the runtime {} to ask about a container",
            a.target,
            a.runtime.display()
        )
    })?;
    if !out.status.success() {
        anyhow::bail!(
            "{}: neither a bundle directory nor a container ({} state: {})",
            a.target,
            a.runtime.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let st: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} state {}: output", a.runtime.display(), a.target))?;
    let b = st["bundle"]
        .as_str()
        .with_context(|| format!("{} state {}: no bundle", a.runtime.display(), a.target))?;
    Ok(PathBuf::from(b))
}
