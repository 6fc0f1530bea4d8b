//! Test helpers for the registry tests: a real docker-registry 2.8 on
//! 127.0.0.1 (open, htpasswd, or token auth with a tiny issuer in a thread),
//! images built offline with umoci and copied with skopeo, and the
//! imagectl binary run with a timeout. Missing tools fail the test with
//! what to install.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

pub use crate::common::{need, sha256_hex, stderr};

pub const BIN: &str = env!("CARGO_BIN_EXE_imagectl");

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the temp dir.
pub fn tempdir(tag: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("imagectl-reg-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a command under `timeout`, returning its output.
pub fn run(secs: u64, prog: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new("timeout");
    c.arg("-k")
        .arg("5")
        .arg(secs.to_string())
        .arg(prog)
        .args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.stdin(Stdio::null());
    c.output().unwrap_or_else(|e| panic!("{prog}: {e}"))
}

pub fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// imagectl with its own store and a private HOME (no ~/.docker leaks in).
pub struct Ctl {
    pub root: PathBuf,
    pub home: PathBuf,
    pub authfile: PathBuf,
}

impl Ctl {
    pub fn new(tag: &str) -> Ctl {
        let d = tempdir(tag);
        let home = d.join("home");
        std::fs::create_dir_all(&home).unwrap();
        Ctl {
            root: d.join("store"),
            authfile: d.join("auth.json"),
            home,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let root = self.root.to_str().unwrap().to_string();
        let mut all = vec!["--root", &root];
        all.extend_from_slice(args);
        let home = self.home.to_str().unwrap().to_string();
        let auth = self.authfile.to_str().unwrap().to_string();
        run(
            180,
            BIN,
            &all,
            &[
                ("HOME", &home),
                ("REGISTRY_AUTH_FILE", &auth),
                ("XDG_RUNTIME_DIR", &home),
            ],
        )
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        ok(&o, &format!("imagectl {}", args.join(" ")));
        o
    }

    /// Names in the store's index.json.
    pub fn names(&self) -> Vec<String> {
        let p = self.root.join("index.json");
        let Ok(b) = std::fs::read(&p) else {
            return vec![];
        };
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .map(String::from)
            .collect()
    }

    pub fn blobs(&self) -> Vec<String> {
        list(&self.root.join("blobs/sha256"))
    }

    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        std::fs::read(self.root.join("blobs/sha256").join(hex)).ok()
    }

    /// The stored descriptor of `name`.
    pub fn target(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.root.join("index.json")).unwrap()).unwrap();
        v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap_or_else(|| panic!("{name} not in the store"))
            .clone()
    }
}

pub fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(b))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub enum Auth {
    Open,
    Basic { user: String, pass: String },
    Token { user: String, pass: String },
}

/// A docker-registry process; killed on drop.
pub struct Registry {
    pub addr: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        Registry::start_with(auth, false).0
    }

    /// With https: a CA and a leaf for IP 127.0.0.1 it signed; returns
    /// the CA's PEM path too.
    pub fn start_tls(auth: Auth) -> (Registry, PathBuf) {
        let (r, ca) = Registry::start_with(auth, true);
        (r, ca.unwrap())
    }

    fn start_with(auth: Auth, tls: bool) -> (Registry, Option<PathBuf>) {
        need("docker-registry", "docker-registry");
        let dir = tempdir("registry");
        let port = free_port();
        let mut auth_yaml = String::new();
        match &auth {
            Auth::Open => {}
            Auth::Basic { user, pass } => {
                need("htpasswd", "apache2-utils");
                let o = run(20, "htpasswd", &["-Bbn", user, pass], &[]);
                std::fs::write(dir.join("htpasswd"), ok(&o, "htpasswd")).unwrap();
                auth_yaml = format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    dir.join("htpasswd").display()
                );
            }
            Auth::Token { user, pass } => {
                let issuer = TokenIssuer::start(&dir, user, pass);
                auth_yaml = format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                    issuer.port,
                    issuer.cert.display()
                );
                std::mem::forget(issuer);
            }
        }
        let mut ca = None;
        let mut tls_yaml = String::new();
        if tls {
            let (c, cert, key) = make_tls(&dir);
            ca = Some(c);
            tls_yaml = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
        }
        let cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_yaml}{auth_yaml}",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), cfg).unwrap();
        let log = dir.join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("registry.err")).unwrap())
            .spawn()
            .expect("docker-registry");
        let r = Registry {
            addr: format!("127.0.0.1:{port}"),
            dir,
            log,
            child,
        };
        assert!(
            wait_port(port, 20),
            "registry did not come up: {}",
            std::fs::read_to_string(r.dir.join("registry.err")).unwrap_or_default()
        );
        (r, ca)
    }

    /// The registry's log so far (both streams).
    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(self.dir.join("registry.err")).unwrap_or_default());
        s
    }

    /// Where the registry keeps a blob's bytes.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `skopeo copy` from an OCI layout into this registry.
    pub fn push_oci(&self, layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
        need("skopeo", "skopeo");
        let src = format!("oci:{}:{tag}", layout.display());
        let dst = format!("docker://{}/{dest}", self.addr);
        let mut args = vec!["copy", "--quiet", "--dest-tls-verify=false"];
        args.extend_from_slice(extra);
        args.push(&src);
        args.push(&dst);
        ok(&run(120, "skopeo", &args, &[]), "skopeo copy (push)");
    }

    /// `skopeo inspect --raw` and its sha256.
    pub fn raw_manifest(&self, name: &str, creds: Option<&str>) -> (Vec<u8>, String) {
        let img = format!("docker://{}/{name}", self.addr);
        let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
        if let Some(c) = creds {
            args.push("--creds");
            args.push(c);
        }
        args.push(&img);
        let o = run(60, "skopeo", &args, &[]);
        ok(&o, "skopeo inspect --raw");
        let d = sha256(&o.stdout);
        (o.stdout, d)
    }

    /// `skopeo copy docker://... oci:DIR:latest`; returns DIR.
    pub fn skopeo_pull(&self, name: &str, extra: &[&str]) -> PathBuf {
        let d = tempdir("skopeo-pull");
        let src = format!("docker://{}/{name}", self.addr);
        let dst = format!("oci:{}:latest", d.join("oci").display());
        let mut args = vec!["copy", "--quiet", "--src-tls-verify=false"];
        args.extend_from_slice(extra);
        args.push(&src);
        args.push(&dst);
        ok(&run(120, "skopeo", &args, &[]), "skopeo copy (pull)");
        d.join("oci")
    }
}

/// An OCI layout built with umoci: one layer per entry of `layers`
/// (each a list of (path, bytes)), `/bin/sh` as command, tag `tag`.
pub fn build_image(layout: &Path, tag: &str, layers: &[Vec<(String, Vec<u8>)>], arch: &str) {
    need("umoci", "umoci");
    let l = layout.display().to_string();
    if !layout.join("index.json").exists() {
        ok(
            &run(60, "umoci", &["init", "--layout", &l], &[]),
            "umoci init",
        );
    }
    let img = format!("{l}:{tag}");
    ok(
        &run(60, "umoci", &["new", "--image", &img], &[]),
        "umoci new",
    );
    let bundle = tempdir("bundle");
    let b = bundle.join("b");
    let bs = b.display().to_string();
    ok(
        &run(
            60,
            "umoci",
            &["unpack", "--rootless=false", "--image", &img, &bs],
            &[],
        ),
        "umoci unpack",
    );
    for files in layers {
        for (p, bytes) in files {
            let f = b.join("rootfs").join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, bytes).unwrap();
        }
        ok(
            &run(
                120,
                "umoci",
                &["repack", "--refresh-bundle", "--image", &img, &bs],
                &[],
            ),
            "umoci repack",
        );
    }
    ok(
        &run(
            60,
            "umoci",
            &[
                "config",
                "--image",
                &img,
                "--config.cmd",
                "/bin/sh",
                &format!("--architecture={arch}"),
            ],
            &[],
        ),
        "umoci config",
    );
    let _ = std::fs::remove_dir_all(&bundle);
}

/// Deterministic pseudo-random bytes (incompressible enough for sizes).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Reads a layout's index.json entry `tag` → (mediaType, digest, size).
pub fn layout_ref(layout: &Path, tag: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("{tag} not in {}", layout.display()))
        .clone()
}

pub fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

/// Adds tag `tag` to `layout`: an OCI index over the given tags' manifests,
/// each with the platform linux/<arch>.
pub fn add_index(layout: &Path, tag: &str, entries: &[(&str, &str)]) {
    let mut manifests = Vec::new();
    for (t, arch) in entries {
        let mut d = layout_ref(layout, t);
        d.as_object_mut().unwrap().remove("annotations");
        d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        manifests.push(d);
    }
    let idx = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&idx).unwrap();
    let digest = sha256(&bytes);
    std::fs::write(
        layout
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
        &bytes,
    )
    .unwrap();
    let p = layout.join("index.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// A bearer-token issuer for registry 2.8's `auth: token:`: RS256 JWTs
/// signed with the openssl CLI, the self-signed cert in `x5c` and in the
/// registry's root bundle. Grants what is asked to `user:pass`, and
/// `registry:catalog:*` too.
pub struct TokenIssuer {
    pub port: u16,
    pub cert: PathBuf,
}

impl TokenIssuer {
    pub fn start(dir: &Path, user: &str, pass: &str) -> TokenIssuer {
        need("openssl", "openssl");
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        ok(
            &run(
                60,
                "openssl",
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=test-issuer",
                    "-keyout",
                    key.to_str().unwrap(),
                    "-out",
                    cert.to_str().unwrap(),
                ],
                &[],
            ),
            "openssl req",
        );
        let der = run(
            20,
            "openssl",
            &["x509", "-in", cert.to_str().unwrap(), "-outform", "DER"],
            &[],
        );
        ok(&der, "openssl x509 DER");
        let x5c = base64::engine::general_purpose::STANDARD.encode(&der.stdout);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let log = dir.join("issuer.log");
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let _ = serve_token(s, &key, &x5c, &want, &log);
            }
        });
        TokenIssuer { port, cert }
    }
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn serve_token(s: TcpStream, key: &Path, x5c: &str, want: &str, log: &Path) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let target = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut authz = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                authz = Some(v.trim().to_string());
            }
        }
    }
    let query = target.split_once('?').map(|x| x.1).unwrap_or("");
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|v| {
            v.replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%2F", "/")
                .replace("%2A", "*")
                .replace('+', " ")
        })
        .collect();
    let mut lf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    writeln!(lf, "{target} auth={}", authz.is_some())?;
    let mut w = s;
    if authz.as_deref() != Some(want) {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        write!(w, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
        return Ok(());
    }
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter_map(|s| {
            let mut p = s.splitn(3, ':');
            let (t, n, a) = (p.next()?, p.next()?, p.next()?);
            Some(serde_json::json!({"type": t, "name": n, "actions": a.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": "user", "aud": "test-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now - 10,
        "jti": format!("{now}-{}", SEQ.fetch_add(1, Ordering::Relaxed)),
        "access": access,
    });
    let signing = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(&claims).unwrap())
    );
    let mut c = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    c.stdin.take().unwrap().write_all(signing.as_bytes())?;
    let mut sig = Vec::new();
    c.stdout.take().unwrap().read_to_end(&mut sig)?;
    c.wait()?;
    let token = format!("{signing}.{}", b64url(&sig));
    let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
    write!(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    Ok(())
}

fn put_layout_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    std::fs::write(
        layout
            .join("blobs/sha256")
            .join(d.strip_prefix("sha256:").unwrap()),
        bytes,
    )
    .unwrap();
    d
}

/// Adds `to_tag`: `from_tag`'s image with its gzip layers recompressed
/// as `kind` ("zstd" or "none", i.e. plain tar). The config (diff ids are
/// of the uncompressed tars) stays.
pub fn recompress(layout: &Path, from_tag: &str, to_tag: &str, kind: &str) {
    need("gzip", "gzip");
    if kind == "zstd" {
        need("zstd", "zstd");
    }
    let desc = layout_ref(layout, from_tag);
    let mut m: serde_json::Value =
        serde_json::from_slice(&layout_blob(layout, desc["digest"].as_str().unwrap())).unwrap();
    let work = tempdir("recompress");
    for l in m["layers"].as_array_mut().unwrap() {
        let gz = work.join("layer.gz");
        std::fs::write(&gz, layout_blob(layout, l["digest"].as_str().unwrap())).unwrap();
        let o = run(60, "gzip", &["-dc", gz.to_str().unwrap()], &[]);
        ok(&o, "gzip -dc");
        let tar_path = work.join("layer.tar");
        std::fs::write(&tar_path, &o.stdout).unwrap();
        let (bytes, mt) = match kind {
            "zstd" => {
                let z = run(60, "zstd", &["-q", "-c", tar_path.to_str().unwrap()], &[]);
                ok(&z, "zstd");
                (z.stdout, "application/vnd.oci.image.layer.v1.tar+zstd")
            }
            _ => (o.stdout.clone(), "application/vnd.oci.image.layer.v1.tar"),
        };
        let d = put_layout_blob(layout, &bytes);
        l["digest"] = d.into();
        l["size"] = bytes.len().into();
        l["mediaType"] = mt.into();
    }
    let mb = serde_json::to_vec(&m).unwrap();
    let md = put_layout_blob(layout, &mb);
    let p = layout.join("index.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md,
            "size": mb.len(),
            "annotations": {"org.opencontainers.image.ref.name": to_tag},
        }));
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(work);
}

/// Makes `ctl`'s store hold `layout`'s `tag` under `name` (the store is an
/// OCI layout too): for images skopeo would rewrite on the way up.
pub fn seed_store(ctl: &Ctl, layout: &Path, tag: &str, name: &str) {
    let blobs = ctl.root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for b in list(&layout.join("blobs/sha256")) {
        std::fs::copy(layout.join("blobs/sha256").join(&b), blobs.join(&b)).unwrap();
    }
    std::fs::write(
        ctl.root.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut d = layout_ref(layout, tag);
    d["annotations"]["org.opencontainers.image.ref.name"] = name.into();
    let idx = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [d]});
    std::fs::write(
        ctl.root.join("index.json"),
        serde_json::to_vec(&idx).unwrap(),
    )
    .unwrap();
}

/// (ca.pem, leaf.pem, leaf.key): a CA, and a server certificate for IP
/// 127.0.0.1 signed by it.
fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    need("openssl", "openssl");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let cmds: Vec<Vec<String>> = vec![
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("leaf.key"),
            "-out",
            &p("leaf.csr"),
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("leaf.ext"),
            "-out",
            &p("leaf.pem"),
        ]
        .into_iter()
        .map(String::from)
        .collect(),
    ];
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .unwrap();
    for c in cmds {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        ok(&run(60, "openssl", &args, &[]), "openssl");
    }
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// A fake registry serving `layout`'s `tag` as `fake:latest` over plain
/// http, one request per connection, that sends only half of every layer
/// bigger than 100 kB (while announcing its full length) and then hangs
/// up: a download cut short. Returns its address.
pub fn truncating_registry(layout: &Path, tag: &str) -> String {
    let desc = layout_ref(layout, tag);
    let layout = layout.to_path_buf();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let _ = serve_truncating(s, &layout, &desc);
        }
    });
    addr
}

fn serve_truncating(s: TcpStream, layout: &Path, desc: &serde_json::Value) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut w = s;
    let (ct, body, cut) = if path == "/v2/" {
        ("application/json".to_string(), b"{}".to_vec(), false)
    } else if path == "/v2/fake/manifests/latest" {
        let d = desc["digest"].as_str().unwrap();
        (
            desc["mediaType"].as_str().unwrap().to_string(),
            layout_blob(layout, d),
            false,
        )
    } else if let Some(d) = path.strip_prefix("/v2/fake/blobs/") {
        let b = layout_blob(layout, d);
        let cut = b.len() > 100_000;
        ("application/octet-stream".to_string(), b, cut)
    } else {
        write!(
            w,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if cut {
        w.write_all(&body[..body.len() / 2])?;
        w.flush()?;
        return w.shutdown(std::net::Shutdown::Both);
    }
    w.write_all(&body)
}
