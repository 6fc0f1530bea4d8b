//! `imagectl search [--limit N] [registry flags] REGISTRY/TERM`: the
//! registry's catalog filtered by TERM, one NAME per line under a header.

use super::pull::RegistryFlags;
use super::Ctx;
use crate::registry::{self, catalog};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `REGISTRY/TERM` (`127.0.0.1:5000/busy`; `REGISTRY/` lists all).
    pub query: String,
    /// At most this many results.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub limit: usize,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

pub fn run(_ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let (reg, term) = catalog::split_query(&a.query);
    let rt = registry::runtime()?;
    let names = rt.block_on(async {
        let s =
            registry::connect(&reg, "", &a.registry.transport(), &a.registry.auth_files()).await?;
        catalog::search(&s, &term, a.limit).await
    })?;
    println!("NAME");
    for n in names {
        println!("{reg}/{n}");
    }
    Ok(0)
}
