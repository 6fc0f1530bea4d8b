//! `imagectl load [-i FILE] [-q]`: images from a docker-archive (any Docker
//! layout) or an oci-archive, detected, read from stdin unless `-i`; names
//! as the archive gives them (see [`crate::archive`] for unnamed images).

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context;

use super::Ctx;
use crate::archive;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read from FILE instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print nothing.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let loaded = match &a.input {
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| p.display().to_string())?;
            archive::load(&store, BufReader::with_capacity(1 << 20, f))
                .with_context(|| p.display().to_string())?
        }
        None => archive::load(
            &store,
            BufReader::with_capacity(1 << 20, std::io::stdin().lock()),
        )
        .context("stdin")?,
    };
    if !a.quiet {
        for l in &loaded {
            for n in &l.names {
                println!("Loaded image: {n} ({})", l.id);
            }
        }
    }
    Ok(0)
}
