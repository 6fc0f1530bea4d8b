//! imagectl save / load / export against the tools that read and write the
//! same formats: skopeo, podman (private vfs store), containerd (private
//! instance), berth. As root; every external process bounded by `timeout`.

mod archive_support;
mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use archive_support::*;

const BB: &str = "docker.io/library/busybox:latest";

/// (image id hex, diff_ids) from the store's own config.
fn id_and_diffs(store: &Path, image: &str) -> (String, Vec<String>) {
    let v = inspect(store, image);
    let id = v[0]["Id"].as_str().unwrap().to_string();
    let cfg_path = store.join("blobs/sha256").join(&id);
    let cfg = json(&fs::read(cfg_path).unwrap());
    let diffs = cfg["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    (id, diffs)
}

#[test]
fn docker_archive_loads_in_skopeo_podman_and_containerd() {
    let t = TempDir::new("docker");
    let layout = build_busybox(&t.0);
    let store = busybox_store(&t.0, &layout, "store");
    let (id, diffs) = id_and_diffs(&store, "busybox");
    let file = t.s("bb.tar");
    imagectl_ok(&store, &["save", "-o", &file, "busybox"]);
    assert!(!t.join("bb.tar.tmp").exists());

    // The layout, as docker save writes it.
    let entries = tar_entries(&fs::read(&file).unwrap());
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert!(names.contains(&"manifest.json") && names.contains(&"repositories"));
    assert!(names.contains(&format!("{id}.json").as_str()), "{names:?}");
    let mut ar = tar::Archive::new(fs::File::open(&file).unwrap());
    let mut manifest = serde_json::Value::Null;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("manifest.json") {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut s).unwrap();
            manifest = json(&s);
        }
    }
    assert_eq!(manifest[0]["Config"], format!("{id}.json"));
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["busybox:latest"])
    );
    assert_eq!(manifest[0]["Layers"].as_array().unwrap().len(), 2);

    let sk = json(
        &ok(
            60,
            "skopeo",
            &["inspect", &format!("docker-archive:{file}")],
        )
        .stdout,
    );
    assert_eq!(
        sk["Layers"],
        serde_json::json!(diffs),
        "skopeo sees the diff_ids"
    );
    let skc = json(
        &ok(
            60,
            "skopeo",
            &["inspect", "--config", &format!("docker-archive:{file}")],
        )
        .stdout,
    );
    assert_eq!(skc["rootfs"]["diff_ids"], serde_json::json!(diffs));

    podman(&t.0, &["load", "-i", &file]);
    let pi = json(&podman(&t.0, &["image", "inspect", "busybox:latest"]).stdout);
    assert_eq!(pi[0]["Id"], id.as_str(), "podman keeps the image id");
    // podman prefixes a domain-less name with localhost/ (its rule, the same
    // for docker's own archives).
    let tags: Vec<&str> = pi[0]["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        tags.iter().any(|t| t.ends_with("busybox:latest")),
        "{tags:?}"
    );

    let c = Containerd::start(&t.0);
    c.ctr(&["images", "import", &file]);
    let ls = stdout(&c.ctr(&["images", "ls", "-q"]));
    assert!(ls.lines().any(|l| l == BB), "ctr images ls: {ls}");
    let check = stdout(&c.ctr(&["images", "check"]));
    assert!(check.contains("complete"), "ctr images check: {check}");
}

#[test]
fn oci_archive_matches_skopeo_inspect_and_loads_back() {
    let t = TempDir::new("oci");
    let layout = build_busybox(&t.0);
    let store = busybox_store(&t.0, &layout, "store");
    let v = inspect(&store, "busybox");
    let (id, _) = id_and_diffs(&store, "busybox");
    let file = t.s("bb-oci.tar");
    imagectl_ok(
        &store,
        &["save", "--format", "oci-archive", "-o", &file, "busybox"],
    );
    let sk = json(
        &ok(
            60,
            "skopeo",
            &["inspect", &format!("oci-archive:{file}:latest")],
        )
        .stdout,
    );
    assert_eq!(sk["Digest"], v[0]["Digest"], "same manifest digest");
    let src = json(
        &ok(
            60,
            "skopeo",
            &["inspect", &format!("oci:{}:bb", layout.display())],
        )
        .stdout,
    );
    assert_eq!(sk["Layers"], src["Layers"], "layers kept as stored");

    let fresh = t.join("fresh");
    let o = imagectl_ok(&fresh, &["load", "-i", &file]);
    assert!(stdout(&o).contains(BB), "{}", stdout(&o));
    assert_eq!(names(&fresh), vec![BB.to_string()]);
    assert_eq!(id_and_diffs(&fresh, "busybox").0, id);

    let c = Containerd::start(&t.0);
    c.ctr(&["images", "import", &file]);
    let ls = stdout(&c.ctr(&["images", "ls", "-q"]));
    assert!(ls.lines().any(|l| l == BB), "ctr images ls: {ls}");
}

#[test]
fn round_trip_keeps_id_and_tags_and_berth_runs_it() {
    let t = TempDir::new("round");
    let layout = build_busybox(&t.0);
    let store = busybox_store(&t.0, &layout, "store");
    imagectl_ok(&store, &["tag", "busybox", "localhost:5000/x:1"]);
    let (id, _) = id_and_diffs(&store, "busybox");
    let before = blobs(&store);
    let file = t.s("bb.tar");
    // To stdout, as `docker save > file` is used.
    let o = imagectl_ok(&store, &["save", "busybox", "localhost:5000/x:1"]);
    fs::write(&file, &o.stdout).unwrap();
    imagectl_ok(&store, &["rmi", "busybox", "localhost:5000/x:1"]);
    imagectl_ok(&store, &["gc"]);
    assert!(blobs(&store).is_empty(), "gc took everything");
    // From stdin.
    let o = std::process::Command::new(IMAGECTL)
        .args(["--root", store.to_str().unwrap(), "load"])
        .stdin(fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "load: {}", stderr(&o));
    assert_eq!(
        names(&store),
        vec![BB.to_string(), "localhost:5000/x:1".to_string()]
    );
    assert_eq!(id_and_diffs(&store, "busybox").0, id);
    assert_eq!(id_and_diffs(&store, "localhost:5000/x:1").0, id);
    // The layers come back uncompressed (digest = diff_id), the config is
    // byte for byte the same blob.
    assert!(blobs(&store).contains(&id) && before.contains(&id));

    let berth = berth();
    let b = t.join("bundle");
    imagectl_ok(&store, &["unpack", "busybox", b.to_str().unwrap()]);
    let mut cfg = json(&fs::read(b.join("config.json")).unwrap());
    cfg["process"]["args"] = serde_json::json!(["/bin/cat", "/etc/second"]);
    cfg["process"]["terminal"] = serde_json::json!(false);
    fs::write(b.join("config.json"), cfg.to_string()).unwrap();
    let state = t.s("state");
    let cid = format!("imagectl-archive-{}", std::process::id());
    let o = run(
        60,
        berth.to_str().unwrap(),
        &[
            "--root",
            &state,
            "run",
            "--bundle",
            b.to_str().unwrap(),
            &cid,
        ],
    );
    let _ = run(
        30,
        berth.to_str().unwrap(),
        &["--root", &state, "delete", "-f", &cid],
    );
    assert!(o.status.success(), "berth run: {}", stderr(&o));
    assert_eq!(stdout(&o), "second layer\n");
    imagectl_ok(&store, &["unpack", "--remove", b.to_str().unwrap()]);
}

#[test]
fn archives_others_write_load_with_their_tags() {
    let t = TempDir::new("others");
    let layout = build_busybox(&t.0);
    let store = busybox_store(&t.0, &layout, "store");
    let (id, _) = id_and_diffs(&store, "busybox");
    let oci = format!("oci:{}:bb", layout.display());
    podman(&t.0, &["pull", "-q", &oci]);
    podman(&t.0, &["tag", &id, "quay.io/some/bb:v1"]);
    let pd = t.s("podman-docker.tar");
    let po = t.s("podman-oci.tar");
    let sd = t.s("skopeo-docker.tar");
    podman(
        &t.0,
        &[
            "save",
            "-q",
            "--format",
            "docker-archive",
            "-o",
            &pd,
            "quay.io/some/bb:v1",
        ],
    );
    podman(
        &t.0,
        &[
            "save",
            "-q",
            "--format",
            "oci-archive",
            "-o",
            &po,
            "quay.io/some/bb:v1",
        ],
    );
    ok(
        120,
        "skopeo",
        &[
            "copy",
            "-q",
            &oci,
            &format!("docker-archive:{sd}:example.com/sk/bb:2"),
        ],
    );
    for (file, name) in [
        (&pd, "quay.io/some/bb:v1"),
        (&po, "quay.io/some/bb:v1"),
        (&sd, "example.com/sk/bb:2"),
    ] {
        let s = t.join(&format!(
            "load-{}",
            Path::new(file).file_name().unwrap().to_string_lossy()
        ));
        let o = imagectl(&s, &["load", "-i", file]);
        assert!(o.status.success(), "load {file}: {}", stderr(&o));
        assert_eq!(names(&s), vec![name.to_string()], "{file}");
        assert_eq!(id_and_diffs(&s, name).0, id, "{file}: same image id");
    }
}

#[test]
fn export_of_a_bundle_and_a_running_container_lists_the_rootfs() {
    let t = TempDir::new("export");
    let layout = build_busybox(&t.0);
    let store = busybox_store(&t.0, &layout, "store");
    let b = t.join("bundle");
    imagectl_ok(&store, &["unpack", "busybox", b.to_str().unwrap()]);
    let out = t.s("rootfs.tar");
    imagectl_ok(&store, &["export", "-o", &out, b.to_str().unwrap()]);
    let entries = tar_entries(&fs::read(&out).unwrap());
    let rootfs = b.join("rootfs");
    let mut want = Vec::new();
    walk(&rootfs, "", &mut want);
    let got: Vec<String> = entries.iter().map(|e| e.0.clone()).collect();
    assert_eq!(got, want, "every path of the rootfs, in order");
    let mut hardlinks = 0;
    for (name, kind, mode, uid, gid, link) in &entries {
        let p = rootfs.join(name.trim_end_matches('/'));
        let m = fs::symlink_metadata(&p).unwrap();
        assert_eq!(*mode, m.mode() & 0o7777, "{name} mode");
        assert_eq!(
            (*uid, *gid),
            (m.uid() as u64, m.gid() as u64),
            "{name} owner"
        );
        match kind {
            'l' => assert_eq!(
                link.as_deref().map(Path::new),
                Some(fs::read_link(&p).unwrap().as_path())
            ),
            'h' => {
                hardlinks += 1;
                let first = rootfs.join(link.as_deref().unwrap());
                assert_eq!(fs::metadata(first).unwrap().ino(), m.ino(), "{name}");
            }
            _ => {}
        }
    }
    assert_eq!(hardlinks, 1, "data/hl2 is a link to data/hl1");
    assert!(entries.iter().any(|e| e.0 == "data/owned" && e.3 == 1000));
    assert!(entries.iter().any(|e| e.0 == "data/suid" && e.2 == 0o4755));
    // `tar` itself reads it, with the xattr.
    let x = t.join("x");
    fs::create_dir(&x).unwrap();
    ok(
        60,
        "tar",
        &[
            "--xattrs",
            "--xattrs-include=user.*",
            "-xpf",
            &out,
            "-C",
            x.to_str().unwrap(),
        ],
    );
    assert_eq!(
        xattr::get(x.join("data/owned"), "user.test")
            .unwrap()
            .as_deref(),
        Some(&b"hello"[..])
    );

    // A running berth container, by id.
    let berth = berth();
    let mut cfg = json(&fs::read(b.join("config.json")).unwrap());
    cfg["process"]["args"] = serde_json::json!(["/bin/sleep", "30"]);
    cfg["process"]["terminal"] = serde_json::json!(false);
    fs::write(b.join("config.json"), cfg.to_string()).unwrap();
    fs::write(b.join("rootfs/data/written-by-test"), "x").unwrap();
    let state = t.s("state");
    let cid = format!("imagectl-export-{}", std::process::id());
    let bs = berth.to_str().unwrap();
    ok(
        60,
        bs,
        &[
            "--root",
            &state,
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            &cid,
        ],
    );
    let o = imagectl(
        &store,
        &["export", "--runtime", bs, "--runtime-root", &state, &cid],
    );
    let _ = run(30, bs, &["--root", &state, "delete", "-f", &cid]);
    assert!(o.status.success(), "export {cid}: {}", stderr(&o));
    let names: Vec<String> = tar_entries(&o.stdout).into_iter().map(|e| e.0).collect();
    assert!(names.contains(&"bin/busybox".to_string()));
    assert!(
        names.contains(&"data/written-by-test".to_string()),
        "{names:?}"
    );
    let o = imagectl(
        &store,
        &[
            "export",
            "--runtime",
            bs,
            "--runtime-root",
            &state,
            "nosuch",
        ],
    );
    assert!(!o.status.success());
    imagectl_ok(&store, &["unpack", "--remove", b.to_str().unwrap()]);
}

fn walk(root: &Path, rel: &str, out: &mut Vec<String>) {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let r = format!("{rel}{n}");
        let m = fs::symlink_metadata(root.join(&r)).unwrap();
        if m.is_dir() {
            out.push(format!("{r}/"));
            walk(root, &format!("{r}/"), out);
        } else {
            out.push(r);
        }
    }
}

/// Rewrites a docker-archive entry by entry: `edit` gets (name, bytes)
/// and returns what to write instead (None drops the entry).
fn rewrite(src: &Path, dst: &Path, edit: impl Fn(&str, Vec<u8>) -> Option<(String, Vec<u8>)>) {
    let mut ar = tar::Archive::new(fs::File::open(src).unwrap());
    let mut b = tar::Builder::new(Vec::new());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        let Some((name, bytes)) = edit(&name, bytes) else {
            continue;
        };
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_cksum();
        b.append(&h, &bytes[..]).unwrap();
    }
    fs::write(dst, b.into_inner().unwrap()).unwrap();
}

#[test]
fn bad_archives_are_one_error_and_leave_the_store_unchanged() {
    let t = TempDir::new("bad");
    let layout = build_busybox(&t.0);
    let src = busybox_store(&t.0, &layout, "src");
    let good = t.join("good.tar");
    imagectl_ok(&src, &["save", "-o", good.to_str().unwrap(), "busybox"]);
    let good_oci = t.join("good-oci.tar");
    imagectl_ok(
        &src,
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            good_oci.to_str().unwrap(),
            "busybox",
        ],
    );
    let len = fs::metadata(&good).unwrap().len() as usize;

    let truncated = t.join("truncated.tar");
    fs::write(&truncated, &fs::read(&good).unwrap()[..len / 2]).unwrap();
    let missing = t.join("missing.tar");
    // Drop the small (second) layer, keep manifest.json naming it.
    rewrite(&good, &missing, |n, b| {
        (!(n.ends_with("layer.tar") && b.len() < 10_000)).then(|| (n.to_string(), b))
    });
    let wrong = t.join("wrong-diff.tar");
    rewrite(&good, &wrong, |n, mut b| {
        if n.ends_with("layer.tar") && b.len() < 10_000 {
            // The small (second) layer: same size, other bytes.
            let i = b.len() - 1024 - 1;
            b[i] ^= 0xff;
        }
        Some((n.to_string(), b))
    });
    let traversal = t.join("traversal.tar");
    rewrite(&good, &traversal, |n, b| {
        Some((
            if n == "repositories" {
                "../x".to_string()
            } else {
                n.to_string()
            },
            b,
        ))
    });
    let oci_missing = t.join("oci-missing.tar");
    rewrite(&good_oci, &oci_missing, |n, b| {
        (!(n.starts_with("blobs/") && b.len() > 100_000)).then(|| (n.to_string(), b))
    });

    let dst = t.join("dst");
    imagectl::store::Store::open(&dst).unwrap();
    // Something already in the destination, which must stay (an image of
    // its own: sharing the archive's blobs would hide a missing one).
    {
        let st = imagectl::store::Store::open(&dst).unwrap();
        let cfg =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cd = st.put_blob(cfg).unwrap();
        let m = serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cd.to_string(), "size": cfg.len()},
            "layers": []});
        let mb = serde_json::to_vec(&m).unwrap();
        let md = st.put_blob(&mb).unwrap();
        let d: oci_spec::image::Descriptor = serde_json::from_value(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md.to_string(), "size": mb.len()}))
        .unwrap();
        st.set_ref("docker.io/library/kept:1", &d).unwrap();
    }
    let names0 = names(&dst);
    let blobs0 = blobs(&dst);
    for (f, needle) in [
        (&truncated, "truncated"),
        (&missing, "not in the archive"),
        (&wrong, "the image config says"),
        (&traversal, "leaves the archive"),
        (&oci_missing, "not in the archive"),
    ] {
        let o = imagectl(&dst, &["load", "-i", f.to_str().unwrap()]);
        let e = stderr(&o);
        assert!(!o.status.success(), "{} loaded", f.display());
        assert_eq!(
            e.trim_end().lines().count(),
            1,
            "{}: one line: {e}",
            f.display()
        );
        assert!(
            e.starts_with("imagectl: ") && e.contains(needle),
            "{}: {e}",
            f.display()
        );
        assert_eq!(names(&dst), names0, "{}: no new names", f.display());
        imagectl_ok(&dst, &["gc"]);
        assert_eq!(
            blobs(&dst),
            blobs0,
            "{}: blob dir unchanged after gc",
            f.display()
        );
        let tmp: Vec<_> = fs::read_dir(dst.join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "{}: temp files left: {tmp:?}", f.display());
    }
    // The good one still loads.
    imagectl_ok(&dst, &["load", "-i", good.to_str().unwrap()]);
    assert!(names(&dst).contains(&BB.to_string()));
}

#[test]
fn docker_25_and_pre_1_10_layouts_load() {
    let t = TempDir::new("layouts");
    let layout = build_busybox(&t.0);
    let src = busybox_store(&t.0, &layout, "src");
    let (id, _) = id_and_diffs(&src, "busybox");
    let oci = t.join("oci.tar");
    imagectl_ok(
        &src,
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            oci.to_str().unwrap(),
            "busybox",
        ],
    );
    // Docker 25+: an OCI layout plus a manifest.json naming its blobs (here
    // gzip layers, as umoci wrote them: their diff_ids are checked through
    // the decompressor).
    let v = inspect(&src, "busybox");
    let mdigest = v[0]["Digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let manifest = json(&fs::read(src.join("blobs/sha256").join(&mdigest)).unwrap());
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "blobs/sha256/{}",
                l["digest"].as_str().unwrap().trim_start_matches("sha256:")
            )
        })
        .collect();
    let dm = serde_json::json!([{"Config": format!("blobs/sha256/{id}"),
        "RepoTags": ["docker25:latest"], "Layers": layers}]);
    let d25 = t.join("d25.tar");
    let dm_bytes = dm.to_string().into_bytes();
    rewrite(&oci, &d25, |n, b| Some((n.to_string(), b)));
    append_entry(&d25, "manifest.json", &dm_bytes);
    let s = t.join("s25");
    imagectl_ok(&s, &["load", "-i", d25.to_str().unwrap()]);
    assert_eq!(
        names(&s),
        vec!["docker.io/library/docker25:latest".to_string()]
    );
    assert_eq!(id_and_diffs(&s, "docker25").0, id);

    // Pre-1.10: no manifest.json; repositories + <id>/json + layer.tar.
    let d = t.join("d.tar");
    imagectl_ok(&src, &["save", "-o", d.to_str().unwrap(), "busybox"]);
    let old = t.join("old.tar");
    rewrite(&d, &old, |n, b| {
        (n != "manifest.json" && !n.ends_with(".json")).then(|| (n.to_string(), b))
    });
    let s = t.join("sold");
    imagectl_ok(&s, &["load", "-i", old.to_str().unwrap()]);
    assert_eq!(names(&s), vec![BB.to_string()]);
    let (_, diffs) = id_and_diffs(&s, "busybox");
    assert_eq!(diffs, id_and_diffs(&src, "busybox").1, "same layers");
    let b = t.join("bundle");
    imagectl_ok(&s, &["unpack", "--copy", "busybox", b.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(b.join("rootfs/etc/second")).unwrap(),
        "second layer\n"
    );
    let cfg = json(&fs::read(b.join("config.json")).unwrap());
    assert_eq!(
        cfg["process"]["args"],
        serde_json::json!(["/bin/sh"]),
        "the v1 JSON's config"
    );
}

/// Appends a regular file to a tar (after its last entry).
fn append_entry(tar_path: &Path, name: &str, bytes: &[u8]) {
    let mut ar = tar::Archive::new(fs::File::open(tar_path).unwrap());
    let mut b = tar::Builder::new(Vec::new());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut body).unwrap();
        b.append(&h, &body[..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_mode(0o644);
    h.set_size(bytes.len() as u64);
    h.set_cksum();
    b.append(&h, bytes).unwrap();
    fs::write(tar_path, b.into_inner().unwrap()).unwrap();
}
