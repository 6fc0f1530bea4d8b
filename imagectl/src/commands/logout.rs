//! `imagectl logout [--authfile F] (--all | REGISTRY)`: removes stored
//! credentials from auth.json (docker's config.json is read, never edited).

use super::Ctx;
use crate::registry::{auth::normalize_key, AuthError, AuthFiles};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub registry: Option<String>,
    /// Remove the credentials of every registry.
    #[arg(short, long, conflicts_with = "registry")]
    pub all: bool,
    /// The credentials file (default as for `login`).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<std::path::PathBuf>,
}

pub fn run(_ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let files = AuthFiles::from_env(a.authfile.as_deref());
    if a.all {
        let p = files.remove_all()?;
        println!(
            "Removed login credentials for all registries ({})",
            p.display()
        );
        return Ok(0);
    }
    let Some(reg) = a.registry else {
        anyhow::bail!("logout: give a REGISTRY or --all");
    };
    let key = normalize_key(&reg);
    match files.remove(&key) {
        Ok(_) => {
            println!("Removed login credentials for {key}");
            Ok(0)
        }
        Err(AuthError::NotLoggedIn(k)) => {
            let host = k.split('/').next().unwrap_or(&k).to_string();
            match files.lookup(&host, "")? {
                Some((_, from)) => anyhow::bail!(
                    "not logged in to {k} in {} (the credentials in {} are not imagectl's to remove)",
                    files.write_path().display(),
                    from.display()
                ),
                None => anyhow::bail!("not logged in to {k}"),
            }
        }
        Err(e) => Err(e.into()),
    }
}
