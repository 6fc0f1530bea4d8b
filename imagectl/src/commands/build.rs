//! `imagectl build -t NAME[:TAG] [-f Dockerfile] [--build-arg K=V]
//! [--target STAGE] [--no-cache] [--platform P] [--runtime PATH] CONTEXT`:
//! builds a Dockerfile into the store (see [`crate::build`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Ctx;
use crate::build::{self, Options};
use crate::platform::Platform;
use crate::reference;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Name the result (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A build argument (repeatable); `K` alone takes K from the environment.
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// Build up to this stage.
    #[arg(long)]
    pub target: Option<String>,
    /// Run every step (the cache is still filled).
    #[arg(long)]
    pub no_cache: bool,
    /// The platform of base images (default: this machine's).
    #[arg(long)]
    pub platform: Option<Platform>,
    /// The OCI runtime that runs RUN steps.
    #[arg(long, value_name = "PATH", default_value = "berth")]
    pub runtime: PathBuf,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    build::interrupt::install();
    let store = ctx.store()?;
    let mut build_args = BTreeMap::new();
    for kv in &a.build_args {
        match kv.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            None => match std::env::var(kv) {
                Ok(v) => build_args.insert(kv.clone(), v),
                Err(_) => continue,
            },
        };
    }
    let tags = a
        .tags
        .iter()
        .map(|t| Ok(reference::parse(t)?.to_string()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = Options {
        context: a.context,
        dockerfile: a.file,
        tags,
        build_args,
        target: a.target,
        no_cache: a.no_cache,
        platform: a.platform.unwrap_or_else(Platform::host),
        runtime: a.runtime,
    };
    let mut sink = std::io::sink();
    let mut err = std::io::stderr();
    let out: &mut dyn std::io::Write = if a.quiet { &mut sink } else { &mut err };
    let b = build::build(&store, &opts, out)?;
    if !a.quiet {
        eprintln!(
            "{} steps, {} from cache{}",
            b.steps,
            b.cached,
            if opts.tags.is_empty() {
                String::new()
            } else {
                format!("; named {}", opts.tags.join(", "))
            }
        );
    }
    println!("{}", b.id);
    Ok(0)
}
