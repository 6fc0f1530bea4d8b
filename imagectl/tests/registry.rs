//! imagectl against a real registry (docker-registry 2.8 on 127.0.0.1):
//! pull compared with skopeo, platforms, media types and compressions,
//! corrupted blobs, basic and token auth, push (mount, chunked), search.
//! Each test starts its own registry; the OCI layouts built with umoci are
//! shared (built once per test binary).

mod common;
mod common_registry;

use std::path::PathBuf;
use std::sync::OnceLock;

use common_registry::*;

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn other_arch() -> &'static str {
    if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    }
}

/// One layout with tags: `multi` (3 layers, host arch), `other` (1 layer,
/// the other arch), `both` (an OCI index over the two), `zstd` and `plain`
/// (`multi` with zstd and uncompressed layers).
fn layout() -> &'static PathBuf {
    static L: OnceLock<PathBuf> = OnceLock::new();
    L.get_or_init(|| {
        let d = tempdir("layout").join("oci");
        let layers: Vec<Vec<(String, Vec<u8>)>> = (0..3u64)
            .map(|i| {
                vec![
                    (
                        format!("data/l{i}.bin"),
                        noise(i, 300_000 + i as usize * 1000),
                    ),
                    (format!("etc/layer{i}"), format!("layer {i}\n").into_bytes()),
                ]
            })
            .collect();
        build_image(&d, "multi", &layers, host_arch());
        build_image(
            &d,
            "other",
            &[vec![("data/other.bin".into(), noise(99, 50_000))]],
            other_arch(),
        );
        add_index(
            &d,
            "both",
            &[("multi", host_arch()), ("other", other_arch())],
        );
        recompress(&d, "multi", "zstd", "zstd");
        recompress(&d, "multi", "plain", "none");
        d
    })
}

fn manifest_of(ctl: &Ctl, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&ctl.blob(digest).expect("manifest in the store")).unwrap()
}

/// Every blob of the stored manifest is what skopeo fetched, byte for
/// byte. skopeo's OCI layout holds the same manifest unless it had to
/// convert one (Docker schema2 → OCI), so that is checked when asked.
fn assert_same_as_skopeo(
    reg: &Registry,
    ctl: &Ctl,
    name: &str,
    manifest_digest: &str,
    same_manifest: bool,
) {
    let dir = reg.skopeo_pull(name, &["--dest-oci-accept-uncompressed-layers"]);
    if same_manifest {
        let top = layout_ref(&dir, "latest");
        assert_eq!(
            top["digest"], manifest_digest,
            "skopeo and imagectl disagree on the manifest"
        );
    }
    let m = manifest_of(ctl, manifest_digest);
    // A converted manifest may come with a rewritten config; layers stay.
    let mut digests = Vec::new();
    if same_manifest {
        digests.push(m["config"]["digest"].as_str().unwrap().to_string());
    }
    for l in m["layers"].as_array().unwrap() {
        digests.push(l["digest"].as_str().unwrap().to_string());
    }
    for d in digests {
        assert_eq!(
            ctl.blob(&d)
                .unwrap_or_else(|| panic!("{d} missing from the store")),
            layout_blob(&dir, &d),
            "{d} differs"
        );
    }
}

#[test]
fn pull_multi_layer_matches_skopeo_and_skips_present_blobs() {
    let reg = Registry::start(Auth::Open);
    reg.push_oci(layout(), "multi", "multi:latest", &[]);
    let ctl = Ctl::new("pull-multi");
    let name = format!("{}/multi:latest", reg.addr);
    let o = ctl.ok(&["pull", &name]);
    let err = stderr(&o);
    assert!(err.contains("4 blobs fetched"), "{err}");
    let (_, digest) = reg.raw_manifest("multi:latest", None);
    assert_eq!(ctl.target(&name)["digest"], digest.as_str());
    assert_eq!(
        ctl.target(&name)["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_same_as_skopeo(&reg, &ctl, "multi:latest", &digest, true);
    // image::open works on what pull stored.
    ctl.ok(&["inspect", &name]);
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let m = manifest_of(&ctl, &digest);
    assert_eq!(
        out,
        m["config"]["digest"].as_str().unwrap(),
        "stdout is the image id"
    );

    let gets_before = reg.log().matches("GET /v2/multi/blobs/").count();
    let o = ctl.ok(&["pull", &name]);
    let err = stderr(&o);
    assert!(
        err.contains("0 blobs fetched") && err.contains("4 already present"),
        "{err}"
    );
    assert_eq!(
        reg.log().matches("GET /v2/multi/blobs/").count(),
        gets_before,
        "a second pull downloaded blobs again"
    );
}

#[test]
fn pull_resolves_an_index_to_the_chosen_platform() {
    let reg = Registry::start(Auth::Open);
    reg.push_oci(layout(), "both", "both:latest", &["--all"]);
    let (raw, index_digest) = reg.raw_manifest("both:latest", None);
    let idx: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let entry = |arch: &str| {
        idx["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let name = format!("{}/both:latest", reg.addr);

    let host = Ctl::new("pull-index-host");
    host.ok(&["pull", &name]);
    assert_eq!(
        host.target(&name)["digest"],
        index_digest.as_str(),
        "the name keeps the index"
    );
    assert!(host.blob(&index_digest).is_some());
    assert!(host.blob(&entry(host_arch())).is_some());
    assert!(
        host.blob(&entry(other_arch())).is_none(),
        "only the chosen platform is fetched"
    );
    host.ok(&["inspect", &name]);

    let other = Ctl::new("pull-index-other");
    let plat = format!("linux/{}", other_arch());
    other.ok(&["pull", "--platform", &plat, &name]);
    assert_eq!(other.target(&name)["digest"], index_digest.as_str());
    let m = manifest_of(&other, &entry(other_arch()));
    assert_eq!(m["layers"].as_array().unwrap().len(), 1);
    assert!(other.blob(&entry(host_arch())).is_none());

    let none = Ctl::new("pull-index-none");
    let o = none.run(&["pull", "--platform", "linux/s390x", &name]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no manifest for platform linux/s390x"),
        "{err}"
    );
    assert!(none.names().is_empty());
}

#[test]
fn pull_docker_schema2_zstd_and_uncompressed_layers() {
    let reg = Registry::start(Auth::Open);
    reg.push_oci(layout(), "multi", "v2s2:latest", &["--format", "v2s2"]);
    reg.push_oci(layout(), "zstd", "zstd:latest", &[]);
    // skopeo would gzip plain layers on the way up; imagectl pushes as is.
    let seed = Ctl::new("plain-seed");
    let plain = format!("{}/plain:latest", reg.addr);
    seed_store(&seed, layout(), "plain", &plain);
    seed.ok(&["push", &plain]);
    let ctl = Ctl::new("pull-types");
    for (repo, layer_type) in [
        ("v2s2", "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("plain", "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let name = format!("{}/{repo}:latest", reg.addr);
        ctl.ok(&["pull", &name]);
        let (_, digest) = reg.raw_manifest(&format!("{repo}:latest"), None);
        assert_eq!(ctl.target(&name)["digest"], digest.as_str());
        let m = manifest_of(&ctl, &digest);
        assert_eq!(m["layers"][0]["mediaType"], layer_type, "{repo}");
        assert_same_as_skopeo(
            &reg,
            &ctl,
            &format!("{repo}:latest"),
            &digest,
            repo != "v2s2",
        );
        ctl.ok(&["inspect", &name]);
    }
}

#[test]
fn a_corrupted_blob_is_rejected_and_the_store_is_unchanged() {
    let reg = Registry::start(Auth::Open);
    reg.push_oci(layout(), "multi", "bad:latest", &[]);
    let (raw, _) = reg.raw_manifest("bad:latest", None);
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let layer = m["layers"][1]["digest"].as_str().unwrap().to_string();
    let f = reg.blob_file(&layer);
    let len = std::fs::metadata(&f).unwrap().len() as usize;
    std::fs::write(&f, noise(12345, len)).unwrap();

    let ctl = Ctl::new("corrupt");
    let o = ctl.run(&["pull", &format!("{}/bad:latest", reg.addr)]);
    assert!(!o.status.success(), "a corrupted blob was accepted");
    let err = stderr(&o);
    assert!(err.contains("digest"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("imagectl:")).count(),
        1,
        "{err}"
    );
    assert!(ctl.names().is_empty(), "a name was stored");
    assert!(
        ctl.blobs().is_empty(),
        "blobs were stored: {:?}",
        ctl.blobs()
    );
    assert!(
        list(&ctl.root.join("tmp")).is_empty(),
        "temp files left behind"
    );
}

#[test]
fn unknown_images_and_registries_are_one_clear_error() {
    let reg = Registry::start(Auth::Open);
    let ctl = Ctl::new("unknown");
    let o = ctl.run(&["pull", &format!("{}/nothere:latest", reg.addr)]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("not found"), "{err}");
    let o = ctl.run(&["pull", &format!("127.0.0.1:{}/x", free_port())]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot reach"), "{}", stderr(&o));
    assert!(ctl.names().is_empty());
}

#[test]
fn basic_auth_login_pull_logout() {
    let reg = Registry::start(Auth::Basic {
        user: "user".into(),
        pass: "pass".into(),
    });
    let name = format!("{}/secret:latest", reg.addr);
    let src = format!("oci:{}:multi", layout().display());
    ok(
        &run(
            120,
            "skopeo",
            &[
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--dest-creds",
                "user:pass",
                &src,
                &format!("docker://{name}"),
            ],
            &[],
        ),
        "skopeo copy with creds",
    );
    let ctl = Ctl::new("basic");
    let o = ctl.run(&["pull", &name]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("authentication required"),
        "{}",
        stderr(&o)
    );

    let o = ctl.run(&["login", "-u", "user", "-p", "wrong", &reg.addr]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("wrong username or password"),
        "{}",
        stderr(&o)
    );
    assert!(!ctl.authfile.exists(), "bad credentials were stored");

    ctl.ok(&["login", "-u", "user", "-p", "pass", &reg.addr]);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ctl.authfile).unwrap()).unwrap();
    assert!(v["auths"][&reg.addr]["auth"].is_string());
    ctl.ok(&["pull", &name]);
    let (_, digest) = reg.raw_manifest("secret:latest", Some("user:pass"));
    assert_eq!(ctl.target(&name)["digest"], digest.as_str());

    ctl.ok(&["logout", &reg.addr]);
    let fresh = Ctl {
        root: ctl.root.with_file_name("store2"),
        home: ctl.home.clone(),
        authfile: ctl.authfile.clone(),
    };
    let o = fresh.run(&["pull", &name]);
    assert!(!o.status.success(), "pull worked after logout");
    let o = ctl.run(&["logout", &reg.addr]);
    assert!(stderr(&o).contains("not logged in"), "{}", stderr(&o));
}

#[test]
fn credentials_are_read_from_docker_config_json() {
    let reg = Registry::start(Auth::Basic {
        user: "d".into(),
        pass: "p".into(),
    });
    let src = format!("oci:{}:multi", layout().display());
    let name = format!("{}/dock:latest", reg.addr);
    ok(
        &run(
            120,
            "skopeo",
            &[
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--dest-creds",
                "d:p",
                &src,
                &format!("docker://{name}"),
            ],
            &[],
        ),
        "skopeo copy",
    );
    let ctl = Ctl::new("dockercfg");
    std::fs::create_dir_all(ctl.home.join(".docker")).unwrap();
    std::fs::write(
        ctl.home.join(".docker/config.json"),
        format!(
            r#"{{"auths":{{"http://{}/v1/":{{"auth":"ZDpw"}}}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    // REGISTRY_AUTH_FILE names one file only; without it docker's is read.
    let root = ctl.root.display().to_string();
    let home = ctl.home.display().to_string();
    let o = run(
        120,
        BIN,
        &["--root", &root, "pull", &name],
        &[
            ("HOME", &home),
            ("XDG_RUNTIME_DIR", &home),
            ("REGISTRY_AUTH_FILE", ""),
        ],
    );
    ok(&o, "pull with ~/.docker/config.json");
}

#[test]
fn token_auth_pull_and_push_with_mount() {
    let reg = Registry::start(Auth::Token {
        user: "tok".into(),
        pass: "en".into(),
    });
    let ctl = Ctl::new("token");
    let o = ctl.run(&["login", "-u", "tok", "-p", "bad", &reg.addr]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("wrong username or password"),
        "{}",
        stderr(&o)
    );
    ctl.ok(&["login", "-u", "tok", "-p", "en", &reg.addr]);

    // Upload with imagectl itself (skopeo would need the issuer too).
    let seed = Ctl::new("token-seed");
    let open = Registry::start(Auth::Open);
    open.push_oci(layout(), "multi", "multi:latest", &[]);
    seed.ok(&["pull", &format!("{}/multi:latest", open.addr)]);
    let mine = format!("{}/team/app:v1", reg.addr);
    seed.ok(&["tag", &format!("{}/multi:latest", open.addr), &mine]);
    let o = seed.run(&["push", "--authfile", ctl.authfile.to_str().unwrap(), &mine]);
    ok(&o, "push with a token");
    assert!(stderr(&o).contains("4 blobs uploaded"), "{}", stderr(&o));

    ctl.ok(&["pull", &mine]);
    // A push to another repository mounts, with a token covering both.
    let o = ctl.ok(&["push", &mine, &format!("{}/team/copy:v1", reg.addr)]);
    assert!(stderr(&o).contains("4 mounted"), "{}", stderr(&o));

    let anon = Ctl::new("token-anon");
    let o = anon.run(&["pull", &mine]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("authentication required"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn push_mounts_across_repositories_and_skopeo_reads_it() {
    let reg = Registry::start(Auth::Open);
    reg.push_oci(layout(), "multi", "src/app:latest", &[]);
    let ctl = Ctl::new("push-mount");
    let src = format!("{}/src/app:latest", reg.addr);
    ctl.ok(&["pull", &src]);
    let o = ctl.ok(&["push", &src, &format!("{}/dst/app:v2", reg.addr)]);
    let err = stderr(&o);
    assert!(err.contains("0 blobs uploaded, 4 mounted"), "{err}");
    assert!(
        reg.log().contains("mount=sha256"),
        "no mount request in the registry log"
    );
    let (_, a) = reg.raw_manifest("src/app:latest", None);
    let (_, b) = reg.raw_manifest("dst/app:v2", None);
    assert_eq!(a, b);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), a);
    let dir = reg.skopeo_pull("dst/app:v2", &[]);
    assert_eq!(layout_ref(&dir, "latest")["digest"], a.as_str());
    // Pushing again finds everything present.
    let o = ctl.ok(&["push", &src, &format!("{}/dst/app:v2", reg.addr)]);
    assert!(stderr(&o).contains("4 already present"), "{}", stderr(&o));
}

#[test]
fn chunked_push_uploads_in_pieces() {
    let src_reg = Registry::start(Auth::Open);
    src_reg.push_oci(layout(), "multi", "multi:latest", &[]);
    let ctl = Ctl::new("push-chunked");
    let src = format!("{}/multi:latest", src_reg.addr);
    ctl.ok(&["pull", &src]);
    let reg = Registry::start(Auth::Open);
    let dst = format!("{}/chunked:v1", reg.addr);
    let o = ctl.ok(&["push", "--chunk-size", "64K", &src, &dst]);
    assert!(stderr(&o).contains("4 blobs uploaded"), "{}", stderr(&o));
    let patches = reg
        .log()
        .matches("\"PATCH /v2/chunked/blobs/uploads/")
        .count();
    assert!(patches >= 12, "expected many PATCH requests, saw {patches}");
    let (_, a) = src_reg.raw_manifest("multi:latest", None);
    let (_, b) = reg.raw_manifest("chunked:v1", None);
    assert_eq!(a, b);
    let dir = reg.skopeo_pull("chunked:v1", &[]);
    let m: serde_json::Value = serde_json::from_slice(&layout_blob(&dir, &b)).unwrap();
    for l in m["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        assert_eq!(ctl.blob(d).unwrap(), layout_blob(&dir, d));
    }
    // A pushed index with every platform present goes up whole.
    src_reg.push_oci(layout(), "both", "both:latest", &["--all"]);
    let both = Ctl::new("push-index");
    let name = format!("{}/both:latest", src_reg.addr);
    both.ok(&["pull", &name]);
    both.ok(&[
        "pull",
        "--platform",
        &format!("linux/{}", other_arch()),
        &name,
    ]);
    both.ok(&["push", &name, &format!("{}/both:copy", reg.addr)]);
    let (_, x) = src_reg.raw_manifest("both:latest", None);
    let (_, y) = reg.raw_manifest("both:copy", None);
    assert_eq!(x, y, "the index digest survives a push");
}

#[test]
fn search_lists_repositories_matching_a_term() {
    let reg = Registry::start(Auth::Open);
    for r in ["busybox", "tools/busybox-extra", "alpine"] {
        reg.push_oci(layout(), "other", &format!("{r}:latest"), &[]);
    }
    let ctl = Ctl::new("search");
    let o = ctl.ok(&["search", &format!("{}/busy", reg.addr)]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "NAME");
    assert_eq!(
        &lines[1..],
        &[
            format!("{}/busybox", reg.addr).as_str(),
            format!("{}/tools/busybox-extra", reg.addr).as_str()
        ]
    );
    let o = ctl.ok(&["search", "--limit", "1", &format!("{}/", reg.addr)]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
}

#[test]
fn tls_registries_need_a_ca_bundle_when_verifying() {
    let (reg, ca) = Registry::start_tls(Auth::Open);
    reg.push_oci(layout(), "other", "tls:latest", &[]);
    let name = format!("{}/tls:latest", reg.addr);
    // Loopback: certificate not checked by default, as docker does.
    Ctl::new("tls-default").ok(&["pull", &name]);
    let strict = Ctl::new("tls-strict");
    let o = strict.run(&["pull", "--tls-verify", &name]);
    assert!(!o.status.success(), "an untrusted certificate was accepted");
    assert!(
        stderr(&o).contains("certificate") || stderr(&o).contains("Unknown"),
        "{}",
        stderr(&o)
    );
    strict.ok(&[
        "pull",
        "--tls-verify=true",
        "--ca-bundle",
        ca.to_str().unwrap(),
        &name,
    ]);
    assert_eq!(strict.names(), vec![name]);
}

#[test]
fn a_full_disk_fails_cleanly() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test mounts a tmpfs: run as root"
    );
    let reg = Registry::start(Auth::Open);
    reg.push_oci(layout(), "multi", "big:latest", &[]);
    let ctl = Ctl::new("full");
    std::fs::create_dir_all(&ctl.root).unwrap();
    let root = ctl.root.to_str().unwrap().to_string();
    ok(
        &run(
            20,
            "mount",
            &["-t", "tmpfs", "-o", "size=600k", "tmpfs", &root],
            &[],
        ),
        "mount tmpfs",
    );
    let o = ctl.run(&["pull", &format!("{}/big:latest", reg.addr)]);
    let names = ctl.names();
    let blobs = ctl.blobs();
    let tmp = list(&ctl.root.join("tmp"));
    let _ = run(20, "umount", &[&root], &[]);
    assert!(!o.status.success(), "pull into a full disk succeeded");
    assert!(stderr(&o).contains("No space left"), "{}", stderr(&o));
    assert!(
        names.is_empty() && blobs.is_empty() && tmp.is_empty(),
        "{names:?} {blobs:?} {tmp:?}"
    );
}

#[test]
fn a_docker_manifest_list_resolves_to_a_platform() {
    let reg = Registry::start(Auth::Open);
    reg.push_oci(
        layout(),
        "both",
        "list:latest",
        &["--all", "--format", "v2s2"],
    );
    let (raw, digest) = reg.raw_manifest("list:latest", None);
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        v["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json",
        "skopeo did not make a manifest list"
    );
    let name = format!("{}/list:latest", reg.addr);
    let ctl = Ctl::new("list");
    ctl.ok(&[
        "pull",
        "--platform",
        &format!("linux/{}", other_arch()),
        &name,
    ]);
    let t = ctl.target(&name);
    assert_eq!(t["digest"], digest.as_str());
    assert_eq!(
        t["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let chosen = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == other_arch())
        .unwrap();
    let m = manifest_of(&ctl, chosen["digest"].as_str().unwrap());
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}

#[test]
fn a_truncated_download_fails_and_the_store_is_unchanged() {
    let addr = truncating_registry(layout(), "multi");
    let ctl = Ctl::new("truncated");
    let o = ctl.run(&["pull", &format!("{addr}/fake:latest")]);
    assert!(!o.status.success(), "a truncated blob was accepted");
    let err = stderr(&o);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("imagectl:")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("download failed") || err.contains("truncated"),
        "{err}"
    );
    assert!(ctl.names().is_empty(), "a name was stored");
    assert!(
        ctl.blobs().is_empty(),
        "blobs were stored: {:?}",
        ctl.blobs()
    );
    assert!(
        list(&ctl.root.join("tmp")).is_empty(),
        "temp files left behind"
    );
}
