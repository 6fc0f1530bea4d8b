//! runc's verbs beyond the OCI lifecycle.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::oci::CreateOpts;

#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub create: super::oci::Create,
    /// Return once the process is started; do not wait for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
}

impl Run {
    pub fn opts(&self) -> &CreateOpts {
        &self.create.opts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct List {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct Spec {
    /// Where to write config.json.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// A spec for a rootless container.
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Debug, Args)]
pub struct Features {}
