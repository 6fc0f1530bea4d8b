//! `imagectl commit`: not implemented yet.

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("commit: not implemented yet")
}
