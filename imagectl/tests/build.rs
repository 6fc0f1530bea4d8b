//! `imagectl build` end to end (as root): the repository's examples built,
//! unpacked and run with berth; the cache (hits on rebuild, misses from a
//! changed COPY on); ARG/ENV expansion; a failing RUN (exit code and
//! output shown, no name, no mounts or temp bundles left); and the same
//! Dockerfile built by `buildah bud` gives the same config and files.

mod build_support;
mod common;

use std::fs;

use build_support::*;

#[test]
fn busybox_example_builds_and_runs() {
    let t = TempDir::new("bb");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    let o = build(&root, &ctx, &["-t", "localhost/example:bb"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let out = run_image(&t, &root, "localhost/example:bb");
    assert_eq!(out, "hello from /srv\ngreetings from the build context\n");
    let c = config_of(&root, "localhost/example:bb");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Labels"]["example"], "busybox");
    assert!(c["ExposedPorts"].get("8080/tcp").is_some());
}

#[test]
fn rebuild_hits_the_cache_and_a_context_change_misses_from_its_copy_on() {
    let t = TempDir::new("cache");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    let first = build(&root, &ctx, &["-t", "localhost/c:1"]);
    assert!(first.status.success(), "build: {}", text(&first.stderr));
    let again = build(&root, &ctx, &["-t", "localhost/c:2"]);
    assert!(again.status.success());
    let e = text(&again.stderr);
    assert_eq!(e.matches("Using cache").count(), 11, "{e}");
    assert_eq!(text(&first.stdout), text(&again.stdout), "same image id");
    fs::write(ctx.join("greeting.txt"), "changed\n").unwrap();
    let third = build(&root, &ctx, &["-t", "localhost/c:3"]);
    assert!(third.status.success());
    let e = text(&third.stderr);
    // COPY busybox, RUN --install, ENV, WORKDIR hit; from COPY greeting.txt on, all miss.
    assert_eq!(e.matches("Using cache").count(), 4, "{e}");
    let step6 = e.split("STEP 6/12").nth(1).unwrap();
    assert!(!step6.contains("Using cache"), "{e}");
    assert_ne!(text(&first.stdout), text(&third.stdout));
    assert_eq!(
        run_image(&t, &root, "localhost/c:3"),
        "hello from /srv\nchanged\n"
    );
    let nc = build(&root, &ctx, &["--no-cache", "-t", "localhost/c:4"]);
    assert!(nc.status.success());
    assert_eq!(text(&nc.stderr).matches("Using cache").count(), 0);
}

#[test]
fn multistage_example_copies_from_the_build_stage() {
    let t = TempDir::new("multi");
    let root = t.join("store");
    let ctx = example_context(&t, "multistage");
    let o = build(
        &root,
        &ctx,
        &["-t", "localhost/multi:1", "--build-arg", "VERSION=2.5"],
    );
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    assert_eq!(
        run_image(&t, &root, "localhost/multi:1"),
        "version 2.5\nbuilt in stage build\n"
    );
    // Only the final stage's two layers.
    let o = imagectl(&root, &["inspect", "localhost/multi:1"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v[0]["RootFS"]["diff_ids"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
    // --target stops at the build stage.
    let o = build(
        &root,
        &ctx,
        &["-t", "localhost/multi:build", "--target", "build"],
    );
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let c = config_of(&root, "localhost/multi:build");
    assert_eq!(c["WorkingDir"], "/work");
}

#[test]
fn arg_and_env_expansion() {
    let t = TempDir::new("args");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    fs::write(
        ctx.join("Dockerfile"),
        r#"ARG BASE_DIR=/opt
FROM scratch
ARG BASE_DIR
ARG NAME=default
ARG UNSET
COPY busybox /bin/busybox
ENV APP=$BASE_DIR/${NAME} ALT=${UNSET:-fallback} PLUS=${NAME:+set} LIT=\$NAME
WORKDIR $APP
LABEL name="${NAME}"
RUN ["/bin/busybox", "sh", "-c", "echo $NAME $APP $ALT $PLUS $LIT > out.txt"]
CMD ["/bin/busybox", "cat", "out.txt"]
"#,
    )
    .unwrap();
    let o = build(
        &root,
        &ctx,
        &["-t", "localhost/args:1", "--build-arg", "NAME=given"],
    );
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let c = config_of(&root, "localhost/args:1");
    assert_eq!(
        c["Env"],
        serde_json::json!(["APP=/opt/given", "ALT=fallback", "PLUS=set", "LIT=$NAME"])
    );
    assert_eq!(c["WorkingDir"], "/opt/given");
    assert_eq!(c["Labels"]["name"], "given");
    // RUN sees the ARG in its environment (not persisted in the config).
    assert_eq!(
        run_image(&t, &root, "localhost/args:1"),
        "given /opt/given fallback set $NAME\n"
    );
}

#[test]
fn failing_run_shows_output_and_exit_code_and_leaves_nothing() {
    let t = TempDir::new("fail");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo about to fail; exit 3\"]\n",
    )
    .unwrap();
    let o = build(&root, &ctx, &["-t", "localhost/fail:1"]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("about to fail"), "{e}");
    assert!(e.contains("exit code 3"), "{e}");
    let o = imagectl(&root, &["inspect", "localhost/fail:1"]);
    assert!(!o.status.success(), "the name must not exist");
    assert!(mounts_under(&t.0).is_empty(), "{:?}", mounts_under(&t.0));
    let tmp: Vec<_> = fs::read_dir(root.join("tmp"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "left in tmp/: {tmp:?}");
}

#[test]
fn parse_errors_name_line_and_column() {
    let t = TempDir::new("parse");
    let root = t.join("store");
    let ctx = t.join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), "FROM scratch\n\n    RUNN x\n").unwrap();
    let o = build(&root, &ctx, &[]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("Dockerfile:3:5: unknown instruction \"RUNN\""),
        "{}",
        text(&o.stderr)
    );
}

/// The same Dockerfile through `buildah bud`: same config fields and the
/// same files (rootfs trees compared after umoci/imagectl unpack).
#[test]
fn same_config_and_files_as_buildah() {
    need("buildah", "buildah");
    need("umoci", "umoci");
    let t = TempDir::new("buildah");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    let o = build(&root, &ctx, &["-t", "localhost/cmp:ours"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let br = t.join("buildah-root");
    let brr = t.join("buildah-runroot");
    let (brs, brrs) = (
        br.to_str().unwrap().to_string(),
        brr.to_str().unwrap().to_string(),
    );
    let ba = |args: &[&str]| {
        let mut a = vec![
            "--storage-driver",
            "vfs",
            "--root",
            &brs,
            "--runroot",
            &brrs,
        ];
        a.extend_from_slice(args);
        ok(600, "buildah", &a)
    };
    ba(&[
        "bud",
        "--isolation",
        "chroot",
        "--layers=false",
        "-t",
        "localhost/cmp:buildah",
        ctx.to_str().unwrap(),
    ]);
    let oci = t.join("buildah-oci");
    ba(&[
        "push",
        "localhost/cmp:buildah",
        &format!("oci:{}:theirs", oci.display()),
    ]);
    let theirs_b = t.join("theirs");
    ok(
        300,
        "umoci",
        &[
            "raw",
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:theirs", oci.display()),
            theirs_b.to_str().unwrap(),
        ],
    );
    let ours_b = t.join("ours");
    let o = imagectl(
        &root,
        &[
            "unpack",
            "--copy",
            "localhost/cmp:ours",
            ours_b.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "unpack: {}", text(&o.stderr));
    let a = snapshot(&ours_b.join("rootfs"));
    let b = snapshot(&theirs_b);
    let only = |x: &std::collections::BTreeMap<String, String>,
                y: &std::collections::BTreeMap<String, String>|
     -> Vec<String> {
        x.iter()
            .filter(|(k, v)| y.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect()
    };
    // Files and kinds must agree; directory mtimes are not compared.
    assert_eq!(
        only(&a, &b),
        Vec::<String>::new(),
        "ours differ from buildah's: {:?}",
        only(&b, &a)
    );
    let ours = config_of(&root, "localhost/cmp:ours");
    let cfg: serde_json::Value = {
        let idx: serde_json::Value =
            serde_json::from_slice(&fs::read(oci.join("index.json")).unwrap()).unwrap();
        let d = idx["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_string();
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(oci.join("blobs/sha256").join(d)).unwrap()).unwrap();
        let c = m["config"]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_string();
        serde_json::from_slice(&fs::read(oci.join("blobs/sha256").join(c)).unwrap()).unwrap()
    };
    let theirs = &cfg["config"];
    for k in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Labels",
    ] {
        let mut t = theirs[k].clone();
        if k == "Labels" {
            // buildah adds its own version label.
            if let Some(m) = t.as_object_mut() {
                m.remove("io.buildah.version");
            }
        }
        assert_eq!(ours[k], t, "{k}");
    }
}

#[test]
fn copy_flags_globs_heredocs_add_archives_and_dockerignore() {
    let t = TempDir::new("copy");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    fs::create_dir_all(ctx.join("src/sub")).unwrap();
    fs::write(ctx.join("src/a.txt"), "a\n").unwrap();
    fs::write(ctx.join("src/b.txt"), "b\n").unwrap();
    fs::write(ctx.join("src/sub/c.txt"), "c\n").unwrap();
    fs::write(ctx.join("src/secret.key"), "no\n").unwrap();
    fs::write(ctx.join(".dockerignore"), "src/*.key\n").unwrap();
    ok(
        30,
        "tar",
        &[
            "-czf",
            ctx.join("arch.tar.gz").to_str().unwrap(),
            "-C",
            ctx.join("src").to_str().unwrap(),
            "sub",
        ],
    );
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY --chown=7:8 --chmod=600 src/*.txt /g/\nCOPY src /tree\nADD arch.tar.gz /x/\nCOPY <<EOF /h.txt\nheredoc $HOME\nEOF\nCMD [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox ls /tree /x/sub; /bin/busybox stat -c '%n %a %u:%g' /g/a.txt; /bin/busybox cat /h.txt\"]\n",
    )
    .unwrap();
    let o = build(&root, &ctx, &["-t", "localhost/copy:1"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    assert_eq!(
        run_image(&t, &root, "localhost/copy:1"),
        "/tree:\na.txt\nb.txt\nsub\n\n/x/sub:\nc.txt\n/g/a.txt 600 7:8\nheredoc \n"
    );
}

#[test]
fn interrupt_unwinds_and_leaves_nothing() {
    let t = TempDir::new("int");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"60\"]\n",
    )
    .unwrap();
    let berth = berth();
    let mut child = std::process::Command::new(IMAGECTL)
        .args([
            "--root",
            root.to_str().unwrap(),
            "build",
            "--runtime",
            berth.to_str().unwrap(),
            "-t",
            "localhost/int:1",
            ctx.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Until the RUN's bundle is mounted.
    for _ in 0..200 {
        if !mounts_under(&root).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let start = std::time::Instant::now();
    let st = child.wait().unwrap();
    assert!(!st.success());
    assert!(start.elapsed().as_secs() < 30, "the RUN was not stopped");
    assert!(mounts_under(&t.0).is_empty(), "{:?}", mounts_under(&t.0));
    let tmp: Vec<_> = fs::read_dir(root.join("tmp"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "left in tmp/: {tmp:?}");
    assert!(!imagectl(&root, &["inspect", "localhost/int:1"])
        .status
        .success());
}

#[test]
fn from_a_stored_image_inherits_its_config_and_layers() {
    let t = TempDir::new("base");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    let o = build(&root, &ctx, &["-t", "localhost/base:1"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let child = t.join("child");
    fs::create_dir_all(&child).unwrap();
    fs::write(
        child.join("Dockerfile"),
        "FROM localhost/base:1\nUSER 0\nRUN echo \"child as $(id -u) in $(pwd)\" >> built.txt\n",
    )
    .unwrap();
    let o = build(&root, &child, &["-t", "localhost/child:1"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    assert_eq!(
        run_image(&t, &root, "localhost/child:1"),
        "hello from /srv\ngreetings from the build context\nchild as 0 in /srv\n"
    );
    let c = config_of(&root, "localhost/child:1");
    assert_eq!(c["Labels"]["example"], "busybox");
    assert_eq!(c["User"], "0");
}

#[test]
fn shell_healthcheck_and_onbuild_persist_and_triggers_run_in_the_child() {
    let t = TempDir::new("onbuild");
    let root = t.join("store");
    let ctx = example_context(&t, "busybox");
    let o = build(&root, &ctx, &["-t", "localhost/base:1"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let mid = t.join("mid");
    fs::create_dir_all(&mid).unwrap();
    fs::write(
        mid.join("Dockerfile"),
        "FROM localhost/base:1\nUSER 0\nSHELL [\"/bin/busybox\", \"sh\", \"-c\"]\n\
         HEALTHCHECK --interval=30s --retries=2 CMD [\"/bin/true\"]\n\
         ONBUILD RUN echo triggered > /srv/onbuild.txt\n",
    )
    .unwrap();
    let o = build(&root, &mid, &["-t", "localhost/mid:1"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let c = config_of(&root, "localhost/mid:1");
    assert_eq!(
        c["Shell"],
        serde_json::json!(["/bin/busybox", "sh", "-c"]),
        "{c}"
    );
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/bin/true"]),
        "{c}"
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000u64, "{c}");
    assert_eq!(c["Healthcheck"]["Retries"], 2, "{c}");
    assert_eq!(
        c["OnBuild"],
        serde_json::json!(["RUN echo triggered > /srv/onbuild.txt"]),
        "{c}"
    );
    // The trigger did not run in the image that declared it.
    assert!(!run_image(&t, &root, "localhost/mid:1").contains("triggered"));

    let child = t.join("child");
    fs::create_dir_all(&child).unwrap();
    fs::write(
        child.join("Dockerfile"),
        "FROM localhost/mid:1\nRUN tr '\\0' ' ' < /proc/$$/cmdline > /srv/cmd.txt; true\n\
         CMD [\"cat /srv/onbuild.txt /srv/cmd.txt\"]\n",
    )
    .unwrap();
    let o = build(&root, &child, &["-t", "localhost/child:1"]);
    assert!(o.status.success(), "build: {}", text(&o.stderr));
    let out = run_image(&t, &root, "localhost/child:1");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("triggered"), "{out}");
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .starts_with("/bin/busybox sh -c tr"),
        "the child's RUN used the inherited SHELL: {out}"
    );
    let c = config_of(&root, "localhost/child:1");
    assert!(
        c.get("OnBuild").is_none_or(|v| v.is_null()),
        "triggers are not passed on: {c}"
    );
    assert_eq!(
        c["Shell"],
        serde_json::json!(["/bin/busybox", "sh", "-c"]),
        "{c}"
    );
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/bin/true"]),
        "{c}"
    );
}
