//! The command line: global flags here, each verb's flags in its own
//! `commands/<verb>.rs` (clap derive), so verbs stay one hop away.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;

#[derive(Debug, Parser)]
#[command(
    name = "imagectl",
    version,
    about = "Daemonless image manager: OCI image store, registries, bundles"
)]
pub struct Cli {
    /// The store's root (default /var/lib/imagectl for root,
    /// $XDG_DATA_HOME/imagectl otherwise).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull an image from a registry into the store.
    Pull(commands::pull::Args),
    /// Push an image from the store to a registry.
    Push(commands::push::Args),
    /// Store credentials for a registry (containers' auth.json).
    Login(commands::login::Args),
    /// Remove stored credentials.
    Logout(commands::logout::Args),
    /// Search a registry's catalog.
    Search(commands::search::Args),
    /// Give an image another name.
    Tag(commands::tag::Args),
    /// List images.
    Images(commands::images::Args),
    /// Show an image's manifest and config as JSON.
    Inspect(commands::inspect::Args),
    /// Show an image's history.
    History(commands::history::Args),
    /// Remove image names (blobs go with `gc`).
    Rmi(commands::rmi::Args),
    /// Remove blobs and unpacked layers no name reaches.
    #[command(alias = "prune")]
    Gc(commands::gc::Args),
    /// Write an OCI runtime bundle for an image.
    Unpack(commands::unpack::Args),
    /// Write images to a docker-archive or oci-archive tar.
    Save(commands::save::Args),
    /// Read images from a docker-archive or oci-archive tar.
    Load(commands::load::Args),
    /// Write a container's or bundle's rootfs as a tar.
    Export(commands::export::Args),
    /// Make a one-layer image from a rootfs tar.
    Import(commands::import::Args),
    /// Make an image from a bundle's changes since unpack.
    Commit(commands::commit::Args),
    /// List a bundle's changes since unpack (A/C/D).
    Diff(commands::diff::Args),
    /// Build an image from a Dockerfile.
    Build(commands::build::Args),
}
