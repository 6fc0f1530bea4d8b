//! `imagectl login [-u USER] [-p PASS | --password-stdin] [registry flags]
//! REGISTRY`: checks the credentials against the registry, then stores
//! them in auth.json (see [`crate::registry::auth`] for which file).

use std::io::{BufRead, IsTerminal, Write};

use super::pull::RegistryFlags;
use super::Ctx;
use crate::registry::{self, auth::normalize_key, Credentials, Session};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `host[:port]` (or `host/path` for credentials scoped to a namespace).
    pub registry: String,
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password (visible to other users in `ps`; prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    #[command(flatten)]
    pub flags: RegistryFlags,
}

fn prompt(what: &str) -> anyhow::Result<String> {
    eprint!("{what}: ");
    std::io::stderr().flush()?;
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

pub fn run(_ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let key = normalize_key(&a.registry);
    let host = key.split('/').next().unwrap_or(&key).to_string();
    let username = match a.username {
        Some(u) => u,
        None if std::io::stdin().is_terminal() && !a.password_stdin => prompt("Username")?,
        None => anyhow::bail!("login: --username is required when stdin is not a terminal"),
    };
    let password = match a.password {
        Some(p) => p,
        None => {
            if !a.password_stdin && std::io::stdin().is_terminal() {
                eprintln!("(the password is echoed; use --password-stdin to avoid it)");
            }
            if a.password_stdin {
                let mut s = String::new();
                std::io::stdin().lock().read_line(&mut s)?;
                s.trim_end_matches(['\n', '\r']).to_string()
            } else {
                prompt("Password")?
            }
        }
    };
    if username.is_empty() || password.is_empty() {
        anyhow::bail!("login: username and password must not be empty");
    }
    let creds = Credentials { username, password };
    let rt = registry::runtime()?;
    rt.block_on(async {
        let s = Session::connect(&host, &a.flags.transport(), Some(creds.clone())).await?;
        s.verify_login().await
    })?;
    let path = a.flags.auth_files().store(&key, &creds)?;
    eprintln!("credentials for {key} stored in {}", path.display());
    println!("Login Succeeded!");
    Ok(0)
}
