//! `imagectl pull [--platform P] [--jobs N] [-q] [--tls-verify[=B]]
//! [--ca-bundle F] [--authfile F] IMAGE`; also home of the registry flags
//! every registry verb shares ([`RegistryFlags`]).

use std::path::PathBuf;

use super::Ctx;
use crate::platform::Platform;
use crate::reference;
use crate::registry::progress::{human_bytes, Progress};
use crate::registry::pull::{pull, PullOptions};
use crate::registry::{self, AuthFiles, Transport};

/// How to reach the registry and where credentials are.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryFlags {
    /// Require https with a verified certificate (`=false`: skip
    /// verification and allow plain http). Default: verify, but plain http
    /// is allowed for localhost and 127.0.0.0/8, as docker does.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Extra trusted CA certificates (a PEM bundle).
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// The credentials file (default $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json or /run/containers/UID/auth.json;
    /// ~/.docker/config.json is read too).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

impl RegistryFlags {
    pub fn transport(&self) -> Transport {
        Transport {
            tls_verify: self.tls_verify,
            ca_bundle: self.ca_bundle.clone(),
        }
    }

    pub fn auth_files(&self) -> AuthFiles {
        AuthFiles::from_env(self.authfile.as_deref())
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image (docker-normalised: `busybox` is docker.io/library/busybox:latest).
    pub image: String,
    /// Platform to pick from an index or manifest list (os/arch[/variant]);
    /// default: this machine's.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    /// Blobs downloaded at once.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub jobs: usize,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let r = reference::parse(&a.image)?;
    let store = ctx.store()?;
    let opts = PullOptions {
        platform: a.platform.clone().unwrap_or_else(Platform::host),
        jobs: a.jobs,
    };
    let progress = Progress::new(a.quiet);
    let rt = registry::runtime()?;
    let report = rt.block_on(async {
        let s = registry::connect(
            &r.registry,
            &r.repository,
            &a.registry.transport(),
            &a.registry.auth_files(),
        )
        .await?;
        pull(&store, &s, &r, &opts, &progress).await
    })?;
    progress.line(&format!(
        "Pulled {} (manifest {}): {} blobs fetched ({}), {} already present",
        report.name,
        report.manifest_digest,
        report.fetched,
        human_bytes(report.fetched_bytes),
        report.present
    ));
    println!("{}", report.config_digest);
    Ok(0)
}
