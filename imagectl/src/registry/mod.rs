//! Moving images between the [`crate::store`] and registries speaking the
//! distribution API: [`pull`] (index/list → one platform, blobs streamed
//! into the store and verified there), [`push`] (monolithic or chunked
//! uploads, cross-repository mounts), [`catalog`] (search), credentials in
//! [`auth`] (auth.json, docker's config.json), the connection and its
//! authentication in [`client`], display in [`progress`].
//!
//! Boundary: this module never names an image until every blob it needs is
//! committed to the store, and never edits files other than the store and
//! the auth file.

pub mod auth;
pub mod catalog;
pub mod challenge;
pub mod client;
pub mod progress;
pub mod pull;
pub mod push;

use std::path::PathBuf;

use crate::image::ImageError;
use crate::reference::Reference;
use crate::store::StoreError;

pub use auth::{AuthError, AuthFiles, Credentials};
pub use client::{Session, Transport};

/// Media types a pull accepts for manifests, in preference order.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: cannot reach the registry: {detail}")]
    Unreachable { registry: String, detail: String },
    #[error("{registry}: authentication required (run `imagectl login {registry}`)")]
    AuthRequired { registry: String },
    #[error("{registry}: wrong username or password")]
    BadCredentials { registry: String },
    #[error("{what}: access denied by {registry} for these credentials")]
    Denied { what: String, registry: String },
    #[error("{registry}: token request to {realm} failed: {detail}")]
    Token {
        registry: String,
        realm: String,
        detail: String,
    },
    #[error("{0}: not found in the registry")]
    NotFound(String),
    #[error("{what}: {detail}")]
    Protocol { what: String, detail: String },
    #[error("{what}: {}", client::error_chain(source))]
    Distribution {
        what: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("{what}: {detail}")]
    Transfer { what: String, detail: String },
    #[error("{name}: no manifest for platform {platform} (the index has: {available})")]
    NoPlatform {
        name: String,
        platform: String,
        available: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// oci-client's reference for ours (the repository path as is).
pub fn oci_ref(r: &Reference) -> oci_client::Reference {
    let reg = client::api_host(&r.registry).to_string();
    match (&r.tag, &r.digest) {
        (Some(t), Some(d)) => oci_client::Reference::with_tag_and_digest(
            reg,
            r.repository.clone(),
            t.clone(),
            d.clone(),
        ),
        (None, Some(d)) => oci_client::Reference::with_digest(reg, r.repository.clone(), d.clone()),
        (t, None) => oci_client::Reference::with_tag(
            reg,
            r.repository.clone(),
            t.clone()
                .unwrap_or_else(|| crate::reference::DEFAULT_TAG.into()),
        ),
    }
}

/// The same repository, addressed by `digest`.
pub fn oci_ref_digest(r: &Reference, digest: &str) -> oci_client::Reference {
    oci_client::Reference::with_digest(
        client::api_host(&r.registry).to_string(),
        r.repository.clone(),
        digest.to_string(),
    )
}

/// Opens a session to `r`'s registry with whatever credentials the auth
/// files hold for it.
pub async fn connect(
    registry: &str,
    repository: &str,
    t: &Transport,
    files: &AuthFiles,
) -> Result<Session, RegistryError> {
    let creds = files.lookup(registry, repository)?.map(|(c, _)| c);
    Session::connect(registry, t, creds).await
}

/// A small runtime for one command: a couple of workers are enough to
/// overlap a few downloads with hashing and writing.
pub fn runtime() -> Result<tokio::runtime::Runtime, RegistryError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| RegistryError::Io {
            path: "tokio runtime".into(),
            source,
        })
}
