//! `imagectl unpack` end to end, as root: images built offline with umoci
//! (from the host's static busybox) and by hand (the tar crate, for
//! malicious layers), copied into a temp store, unpacked as overlay and
//! as copy, and compared with `umoci unpack` of the same image; berth runs
//! the result.

mod common;
mod unpack_support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use imagectl::store::Store;
use serde_json::{json, Value};
use unpack_support::*;

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &["sh", "echo", "cat", "ls", "id", "sleep"];
const GREETING: &str = "hello from the image";

fn need_tools() {
    need("umoci", "umoci");
    need("skopeo", "skopeo");
    need("setcap", "libcap2-bin");
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} missing: install busybox-static"
    );
}

fn set_mtime(p: &Path, secs: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// The rich image, tag "rich" in `work/oci`: three layers (two by umoci
/// repack, one hand-made and added raw) exercising every entry kind.
fn build_rich_image(work: &Path) -> PathBuf {
    let layout = work.join("oci");
    let img = format!("{}:rich", layout.display());
    let b = work.join("build");
    ok(60, "umoci", &["init", "--layout", layout.to_str().unwrap()]);
    ok(60, "umoci", &["new", "--image", &img]);
    ok(
        60,
        "umoci",
        &["unpack", "--image", &img, b.to_str().unwrap()],
    );
    let r = b.join("rootfs");
    for d in [
        "bin", "etc", "tmp", "proc", "sys", "dev", "home/app", "data", "links", "run", "opq",
    ] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    chmod(&r.join("tmp"), 0o1777);
    fs::copy(BUSYBOX, r.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        r.join("etc/group"),
        "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app\n",
    )
    .unwrap();
    nix::unistd::chown(&r.join("home/app"), Some(1000.into()), Some(1000.into())).unwrap();
    chmod(&r.join("home/app"), 0o750);
    fs::write(r.join("data/a.txt"), "alpha").unwrap();
    xattr::set(r.join("data/a.txt"), "user.test", b"hello").unwrap();
    set_mtime(&r.join("data/a.txt"), 981_173_106);
    fs::write(r.join("data/old.txt"), "to be whited out").unwrap();
    fs::write(r.join("data/hl1"), "linked").unwrap();
    fs::hard_link(r.join("data/hl1"), r.join("data/hl2")).unwrap();
    std::os::unix::fs::symlink("../data/a.txt", r.join("links/rel")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", r.join("links/abs")).unwrap();
    nix::sys::stat::mknod(
        &r.join("dev/null3"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    nix::unistd::mkfifo(
        &r.join("run/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o620),
    )
    .unwrap();
    fs::copy(BUSYBOX, r.join("bin/suid")).unwrap();
    chmod(&r.join("bin/suid"), 0o4755);
    fs::write(r.join("bin/sgid"), "#!/bin/sh\n").unwrap();
    chmod(&r.join("bin/sgid"), 0o2755);
    fs::write(r.join("data/owned"), "mine").unwrap();
    nix::unistd::chown(&r.join("data/owned"), Some(1000.into()), Some(1000.into())).unwrap();
    fs::copy(BUSYBOX, r.join("bin/capped")).unwrap();
    ok(
        30,
        "setcap",
        &["cap_net_raw+ep", r.join("bin/capped").to_str().unwrap()],
    );
    fs::write(r.join("opq/x"), "x").unwrap();
    fs::write(r.join("opq/y"), "y").unwrap();
    ok(
        120,
        "umoci",
        &[
            "repack",
            "--refresh-bundle",
            "--image",
            &img,
            b.to_str().unwrap(),
        ],
    );
    // Layer 2: a whiteout, a new file, a changed mode.
    fs::remove_file(r.join("data/old.txt")).unwrap();
    fs::write(r.join("data/new.txt"), "new").unwrap();
    set_mtime(&r.join("data/new.txt"), 1_234_567_890);
    chmod(&r.join("data/hl1"), 0o600);
    ok(
        120,
        "umoci",
        &["repack", "--image", &img, b.to_str().unwrap()],
    );
    // Layer 3, by hand: an opaque directory and PAX records.
    let l3 = TarBuilder::new()
        .dir("opq/")
        .file("opq/.wh..wh..opq", b"")
        .file_pax(
            "opq/z",
            b"zed",
            &[("SCHILY.xattr.user.pax", b"1"), ("mtime", b"1000000000.5")],
        )
        .finish();
    let l3p = work.join("l3.tar");
    fs::write(&l3p, l3).unwrap();
    ok(
        60,
        "umoci",
        &["raw", "add-layer", "--image", &img, l3p.to_str().unwrap()],
    );
    ok(
        60,
        "umoci",
        &[
            "config",
            "--image",
            &img,
            "--config.cmd",
            "/bin/echo",
            "--config.cmd",
            GREETING,
            "--config.env",
            "FOO=bar",
            "--config.env",
            "PATH=/bin",
            "--config.user",
            "app",
            "--config.workingdir",
            "/home/app",
            "--config.label",
            "com.example.label=yes",
            "--config.exposedports",
            "8080/tcp",
            "--config.stopsignal",
            "SIGINT",
        ],
    );
    layout
}

/// A store holding the rich image as docker.io/library/rich:latest.
fn rich_store(t: &TempDir) -> (PathBuf, PathBuf) {
    need_tools();
    let layout = build_rich_image(t.path());
    let store = t.join("store");
    Store::open(&store).unwrap();
    ok(
        120,
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("oci:{}:rich", layout.display()),
            &format!("oci:{}:docker.io/library/rich:latest", store.display()),
        ],
    );
    (layout, store)
}

fn umoci_ref(t: &TempDir, layout: &Path) -> PathBuf {
    let r = t.join("umoci-ref");
    ok(
        120,
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:rich", layout.display()),
            r.to_str().unwrap(),
        ],
    );
    r
}

fn unpack_ok(store: &Path, args: &[&str]) {
    let mut a = vec!["unpack"];
    a.extend_from_slice(args);
    let o = imagectl(store, &a);
    assert!(
        o.status.success(),
        "imagectl unpack {args:?}: {}",
        stderr(&o)
    );
}

fn config(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap()
}

fn cache_entries(store: &Path) -> Vec<String> {
    fs::read_dir(store.join("layers/sha256"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn overlay_and_copy_rootfs_match_umoci_unpack() {
    let t = TempDir::new("match");
    let (layout, store) = rich_store(&t);
    let reference = umoci_ref(&t, &layout);
    let ov = t.join("ov");
    let cp = t.join("cp");
    unpack_ok(&store, &["rich", ov.to_str().unwrap()]);
    unpack_ok(&store, &["--copy", "rich", cp.to_str().unwrap()]);
    assert_eq!(mounts_under(&ov), [ov.join("rootfs")]);
    assert!(mounts_under(&cp).is_empty());
    // Spot checks that the comparison covers what it should.
    let rr = reference.join("rootfs");
    assert!(!rr.join("data/old.txt").exists());
    assert!(!rr.join("opq/x").exists() && rr.join("opq/z").exists());
    assert!(xattr::get(rr.join("bin/capped"), "security.capability")
        .unwrap()
        .is_some());
    assert_same_tree(&ov.join("rootfs"), &rr);
    assert_same_tree(&cp.join("rootfs"), &rr);
    // The cache holds overlayfs whiteouts and opaque markers.
    let layers: Vec<PathBuf> =
        serde_json::from_slice::<Value>(&fs::read(ov.join(".imagectl-bundle")).unwrap()).unwrap()
            ["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| PathBuf::from(v.as_str().unwrap()))
            .collect();
    assert_eq!(layers.len(), 3);
    let wh = fs::symlink_metadata(layers[1].join("data/old.txt")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&wh.file_type()) && wh.rdev() == 0);
    assert_eq!(
        xattr::get(layers[2].join("opq"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    for d in [&ov, &cp] {
        let o = imagectl(&store, &["unpack", "--remove", d.to_str().unwrap()]);
        assert!(o.status.success(), "remove: {}", stderr(&o));
        assert!(!d.exists());
    }
}

#[test]
fn config_json_matches_umoci_where_the_rules_agree() {
    let t = TempDir::new("config");
    let (layout, store) = rich_store(&t);
    let reference = umoci_ref(&t, &layout);
    let b = t.join("b");
    unpack_ok(&store, &["rich", b.to_str().unwrap()]);
    let got = config(&b);
    let want = config(&reference);
    let gp = &got["process"];
    let wp = &want["process"];
    assert_eq!(gp["args"], json!(["/bin/echo", GREETING]));
    assert_eq!(gp["args"], wp["args"]);
    assert_eq!(gp["cwd"], "/home/app");
    assert_eq!(gp["cwd"], wp["cwd"]);
    assert_eq!(gp["env"], json!(["FOO=bar", "PATH=/bin", "HOME=/home/app"]));
    // umoci adds TERM for its terminal default (ours is terminal false).
    let set = |v: &Value| {
        let mut e: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        e.retain(|s| s != "TERM=xterm");
        e.sort();
        e
    };
    assert_eq!(set(&gp["env"]), set(&wp["env"]));
    assert_eq!(gp["user"]["uid"], 1000);
    assert_eq!(gp["user"]["gid"], 1000);
    assert_eq!(gp["user"]["uid"], wp["user"]["uid"]);
    assert_eq!(gp["user"]["gid"], wp["user"]["gid"]);
    assert_eq!(gp["user"]["additionalGids"], json!([10, 29]));
    assert_eq!(gp["user"]["additionalGids"], wp["user"]["additionalGids"]);
    assert_eq!(gp["terminal"], false);
    assert_eq!(got["root"], json!({"path": "rootfs", "readonly": false}));
    let ga = got["annotations"].as_object().unwrap();
    let wa = want["annotations"].as_object().unwrap();
    for k in [
        "org.opencontainers.image.os",
        "org.opencontainers.image.architecture",
        "org.opencontainers.image.stopSignal",
        "org.opencontainers.image.exposedPorts",
        "org.opencontainers.image.created",
        "com.example.label",
    ] {
        assert!(ga.contains_key(k), "annotation {k} missing: {ga:?}");
        assert_eq!(ga[k], wa[k], "annotation {k}");
    }
    assert_eq!(ga["org.opencontainers.image.stopSignal"], "SIGINT");
    assert_eq!(ga["org.opencontainers.image.exposedPorts"], "8080/tcp");
}

fn berth() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let berth = exe.parent().unwrap().parent().unwrap().join("berth");
    assert!(
        berth.exists(),
        "{} missing: run `cargo build -p berth` first",
        berth.display()
    );
    berth
}

#[test]
fn berth_runs_the_unpacked_bundle() {
    let berth = berth();
    let t = TempDir::new("berth");
    let (_, store) = rich_store(&t);
    let state = t.join("state");
    for (i, copy) in [false, true].into_iter().enumerate() {
        let b = t.join(&format!("b{i}"));
        let mut args = vec![];
        if copy {
            args.push("--copy");
        }
        args.extend(["rich", b.to_str().unwrap()]);
        unpack_ok(&store, &args);
        let id = format!("imagectl-unpack-{}-{i}", std::process::id());
        let o = run(
            60,
            berth.to_str().unwrap(),
            &[
                "--root",
                state.to_str().unwrap(),
                "run",
                "--bundle",
                b.to_str().unwrap(),
                &id,
            ],
        );
        assert!(o.status.success(), "berth run: {}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), GREETING);
        let _ = run(
            30,
            berth.to_str().unwrap(),
            &["--root", state.to_str().unwrap(), "delete", "-f", &id],
        );
        let o = imagectl(&store, &["unpack", "--remove", b.to_str().unwrap()]);
        assert!(o.status.success(), "remove: {}", stderr(&o));
    }
}

#[test]
fn second_bundle_reuses_the_layer_cache() {
    let t = TempDir::new("reuse");
    let (_, store) = rich_store(&t);
    let b1 = t.join("b1");
    let b2 = t.join("b2");
    unpack_ok(&store, &["rich", b1.to_str().unwrap()]);
    let before: Vec<(String, u64)> = cache_entries(&store)
        .into_iter()
        .map(|n| {
            let ino = fs::metadata(store.join("layers/sha256").join(&n))
                .unwrap()
                .ino();
            (n, ino)
        })
        .collect();
    assert_eq!(before.len(), 3);
    let start = Instant::now();
    let o = imagectl(&store, &["unpack", "rich", b2.to_str().unwrap()]);
    let took = start.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(0 extracted)"), "{}", stderr(&o));
    for (n, ino) in &before {
        assert_eq!(
            fs::metadata(store.join("layers/sha256").join(n))
                .unwrap()
                .ino(),
            *ino,
            "{n} was re-extracted"
        );
    }
    assert_eq!(cache_entries(&store).len(), 3);
    eprintln!("second bundle: {took:?}");
    assert!(took < Duration::from_secs(2), "second bundle took {took:?}");
    // The two bundles are independent: a write in one is not in the other.
    fs::write(b1.join("rootfs/data/only-b1"), "x").unwrap();
    assert!(!b2.join("rootfs/data/only-b1").exists());
    assert!(b1.join(".upper/data/only-b1").exists());
}

/// A store with one hand-made image `name` of `layers`.
fn hand_store(t: &TempDir, name: &str, layers: &[Layer], exec: Value) -> PathBuf {
    let p = t.join("store");
    let s = Store::open(&p).unwrap();
    store_image(
        &s,
        &format!("docker.io/library/{name}:latest"),
        layers,
        exec,
    );
    p
}

/// Cache entries for the layer blob `digest` (final or in-progress).
fn cache_entries_of(store: &Path, digest: &str) -> Vec<String> {
    let hex = digest.trim_start_matches("sha256:");
    cache_entries(store)
        .into_iter()
        .filter(|n| n.trim_start_matches('.').starts_with(hex))
        .collect()
}

fn assert_refused(store: &Path, image: &str, dir: &Path, bad: &str, needles: &[&str]) {
    for copy in [false, true] {
        let mut a = vec!["unpack"];
        if copy {
            a.push("--copy");
        }
        a.extend([image, dir.to_str().unwrap()]);
        let o = imagectl(store, &a);
        let err = stderr(&o);
        assert!(
            !o.status.success(),
            "unpack {image} (copy {copy}) succeeded"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("imagectl: "), "{err}");
        for n in needles {
            assert!(err.contains(n), "{err:?} lacks {n:?}");
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
        let left = cache_entries_of(store, bad);
        assert!(left.is_empty(), "cache left for the bad layer: {left:?}");
        assert!(mounts_under(dir.parent().unwrap()).is_empty());
    }
}

#[test]
fn traversal_layers_are_refused_and_write_nothing_outside() {
    let t = TempDir::new("evil");
    let outside = t.join("outside");
    fs::create_dir(&outside).unwrap();
    let token = format!("imagectl-evil-{}", std::process::id());
    let abs_target = format!("/tmp/{token}-abs");
    let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            TarBuilder::new()
                .file(&format!("../{token}"), b"x")
                .finish(),
            "\"..\"",
        ),
        (
            "deep",
            TarBuilder::new()
                .dir("a/")
                .file(&format!("a/../../../{token}"), b"x")
                .finish(),
            "\"..\"",
        ),
        (
            "abs",
            TarBuilder::new().file(&abs_target, b"x").finish(),
            "absolute",
        ),
        (
            "symparent",
            TarBuilder::new()
                .symlink("link", outside.to_str().unwrap())
                .file("link/file", b"x")
                .finish(),
            "symlink",
        ),
        (
            "hardabs",
            TarBuilder::new().hardlink("pw", "/etc/passwd").finish(),
            "hard link",
        ),
        (
            "hardup",
            TarBuilder::new()
                .hardlink("pw", "../../../../../../etc/passwd")
                .finish(),
            "hard link",
        ),
    ];
    for (name, tar, why) in cases {
        let sub = TempDir::new(&format!("evil-{name}"));
        let layer = Layer::gzip(tar);
        let digest = layer.digest();
        // A good layer below, so a half-made state would be visible.
        let good = Layer::plain(TarBuilder::new().dir("etc/").file("etc/ok", b"ok").finish());
        let store = hand_store(&sub, name, &[good, layer], json!({"Cmd": ["/x"]}));
        let dir = sub.join("bundle");
        assert_refused(&store, name, &dir, &digest, &[&digest, why]);
        assert!(!store.join("layers/sha256").join(&token).exists());
        assert!(!sub.join(&token).exists() && !store.join(&token).exists());
        assert!(!Path::new(&abs_target).exists());
        assert!(
            !outside.join("file").exists(),
            "{name}: wrote through the symlink"
        );
    }
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
}

#[test]
fn corrupt_and_truncated_layers_are_one_clear_error() {
    let good = TarBuilder::new()
        .dir("etc/")
        .file("etc/f", &vec![7u8; 200_000])
        .finish();
    let mut truncated = Layer::gzip(good.clone());
    truncated.blob.truncate(truncated.blob.len() / 2);
    let mut garbage = Layer::gzip(good.clone());
    let n = garbage.blob.len();
    for b in &mut garbage.blob[20..n - 20] {
        *b ^= 0x5a;
    }
    let mut wrong_diff = Layer::plain(good);
    wrong_diff.diff_id = format!("sha256:{}", "0".repeat(64));
    for (name, l, needle) in [
        ("trunc", truncated, "layer sha256:"),
        ("garbage", garbage, "layer sha256:"),
        ("diffid", wrong_diff, "diff_ids"),
    ] {
        let sub = TempDir::new(&format!("corrupt-{name}"));
        let d = l.digest();
        let store = hand_store(&sub, name, &[l], json!({"Cmd": ["/x"]}));
        let needle = if needle == "diff_ids" {
            "the image config says".to_string()
        } else {
            format!("layer {d}")
        };
        assert_refused(&store, name, &sub.join("bundle"), &d, &[&needle]);
    }
}

#[test]
fn unknown_user_is_an_error_and_leaves_no_bundle() {
    let t = TempDir::new("user");
    let l = Layer::plain(
        TarBuilder::new()
            .dir("etc/")
            .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
            .file("etc/group", b"root:x:0:\n")
            .finish(),
    );
    let store = hand_store(&t, "u", &[l], json!({"Cmd": ["/x"], "User": "ghost"}));
    let dir = t.join("bundle");
    for copy in [false, true] {
        let mut a = vec!["unpack"];
        if copy {
            a.push("--copy");
        }
        a.extend(["u", dir.to_str().unwrap()]);
        let o = imagectl(&store, &a);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("\"ghost\""), "{}", stderr(&o));
        assert!(!dir.exists());
        assert!(mounts_under(t.path()).is_empty());
    }
    // An existing empty DIR is left (empty) rather than removed.
    fs::create_dir(&dir).unwrap();
    let o = imagectl(&store, &["unpack", "u", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(dir.is_dir() && fs::read_dir(&dir).unwrap().next().is_none());
}

#[test]
fn non_empty_dir_is_refused_and_kept() {
    let t = TempDir::new("nonempty");
    let l = Layer::plain(TarBuilder::new().file("f", b"x").finish());
    let store = hand_store(&t, "n", &[l], json!({"Cmd": ["/x"]}));
    let dir = t.join("bundle");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("precious"), "keep").unwrap();
    let o = imagectl(&store, &["unpack", "n", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not an empty directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_to_string(dir.join("precious")).unwrap(), "keep");
    let o = imagectl(&store, &["unpack", "--remove", dir.to_str().unwrap()]);
    assert!(!o.status.success(), "removed a dir that is not a bundle");
    assert!(dir.join("precious").exists());
}

#[test]
fn many_layers_mount_beyond_the_one_page_option_limit() {
    let t = TempDir::new("many");
    let layers: Vec<Layer> = (0..130)
        .map(|i| {
            Layer::plain(
                TarBuilder::new()
                    .dir("l/")
                    .file(&format!("l/{i}"), format!("{i}").as_bytes())
                    .finish(),
            )
        })
        .collect();
    let mut layers = layers;
    // The top layer overrides a bottom file and whites out another.
    layers.push(Layer::plain(
        TarBuilder::new()
            .dir("l/")
            .file("l/0", b"top")
            .file("l/.wh.1", b"")
            .finish(),
    ));
    let store = hand_store(&t, "many", &layers, json!({"Cmd": ["/x"]}));
    let b = t.join("b");
    unpack_ok(&store, &["many", b.to_str().unwrap()]);
    let r = b.join("rootfs/l");
    assert_eq!(fs::read_to_string(r.join("0")).unwrap(), "top");
    assert!(!r.join("1").exists());
    assert_eq!(fs::read_to_string(r.join("129")).unwrap(), "129");
    assert_eq!(fs::read_dir(&r).unwrap().count(), 129);
    let o = imagectl(&store, &["unpack", "--remove", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn dir_recreated_over_its_whiteout_hides_the_lower_contents() {
    let t = TempDir::new("rewhite");
    let l1 = Layer::plain(
        TarBuilder::new()
            .dir("d/")
            .file("d/old", b"old")
            .file("keep", b"k")
            .finish(),
    );
    let l2 = Layer::plain(
        TarBuilder::new()
            .file(".wh.d", b"")
            .dir("d/")
            .file("d/new", b"new")
            .finish(),
    );
    let store = hand_store(&t, "rw", &[l1, l2], json!({"Cmd": ["/x"]}));
    for (i, copy) in [false, true].into_iter().enumerate() {
        let b = t.join(&format!("b{i}"));
        let mut a = vec![];
        if copy {
            a.push("--copy");
        }
        a.extend(["rw", b.to_str().unwrap()]);
        unpack_ok(&store, &a);
        let r = b.join("rootfs");
        assert!(!r.join("d/old").exists(), "copy {copy}: lower d/old shows");
        assert_eq!(fs::read_to_string(r.join("d/new")).unwrap(), "new");
        assert!(r.join("keep").exists());
        let o = imagectl(&store, &["unpack", "--remove", b.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn plain_gzip_and_zstd_layers_unpack_and_gc_takes_the_cache_with_the_image() {
    let t = TempDir::new("codecs");
    let layers = vec![
        Layer::plain(TarBuilder::new().file("plain", b"p").finish()),
        Layer::gzip(TarBuilder::new().file("gzip", b"g").finish()),
        Layer::zstd(TarBuilder::new().file("zstd", b"z").finish()),
    ];
    let store = hand_store(&t, "codecs", &layers, json!({"Cmd": ["/x"]}));
    let b = t.join("b");
    unpack_ok(&store, &["codecs", b.to_str().unwrap()]);
    for f in ["plain", "gzip", "zstd"] {
        assert_eq!(
            fs::read_to_string(b.join("rootfs").join(f)).unwrap(),
            &f[..1]
        );
    }
    assert_eq!(cache_entries(&store).len(), 3);
    let o = imagectl(&store, &["unpack", "--remove", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The store's gc removes unpacked layers whose blob no name reaches.
    let o = imagectl(&store, &["rmi", "codecs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = imagectl(&store, &["gc"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        cache_entries(&store).is_empty(),
        "{:?}",
        cache_entries(&store)
    );
}

#[test]
fn image_without_layers_unpacks_to_an_empty_rootfs() {
    let t = TempDir::new("nolayers");
    let store = hand_store(&t, "none", &[], json!({"Cmd": ["/x"], "User": "7:7"}));
    for (i, copy) in [false, true].into_iter().enumerate() {
        let b = t.join(&format!("b{i}"));
        let mut a = vec![];
        if copy {
            a.push("--copy");
        }
        a.extend(["none", b.to_str().unwrap()]);
        unpack_ok(&store, &a);
        assert_eq!(fs::read_dir(b.join("rootfs")).unwrap().count(), 0);
        assert_eq!(config(&b)["process"]["user"], json!({"uid": 7, "gid": 7}));
        let o = imagectl(&store, &["unpack", "--remove", b.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn symlink_from_a_lower_layer_is_not_followed_by_an_upper_one() {
    let t = TempDir::new("xlayer");
    let outside = t.join("outside");
    fs::create_dir(&outside).unwrap();
    let l1 = Layer::plain(
        TarBuilder::new()
            .symlink("link", outside.to_str().unwrap())
            .finish(),
    );
    let l2 = Layer::plain(TarBuilder::new().file("link/file", b"x").finish());
    let bad = l2.digest();
    let store = hand_store(&t, "xl", &[l1, l2], json!({"Cmd": ["/x"]}));
    // Overlay: each layer is extracted alone, so `link/` is a directory of
    // the upper layer (hiding the symlink), never the symlink's target.
    let b = t.join("ov");
    unpack_ok(&store, &["xl", b.to_str().unwrap()]);
    assert!(!outside.join("file").exists());
    assert!(fs::symlink_metadata(b.join("rootfs/link"))
        .unwrap()
        .is_dir());
    let o = imagectl(&store, &["unpack", "--remove", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Copy: the walk meets the symlink and refuses.
    let b = t.join("cp");
    let o = imagectl(&store, &["unpack", "--copy", "xl", b.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&bad) && err.contains("link/file") && err.contains("symlink"),
        "{err}"
    );
    assert!(!outside.join("file").exists());
    assert!(!b.exists());
}

#[test]
fn opaque_marker_keeps_what_its_own_layer_put_there() {
    let t = TempDir::new("opqsame");
    let l1 = Layer::plain(TarBuilder::new().dir("d/").file("d/lower", b"l").finish());
    // The marker after an entry of the same layer: only lower content goes.
    let l2 = Layer::plain(
        TarBuilder::new()
            .dir("d/")
            .file("d/mine", b"m")
            .file("d/.wh..wh..opq", b"")
            .finish(),
    );
    let store = hand_store(&t, "opq", &[l1, l2], json!({"Cmd": ["/x"]}));
    for (i, copy) in [false, true].into_iter().enumerate() {
        let b = t.join(&format!("b{i}"));
        let mut a = vec![];
        if copy {
            a.push("--copy");
        }
        a.extend(["opq", b.to_str().unwrap()]);
        unpack_ok(&store, &a);
        let names: Vec<String> = fs::read_dir(b.join("rootfs/d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["mine"], "copy {copy}");
        let o = imagectl(&store, &["unpack", "--remove", b.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}
