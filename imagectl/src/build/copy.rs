//! COPY and ADD: sources from the context (globs, `.dockerignore`), from
//! another stage or image (`--from`), heredocs, and for ADD local
//! archives (tar, tar.gz, tar.zst: extracted) and URLs (fetched). The
//! layer is a tar written straight from the sources (no mount needed for
//! the copy itself); the stage's rootfs is mounted only to resolve the
//! destination inside it (symlinks, existing directories keep their
//! owner and mode).
//!
//! Docker's rules: a directory source copies its contents; a file goes
//! to DEST/basename when DEST ends in `/`, is an existing directory or
//! there are several sources; owners are 0:0 unless `--chown`, modes are
//! kept unless `--chmod`; missing parents are made 0755 root.

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::context::{self, Context, Entry};
use super::dockerfile::{expand, CopyArgs};
use super::executor::Builder;
use super::instructions::join_workdir;
use super::run::{stage_image, TempBundle};
use super::BuildError;
use crate::author::{self, NewLayer};
use crate::bundle::{self, rootfs, user, RootfsMode};
use crate::image;

/// What one source is.
enum Item {
    /// A context (or --from rootfs) entry and everything under it.
    Tree {
        top: Entry,
        all: Vec<Entry>,
    },
    Data {
        name: String,
        body: Vec<u8>,
        mode: u32,
    },
    Archive(Entry),
}

/// A COPY/ADD with its sources found and hashed.
pub(crate) struct Prepared {
    pub hash: String,
    items: Vec<Item>,
    dest: String,
    dest_is_dir: bool,
    chown: Option<String>,
    chmod: Option<u32>,
    // Keeps a --from image mounted until the layer is written.
    _from: Option<TempBundle>,
}

/// Finds and hashes the sources (the hash is part of the cache key).
pub(crate) fn prepare(
    b: &mut Builder,
    s: usize,
    c: &CopyArgs,
    add: bool,
) -> Result<Prepared, BuildError> {
    let esc = b.escape;
    let (dest_word, dest, chown, chmod, from) = {
        let st = &b.stages[s];
        let x = |w: &str| st.expand(w, esc);
        let dest_word = x(&c.dest)?;
        let dest = join_workdir(st.workdir().as_deref(), &dest_word);
        let chown = c.chown.as_deref().map(x).transpose()?;
        let chmod = match c.chmod.as_deref().map(x).transpose()? {
            None => None,
            Some(m) => Some(
                u32::from_str_radix(&m, 8)
                    .map_err(|_| BuildError::Step(format!("--chmod={m}: not an octal mode")))?,
            ),
        };
        let from = c.from.as_deref().map(x).transpose()?;
        (dest_word, dest, chown, chmod, from)
    };
    let mut from_bundle = None;
    let src_ctx = match from {
        None => b.ctx.clone(),
        Some(f) => {
            let img = match b
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(f.as_str()))
                .or_else(|| f.parse::<usize>().ok().filter(|&n| n < s))
            {
                Some(p) => stage_image(b, p)?,
                None => image::open(b.store, &f, &b.opts.platform)
                    .map_err(|e| BuildError::Step(format!("--from={f}: {e}")))?,
            };
            let tb = TempBundle::new(b, "from");
            bundle::unpack(b.store, &img, &tb.0, RootfsMode::Overlay)?;
            let ctx = Context::plain(&tb.0.join("rootfs"));
            from_bundle = Some(tb);
            ctx
        }
    };
    let st = &b.stages[s];
    let x = |w: &str| st.expand(w, esc);
    let mut items = Vec::new();
    let mut globbed = false;
    let mut hasher_input = Vec::new();
    for w in &c.srcs {
        if let Some(name) = w.strip_prefix("<<") {
            let name = name.trim_matches(|c| c == '"' || c == '\'' || c == '-');
            let h = c
                .heredocs
                .iter()
                .find(|h| h.name == name)
                .ok_or_else(|| BuildError::Step(format!("heredoc <<{name}: no body")))?;
            let body = if h.expand {
                let env = st.env();
                let look = st.vars.lookup_fn(&env);
                expand::expand_text(&h.body, esc, &look)
                    .map_err(|e| BuildError::Step(e.to_string()))?
            } else {
                h.body.clone()
            };
            hasher_input.push(format!("heredoc {name}\n{body}"));
            items.push(Item::Data {
                name: name.to_string(),
                body: body.into_bytes(),
                mode: 0o644,
            });
            continue;
        }
        let w = x(w)?;
        if add && (w.starts_with("http://") || w.starts_with("https://")) {
            let body = fetch(&w)?;
            let name = w
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("index.html")
                .to_string();
            hasher_input.push(format!("url {w}\n{}", crate::store::sha256_hex(&body)));
            items.push(Item::Data {
                name,
                body,
                mode: 0o600,
            });
            continue;
        }
        globbed |= w.contains(['*', '?', '[']);
        for top in src_ctx.sources(&w)? {
            let all = src_ctx.walk(&top)?;
            hasher_input.push(context::hash_entries(&all)?);
            if add && top.meta.is_file() && is_archive(&top.path) {
                items.push(Item::Archive(top));
            } else {
                items.push(Item::Tree { top, all });
            }
        }
    }
    let dest_is_dir = dest_word.ends_with('/') || items.len() > 1 || (globbed && !items.is_empty());
    if items.len() > 1 && !dest_word.ends_with('/') {
        return Err(BuildError::Step(format!("When using COPY with more than one source file, the destination must be a directory and end with a / ({dest_word})")));
    }
    Ok(Prepared {
        hash: crate::store::sha256_hex(hasher_input.join("\n").as_bytes()),
        items,
        dest,
        dest_is_dir,
        chown,
        chmod,
        _from: from_bundle,
    })
}

fn fetch(url: &str) -> Result<Vec<u8>, BuildError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BuildError::Step(format!("ADD {url}: {e}")))?;
    rt.block_on(async {
        let r = reqwest::get(url).await?.error_for_status()?;
        Ok::<_, reqwest::Error>(r.bytes().await?.to_vec())
    })
    .map_err(|e| BuildError::Step(format!("ADD {url}: {e}")))
}

fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 262];
    let Ok(mut f) = fs::File::open(p) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

/// One planned tar entry.
enum Kind {
    Dir,
    File(PathBuf),
    Data(Vec<u8>),
    Symlink(PathBuf),
    Archive(PathBuf),
}

struct Planned {
    path: String,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

/// Writes the layer of a prepared COPY/ADD.
pub(crate) fn write(b: &mut Builder, s: usize, p: &Prepared) -> Result<NewLayer, BuildError> {
    let img = stage_image(b, s)?;
    let mounted = if img.manifest.layers().is_empty() {
        None
    } else {
        let tb = TempBundle::new(b, "copy");
        bundle::unpack(b.store, &img, &tb.0, RootfsMode::Overlay)?;
        Some(tb)
    };
    let root = mounted.as_ref().map(|t| t.0.join("rootfs"));
    let (uid, gid) = match &p.chown {
        None => (0, 0),
        Some(spec) => {
            let read = |f: &str| {
                root.as_ref()
                    .and_then(|r| rootfs::read_in_root(r, f).ok().flatten())
            };
            let u = user::resolve(
                spec,
                read("etc/passwd").as_deref(),
                read("etc/group").as_deref(),
            )
            .map_err(|e| BuildError::Step(format!("--chown={spec}: {e}")))?;
            (u64::from(u.uid), u64::from(u.gid))
        }
    };
    let now = crate::author::now_secs() as u64;
    let resolve = |abs: &str| -> Result<String, BuildError> {
        match &root {
            Some(r) => resolve_in_root(r, abs),
            None => Ok(abs.trim_start_matches('/').to_string()),
        }
    };
    let existing = |rel: &str| {
        root.as_ref()
            .and_then(|r| fs::symlink_metadata(r.join(rel)).ok())
    };
    let dest_rel = resolve(&p.dest)?;
    let dest_is_dir = p.dest_is_dir || existing(&dest_rel).is_some_and(|m| m.is_dir());
    let mut plan: Vec<Planned> = Vec::new();
    let mut dirs_done = BTreeSet::new();
    let mode_of = |m: &fs::Metadata| p.chmod.unwrap_or(m.permissions().mode() & 0o7777);
    for item in &p.items {
        match item {
            Item::Data { name, body, mode } => {
                let target = if dest_is_dir {
                    join_rel(&dest_rel, name)
                } else {
                    dest_rel.clone()
                };
                add_parents(&mut plan, &mut dirs_done, &existing, now, &target);
                plan.push(Planned {
                    path: target,
                    kind: Kind::Data(body.clone()),
                    mode: p.chmod.unwrap_or(*mode),
                    uid,
                    gid,
                    mtime: now,
                });
            }
            Item::Archive(e) => {
                add_parents(
                    &mut plan,
                    &mut dirs_done,
                    &existing,
                    now,
                    &join_rel(&dest_rel, "x"),
                );
                plan.push(Planned {
                    path: dest_rel.clone(),
                    kind: Kind::Archive(e.path.clone()),
                    mode: 0,
                    uid,
                    gid,
                    mtime: 0,
                });
            }
            Item::Tree { top, all } => {
                let base_name = top.rel.rsplit('/').next().unwrap_or("").to_string();
                for e in all {
                    let target = if top.meta.is_dir() {
                        let sub = e
                            .rel
                            .strip_prefix(&top.rel)
                            .unwrap_or(&e.rel)
                            .trim_start_matches('/');
                        join_rel(&dest_rel, sub)
                    } else if dest_is_dir {
                        join_rel(&dest_rel, &base_name)
                    } else {
                        dest_rel.clone()
                    };
                    if target.is_empty() {
                        continue;
                    }
                    add_parents(&mut plan, &mut dirs_done, &existing, now, &target);
                    let m = &e.meta;
                    let ft = m.file_type();
                    let kind = if ft.is_dir() {
                        if !dirs_done.insert(target.clone()) {
                            continue;
                        }
                        Kind::Dir
                    } else if ft.is_symlink() {
                        Kind::Symlink(fs::read_link(&e.path).map_err(|source| BuildError::Io {
                            path: e.path.clone(),
                            source,
                        })?)
                    } else if ft.is_file() {
                        Kind::File(e.path.clone())
                    } else {
                        continue;
                    };
                    plan.push(Planned {
                        path: target,
                        kind,
                        mode: mode_of(m),
                        uid,
                        gid,
                        mtime: m.mtime().max(0) as u64,
                    });
                }
                if top.meta.is_dir()
                    && !dest_rel.is_empty()
                    && !dirs_done.contains(&dest_rel)
                    && existing(&dest_rel).is_none()
                {
                    dirs_done.insert(dest_rel.clone());
                    plan.insert(
                        0,
                        Planned {
                            path: dest_rel.clone(),
                            kind: Kind::Dir,
                            mode: 0o755,
                            uid,
                            gid,
                            mtime: now,
                        },
                    );
                }
            }
        }
    }
    let layer = author::write_layer_with(b.store, |w| write_tar(w, &plan))?;
    drop(mounted);
    Ok(layer)
}

fn add_parents(
    plan: &mut Vec<Planned>,
    dirs_done: &mut BTreeSet<String>,
    existing: &dyn Fn(&str) -> Option<fs::Metadata>,
    now: u64,
    rel: &str,
) {
    let mut acc = String::new();
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(c);
        if !dirs_done.insert(acc.clone()) {
            continue;
        }
        // An existing directory keeps its owner and mode.
        let (mode, u, g, mt) = match existing(&acc) {
            Some(m) if m.is_dir() => (
                m.mode() & 0o7777,
                u64::from(m.uid()),
                u64::from(m.gid()),
                m.mtime().max(0) as u64,
            ),
            _ => (0o755, 0, 0, now),
        };
        plan.push(Planned {
            path: acc.clone(),
            kind: Kind::Dir,
            mode,
            uid: u,
            gid: g,
            mtime: mt,
        });
    }
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn write_tar(w: &mut dyn io::Write, plan: &[Planned]) -> io::Result<()> {
    let mut t = tar::Builder::new(w);
    for p in plan {
        let mut h = tar::Header::new_gnu();
        h.set_mode(p.mode);
        h.set_uid(p.uid);
        h.set_gid(p.gid);
        h.set_mtime(p.mtime);
        match &p.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                t.append_data(&mut h, format!("{}/", p.path), io::empty())?;
            }
            Kind::File(src) => {
                let f = fs::File::open(src)?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(f.metadata()?.len());
                t.append_data(&mut h, &p.path, f)?;
            }
            Kind::Data(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                t.append_data(&mut h, &p.path, d.as_slice())?;
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                t.append_link(&mut h, &p.path, target)?;
            }
            Kind::Archive(src) => {
                let f = fs::File::open(src)?;
                let r = crate::layer::compression::open("", f)
                    .map_err(|e| io::Error::other(format!("{}: {e:?}", src.display())))?;
                let mut a = tar::Archive::new(r);
                for e in a.entries()? {
                    let e = e?;
                    let mut h = e.header().clone();
                    let name = e.path()?.to_string_lossy().to_string();
                    let Some(clean) = clean(&name) else { continue };
                    let path = join_rel(&p.path, &clean);
                    if path.is_empty() {
                        continue;
                    }
                    match e.link_name()? {
                        Some(l) if h.entry_type().is_hard_link() => {
                            let l = join_rel(&p.path, &clean_or_empty(&l.to_string_lossy()));
                            t.append_link(&mut h, &path, l)?;
                        }
                        Some(l) => {
                            let l = l.to_path_buf();
                            t.append_link(&mut h, &path, l)?;
                        }
                        None => t.append_data(&mut h, &path, e)?,
                    }
                }
            }
        }
    }
    t.finish()
}

fn clean(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn clean_or_empty(p: &str) -> String {
    clean(p).unwrap_or_default()
}

/// `abs` resolved inside `root` (symlinks followed without leaving it);
/// relative to root, no leading `/`.
pub(crate) fn resolve_in_root(root: &Path, abs: &str) -> Result<String, BuildError> {
    let mut todo: VecDeque<String> = abs
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let cand = root.join(cur.join("/")).join(&c);
        match fs::symlink_metadata(&cand) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(BuildError::Step(format!(
                        "{abs}: too many levels of symbolic links"
                    )));
                }
                let t = fs::read_link(&cand).map_err(|source| BuildError::Io {
                    path: cand.clone(),
                    source,
                })?;
                let ts = t.to_string_lossy().to_string();
                if ts.starts_with('/') {
                    cur.clear();
                }
                for comp in ts.split('/').filter(|c| !c.is_empty()).rev() {
                    todo.push_front(comp.to_string());
                }
            }
            _ => cur.push(c),
        }
    }
    Ok(cur.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_in_root() {
        let d = std::env::temp_dir().join(format!("imagectl-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", d.join("bin")).unwrap();
        std::os::unix::fs::symlink("/../../etc", d.join("esc")).unwrap();
        assert_eq!(resolve_in_root(&d, "/bin/x").unwrap(), "usr/bin/x");
        assert_eq!(resolve_in_root(&d, "/esc/passwd").unwrap(), "etc/passwd");
        assert_eq!(resolve_in_root(&d, "/a/../../b").unwrap(), "b");
        fs::remove_dir_all(&d).unwrap();
    }
}
