//! `berth spec`: write runc's default config.json into a bundle directory.

use anyhow::bail;

use crate::cli::extras::Spec;

pub fn run(args: &Spec) -> anyhow::Result<i32> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = crate::spec::defaults::default_spec(
        args.rootless,
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let mut text = serde_json::to_string_pretty(&spec)?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
    Ok(0)
}
