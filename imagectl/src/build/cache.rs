//! The layer cache: a step's result (the manifest of the image after it)
//! under a key chained from the parent step's key, the instruction text,
//! the ARG values in scope and, for COPY/ADD, the content hash of the
//! sources (BuildKit's and buildah's approach). Entries live in
//! `<root>/build-cache/<key>` (the manifest descriptor as JSON); an entry
//! whose manifest was garbage-collected is a miss.

use std::fs;
use std::io;
use std::path::PathBuf;

use oci_spec::image::Descriptor;
use sha2::{Digest as _, Sha256};

use crate::store::Store;

/// The cache of one store.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// The key of a step: sha256 over the parent key and the parts, each
/// length-prefixed so that no two part lists collide.
pub fn key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    pub fn open(store: &Store) -> Cache {
        Cache {
            dir: store.root().join("build-cache"),
        }
    }

    /// The cached result of `key`, if its manifest is still stored.
    pub fn get(&self, store: &Store, key: &str) -> Option<Descriptor> {
        let bytes = fs::read(self.dir.join(key)).ok()?;
        let d: Descriptor = serde_json::from_slice(&bytes).ok()?;
        store.has_blob(d.digest()).then_some(d)
    }

    /// Records `desc` as the result of `key` (atomically: temp + rename).
    pub fn put(&self, key: &str, desc: &Descriptor) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{key}.{}", std::process::id()));
        fs::write(&tmp, serde_json::to_vec(desc).map_err(io::Error::other)?)?;
        fs::rename(&tmp, self.dir.join(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_chain_and_do_not_collide() {
        assert_ne!(key("p", &["ab", "c"]), key("p", &["a", "bc"]));
        assert_ne!(key("p", &["x"]), key("q", &["x"]));
        assert_eq!(key("p", &["x"]), key("p", &["x"]));
    }
}
