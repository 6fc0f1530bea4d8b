//! `index.json`: the named manifests. Pure edits on an [`ImageIndex`] plus
//! its atomic read and write.

use std::collections::HashMap;
use std::fs;

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use super::{blobs::write_atomic, io_at, Store, StoreError, REF_NAME};

pub(super) fn empty() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("an empty index has every required field")
}

pub(super) fn read(s: &Store) -> Result<ImageIndex, StoreError> {
    let p = s.index_path();
    let bytes = fs::read(&p).map_err(io_at(&p))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: p,
        detail: e.to_string(),
    })
}

pub(super) fn write(s: &Store, idx: &ImageIndex) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(idx).expect("an index serialises");
    write_atomic(s, &s.index_path(), &bytes)
}

pub(super) fn name_of(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

/// Names `desc`, replacing any manifest that had the name.
pub(super) fn set(idx: &mut ImageIndex, name: &str, desc: &Descriptor) {
    remove(idx, name);
    let mut d = desc.clone();
    let mut ann: HashMap<String, String> = d.annotations().clone().unwrap_or_default();
    ann.insert(REF_NAME.to_string(), name.to_string());
    d.set_annotations(Some(ann));
    let mut m = idx.manifests().clone();
    m.push(d);
    idx.set_manifests(m);
}

pub(super) fn remove(idx: &mut ImageIndex, name: &str) -> bool {
    let before = idx.manifests().len();
    let m: Vec<Descriptor> = idx
        .manifests()
        .iter()
        .filter(|d| name_of(d) != Some(name))
        .cloned()
        .collect();
    let had = m.len() != before;
    idx.set_manifests(m);
    had
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::*;
    use std::str::FromStr;

    fn desc(s: &Store, body: &[u8]) -> Descriptor {
        let d = s.put_blob(body).unwrap();
        Descriptor::new(MediaType::ImageManifest, body.len() as u64, d)
    }

    #[test]
    fn names_replace_and_remove() {
        let (s, dir) = temp_store("index");
        let a = desc(&s, b"a");
        let b = desc(&s, b"b");
        s.set_ref("docker.io/library/x:1", &a).unwrap();
        s.set_ref("docker.io/library/x:2", &a).unwrap();
        s.set_ref("docker.io/library/x:1", &b).unwrap();
        let refs = s.refs().unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(
            s.resolve("docker.io/library/x:1")
                .unwrap()
                .unwrap()
                .digest(),
            b.digest()
        );
        assert!(s.remove_ref("docker.io/library/x:2").unwrap());
        assert!(!s.remove_ref("docker.io/library/x:2").unwrap());
        assert_eq!(s.refs().unwrap().len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_name_needs_its_blob() {
        let (s, dir) = temp_store("index-missing");
        let d = Descriptor::new(
            MediaType::ImageManifest,
            1,
            oci_spec::image::Digest::from_str(&format!("sha256:{}", "0".repeat(64))).unwrap(),
        );
        assert!(matches!(
            s.set_ref("x", &d),
            Err(StoreError::MissingBlob(_))
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_writers_lose_no_name() {
        let (s, dir) = temp_store("index-race");
        let d = desc(&s, b"m");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                let d = d.clone();
                std::thread::spawn(move || s.set_ref(&format!("r/x:{i}"), &d).unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.refs().unwrap().len(), 8);
        fs::remove_dir_all(dir).unwrap();
    }
}
