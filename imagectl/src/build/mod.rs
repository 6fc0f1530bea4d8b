//! Dockerfile builds: [`dockerfile`] parses, [`instructions`] applies the
//! metadata instructions and ARG scoping, [`context`] reads the build
//! context (.dockerignore, globs, content hashes), [`cache`] keys steps,
//! [`executor`] runs the stages, [`run`] runs RUN in berth on an overlay
//! bundle, [`copy`] writes COPY/ADD layers.

pub mod cache;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod executor;
pub mod instructions;
pub mod interrupt;
pub mod run;

use std::io;
use std::path::PathBuf;

pub use executor::{build, Built, Options};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] dockerfile::ParseError),
    #[error("{0}")]
    Step(String),
    #[error("{text}: exit code {code}")]
    RunFailed { text: String, code: i32 },
    #[error("interrupted")]
    Interrupted,
    #[error("runtime: {0}")]
    Runtime(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Context(#[from] context::ContextError),
    #[error(transparent)]
    Author(#[from] crate::author::AuthorError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
