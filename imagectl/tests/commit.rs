//! `imagectl diff`, `commit` and `import` end to end, as root: a busybox
//! base image is unpacked (overlay and --copy), berth runs a container
//! that adds, changes and deletes files and replaces a directory, and the
//! diff, the committed layer, the new image's config and a bundle of it
//! (run by berth again) are checked. Needs berth built
//! (`cargo build -p berth`), busybox-static and tar.

mod commit_support;
mod common;

use std::fs;
use std::path::{Path, PathBuf};

use commit_support::*;

/// What the container does: add /etc/new, change /etc/change, delete
/// /etc/gone, and replace /opt/d (which has x, y from layer 1 and z from
/// layer 2) with a fresh directory holding only `new`.
const SCRIPT: &str = "echo new > /etc/new && echo more >> /etc/change && rm /etc/gone \
                      && rm -rf /opt/d && mkdir /opt/d && touch /opt/d/new";

const EXPECTED_DIFF: &[&str] = &[
    "C /etc",
    "C /etc/change",
    "D /etc/gone",
    "A /etc/new",
    "C /opt",
    "C /opt/d",
    "A /opt/d/new",
    "D /opt/d/x",
    "D /opt/d/y",
    "D /opt/d/z",
];

const BASE: &str = "docker.io/library/base:latest";

/// The base image unpacked into DIR (overlay or copy) and changed by a
/// container berth ran.
fn changed_bundle(t: &TempDir, store: &Path, copy: bool) -> PathBuf {
    let b = t.join("bundle");
    let mut args = vec!["unpack"];
    if copy {
        args.push("--copy");
    }
    args.extend([BASE, b.to_str().unwrap()]);
    imagectl_ok(store, &args);
    assert_eq!(
        imagectl_ok(store, &["diff", b.to_str().unwrap()]),
        "",
        "a fresh bundle has no changes"
    );
    set_args(&b, &["/bin/sh", "-c", SCRIPT]);
    let o = berth_run(t, &b, if copy { "copy" } else { "overlay" });
    assert!(o.status.success(), "berth run: {}", stderr(&o));
    b
}

fn diff_commit_unpack_run(copy: bool, want_layer: &[&str]) {
    need_tools();
    let t = TempDir::new(if copy { "copy" } else { "overlay" });
    let store = t.join("store");
    base_image(&t, &store);
    let b = changed_bundle(&t, &store, copy);

    let diff = imagectl_ok(&store, &["diff", b.to_str().unwrap()]);
    assert_eq!(diff.lines().collect::<Vec<_>>(), EXPECTED_DIFF);

    let out = imagectl_ok(
        &store,
        &[
            "commit",
            "-m",
            "the message",
            "-a",
            "Tester <t@example.com>",
            "-c",
            "ENV COMMITTED=1",
            b.to_str().unwrap(),
            "committed",
        ],
    );
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out:?}");
    assert!(ref_names(&store).contains(&"docker.io/library/committed:latest".to_string()));

    // Only the changed paths (and their parents) are in the new layer.
    assert_eq!(top_layer_names(&store, "committed"), want_layer);

    let (manifest, config) = image_json(&store, "committed");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["config"]["digest"], id);
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    let history = config["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(history.len(), 3);
    assert!(last["created_by"]
        .as_str()
        .unwrap()
        .starts_with("imagectl commit"));
    assert_eq!(last["comment"], "the message");
    assert_eq!(last["author"], "Tester <t@example.com>");
    assert!(last.get("empty_layer").is_none());
    assert_eq!(config["author"], "Tester <t@example.com>");
    assert!(config["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&"COMMITTED=1".into()));
    assert_eq!(config["config"]["Cmd"][0], "/bin/sh");

    // The committed image shows the changes.
    let b2 = t.join("committed-bundle");
    imagectl_ok(&store, &["unpack", "committed", b2.to_str().unwrap()]);
    let r = b2.join("rootfs");
    assert_eq!(fs::read_to_string(r.join("etc/new")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(r.join("etc/change")).unwrap(),
        "old\nmore\n"
    );
    assert!(!r.join("etc/gone").exists());
    assert!(r.join("etc/keep").exists() && r.join("etc/top").exists());
    let d: Vec<String> = fs::read_dir(r.join("opt/d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(d, ["new"], "the replaced dir keeps only its new content");
    assert_eq!(imagectl_ok(&store, &["diff", b2.to_str().unwrap()]), "");

    set_args(&b2, &["/bin/cat", "/etc/new"]);
    let o = berth_run(&t, &b2, "committed");
    assert!(o.status.success(), "berth run: {}", stderr(&o));
    assert_eq!(stdout(&o), "new\n");
    for bundle in [&b, &b2] {
        imagectl_ok(&store, &["unpack", "--remove", bundle.to_str().unwrap()]);
    }
}

#[test]
fn overlay_bundle_diff_and_commit() {
    diff_commit_unpack_run(
        false,
        &[
            "etc/",
            "etc/change",
            "etc/.wh.gone",
            "etc/new",
            "opt/",
            "opt/d/",
            "opt/d/.wh..wh..opq",
            "opt/d/new",
        ],
    );
}

#[test]
fn copy_bundle_diff_and_commit() {
    diff_commit_unpack_run(
        true,
        &[
            "etc/",
            "etc/change",
            "etc/.wh.gone",
            "etc/new",
            "opt/",
            "opt/d/",
            "opt/d/new",
            "opt/d/.wh.x",
            "opt/d/.wh.y",
            "opt/d/.wh.z",
        ],
    );
}

#[test]
fn commit_without_changes_adds_only_history() {
    need_tools();
    let t = TempDir::new("nochange");
    let store = t.join("store");
    base_image(&t, &store);
    let b = t.join("b");
    imagectl_ok(&store, &["unpack", BASE, b.to_str().unwrap()]);
    imagectl_ok(
        &store,
        &[
            "commit",
            "-c",
            r#"CMD ["/bin/echo","hi"]"#,
            b.to_str().unwrap(),
            "same",
        ],
    );
    let (manifest, config) = image_json(&store, "same");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    assert_eq!(config["history"][2]["empty_layer"], true);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/bin/echo", "hi"])
    );
    imagectl_ok(&store, &["unpack", "--remove", b.to_str().unwrap()]);
}

#[test]
fn import_of_a_rootfs_tar_runs_and_takes_changes() {
    need_tools();
    let t = TempDir::new("import");
    let store = t.join("store");
    let rootfs = t.join("rootfs");
    busybox_rootfs(&rootfs);
    let tar = t.join("rootfs.tar");
    tar_of(&rootfs, &tar);

    let id = imagectl_ok(&store, &["import", tar.to_str().unwrap(), "imported"]);
    assert!(id.trim().starts_with("sha256:"), "{id:?}");
    let b = t.join("b");
    imagectl_ok(&store, &["unpack", "imported", b.to_str().unwrap()]);
    set_args(&b, &["/bin/cat", "/etc/keep"]);
    let o = berth_run(&t, &b, "imported");
    assert!(o.status.success(), "berth run: {}", stderr(&o));
    assert_eq!(stdout(&o), "keep\n");
    imagectl_ok(&store, &["unpack", "--remove", b.to_str().unwrap()]);

    // gzip input, a --change and a message.
    let o = run(60, "gzip", &["-k", tar.to_str().unwrap()]);
    assert!(o.status.success(), "gzip: {}", stderr(&o));
    let gz = t.join("rootfs.tar.gz");
    imagectl_ok(
        &store,
        &[
            "import",
            "-c",
            r#"CMD ["/bin/echo","hi"]"#,
            "-m",
            "from a tarball",
            gz.to_str().unwrap(),
            "imported:gz",
        ],
    );
    let (manifest, config) = image_json(&store, "imported:gz");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/bin/echo", "hi"])
    );
    assert_eq!(config["history"][0]["comment"], "from a tarball");
    assert!(config["history"][0]["created_by"]
        .as_str()
        .unwrap()
        .starts_with("imagectl import"));
    // The same tar, whatever its compression or source: the same diff_id.
    let (_, plain) = image_json(&store, "imported");
    assert_eq!(config["rootfs"], plain["rootfs"]);
    let o = std::process::Command::new(IMAGECTL)
        .args([
            "--root",
            store.to_str().unwrap(),
            "import",
            "-",
            "imported:stdin",
        ])
        .stdin(fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "import -: {}", stderr(&o));
    let (_, piped) = image_json(&store, "imported:stdin");
    assert_eq!(piped["rootfs"], plain["rootfs"]);
    assert_eq!(piped["history"][0]["created_by"], "imagectl import -");
    let b = t.join("b2");
    imagectl_ok(&store, &["unpack", "imported:gz", b.to_str().unwrap()]);
    let o = berth_run(&t, &b, "imported-gz");
    assert!(o.status.success(), "berth run: {}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n");
    imagectl_ok(&store, &["unpack", "--remove", b.to_str().unwrap()]);
}

/// A tar with an innocent entry, then `../evil`.
fn traversal_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for name in [&b"ok"[..], b"../evil"] {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(4);
        h.set_cksum();
        b.append(&h, &b"data"[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn import_refuses_a_traversal_tar_and_keeps_nothing() {
    let t = TempDir::new("evil");
    let store = t.join("store");
    let tar = t.join("evil.tar");
    fs::write(&tar, traversal_tar()).unwrap();
    imagectl_ok(&store, &["images"]);
    let blobs = blob_count(&store);
    let o = imagectl(&store, &["import", tar.to_str().unwrap(), "evil"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("../evil") && err.contains("refused"), "{err}");
    assert!(ref_names(&store).is_empty());
    assert_eq!(blob_count(&store), blobs, "a blob was left");
    let tmp: Vec<_> = fs::read_dir(store.join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "left in tmp: {tmp:?}");
}

#[test]
fn commit_of_a_plain_dir_fails_in_one_line_and_names_nothing() {
    let t = TempDir::new("plain");
    let store = t.join("store");
    let dir = t.join("plain");
    fs::create_dir_all(dir.join("rootfs")).unwrap();
    let o = imagectl(&store, &["commit", dir.to_str().unwrap(), "nope"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a bundle"), "{err}");
    assert!(ref_names(&store).is_empty());
    let o = imagectl(&store, &["diff", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a bundle"), "{}", stderr(&o));
}
