//! The store's own verbs through the binary: images, tag, inspect,
//! history, rmi and gc, on images written into a temp store by hand.

mod common;
mod unpack_support;

use std::path::Path;

use imagectl::store::Store;
use serde_json::{json, Value};
use unpack_support::*;

fn out(o: &std::process::Output) -> String {
    assert!(o.status.success(), "imagectl failed: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn one_layer(body: &[u8]) -> Layer {
    Layer::gzip(TarBuilder::new().file("hello.txt", body).finish())
}

/// An image with a history of one layer and one empty entry.
fn image_with_history(store: &Store, name: &str) -> String {
    let l = one_layer(b"history");
    let ld = store.put_blob(&l.blob).unwrap();
    let config = json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created": "2024-01-01T00:00:01Z", "created_by": "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]", "empty_layer": true},
        ],
    });
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = store.put_blob(&cb).unwrap();
    let m = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cb.len()},
        "layers": [{"mediaType": l.media_type, "digest": ld.to_string(), "size": l.blob.len()}],
    });
    let mb = serde_json::to_vec(&m).unwrap();
    let md = store.put_blob(&mb).unwrap();
    let desc = serde_json::from_value(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": mb.len(),
    }))
    .unwrap();
    store.set_ref(name, &desc).unwrap();
    cd.digest().to_string()
}

fn blob_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn images_lists_names_with_familiar_repositories_and_shared_ids() {
    let t = TempDir::new("store-images");
    let store = Store::open(t.path()).unwrap();
    store_image(
        &store,
        "docker.io/library/busybox:latest",
        &[one_layer(b"a")],
        json!({}),
    );
    let o = out(&imagectl(
        t.path(),
        &["tag", "busybox", "127.0.0.1:5000/tools/bb:1.0"],
    ));
    assert!(o.is_empty());
    let table = out(&imagectl(t.path(), &["images"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("REPOSITORY"), "{table}");
    let row = |repo: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(repo))
            .unwrap_or_else(|| panic!("{repo} missing: {table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let (a, b) = (row("busybox"), row("127.0.0.1:5000/tools/bb"));
    assert_eq!((a[1], b[1]), ("latest", "1.0"));
    assert_eq!(a[2], b[2], "one image, one id");
    assert_eq!(a[2].len(), 12);
    let q = out(&imagectl(t.path(), &["images", "-q"]));
    assert_eq!(q.lines().collect::<Vec<_>>(), vec![a[2]]);
    let j: Value =
        serde_json::from_str(&out(&imagectl(t.path(), &["images", "--format", "json"]))).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert!(j[0]["Id"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn inspect_shows_config_tags_and_id_and_finds_images_by_id_prefix() {
    let t = TempDir::new("store-inspect");
    let store = Store::open(t.path()).unwrap();
    store_image(
        &store,
        "docker.io/library/app:1",
        &[one_layer(b"x")],
        json!({"Cmd": ["/bin/app"], "Env": ["A=1"]}),
    );
    out(&imagectl(t.path(), &["tag", "app:1", "app:2"]));
    let v: Value = serde_json::from_str(&out(&imagectl(t.path(), &["inspect", "app:1"]))).unwrap();
    let i = &v[0];
    assert_eq!(i["Config"]["Cmd"], json!(["/bin/app"]));
    assert_eq!(i["Config"]["Env"], json!(["A=1"]));
    let mut tags: Vec<String> = serde_json::from_value(i["RepoTags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, ["docker.io/library/app:1", "docker.io/library/app:2"]);
    let id = i["Id"].as_str().unwrap();
    let config = store
        .read_blob(&format!("sha256:{id}").parse().unwrap())
        .unwrap();
    assert_eq!(sha256_hex(&config), id, "Id is the config's digest");
    let by_id: Value =
        serde_json::from_str(&out(&imagectl(t.path(), &["inspect", &id[..8]]))).unwrap();
    assert_eq!(by_id[0]["Id"], i["Id"]);
    let bad = imagectl(t.path(), &["inspect", "nosuch:1"]);
    assert_eq!(bad.status.code(), Some(1));
    let e = stderr(&bad);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn history_is_newest_first_with_layer_sizes() {
    let t = TempDir::new("store-history");
    let store = Store::open(t.path()).unwrap();
    let id = image_with_history(&store, "docker.io/library/h:1");
    let o = out(&imagectl(t.path(), &["history", "h:1"]));
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines.len(), 3, "{o}");
    assert!(lines[0].starts_with("IMAGE"), "{o}");
    assert!(
        lines[1].starts_with(&id[..12]) && lines[1].contains("CMD"),
        "{o}"
    );
    assert!(
        lines[1].trim_end().ends_with("0B"),
        "the empty layer has no size: {o}"
    );
    assert!(
        lines[2].starts_with("<missing>") && lines[2].contains("ADD file:abc"),
        "{o}"
    );
    assert!(!lines[2].trim_end().ends_with(" 0B"), "{o}");
}

#[test]
fn rmi_untags_and_collects_only_what_no_name_reaches() {
    let t = TempDir::new("store-rmi");
    let store = Store::open(t.path()).unwrap();
    store_image(
        &store,
        "docker.io/library/keep:1",
        &[one_layer(b"keep")],
        json!({}),
    );
    store_image(
        &store,
        "docker.io/library/go:1",
        &[one_layer(b"go")],
        json!({}),
    );
    out(&imagectl(t.path(), &["tag", "go:1", "go:2"]));
    let before = blob_count(t.path());
    let o = out(&imagectl(t.path(), &["rmi", "go:1"]));
    assert!(o.contains("Untagged: docker.io/library/go:1"), "{o}");
    assert_eq!(
        blob_count(t.path()),
        before,
        "go:2 still reaches every blob"
    );
    // By id with one name left: goes, with its three blobs.
    let id = serde_json::from_str::<Value>(&out(&imagectl(t.path(), &["inspect", "go:2"])))
        .unwrap()[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    out(&imagectl(t.path(), &["rmi", &id[..12]]));
    assert_eq!(blob_count(t.path()), before - 3);
    assert!(store.resolve("docker.io/library/keep:1").unwrap().is_some());
    // An id with two names needs --force.
    out(&imagectl(t.path(), &["tag", "keep:1", "keep:2"]));
    let kid = serde_json::from_str::<Value>(&out(&imagectl(t.path(), &["inspect", "keep:1"])))
        .unwrap()[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = imagectl(t.path(), &["rmi", &kid[..12]]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(store.refs().unwrap().len(), 2);
    out(&imagectl(t.path(), &["rmi", "-f", &kid[..12]]));
    assert!(store.refs().unwrap().is_empty());
    assert_eq!(blob_count(t.path()), 0);
}

#[test]
fn gc_removes_strays_and_keeps_named_images() {
    let t = TempDir::new("store-gc");
    let store = Store::open(t.path()).unwrap();
    store_image(
        &store,
        "docker.io/library/a:1",
        &[one_layer(b"a")],
        json!({}),
    );
    let named = blob_count(t.path());
    let stray = store.put_blob(b"stray").unwrap();
    std::fs::write(t.path().join("tmp/.blob-999999-0"), b"half").unwrap();
    let o = out(&imagectl(t.path(), &["gc"]));
    assert!(o.contains("removed 1 blobs"), "{o}");
    assert!(!store.has_blob(&stray));
    assert_eq!(blob_count(t.path()), named);
    assert_eq!(std::fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
    assert!(out(&imagectl(t.path(), &["prune"])).contains("removed 0 blobs"));
}
