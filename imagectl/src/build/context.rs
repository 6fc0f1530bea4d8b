//! The build context: `.dockerignore` (patterns with `*`, `?`, `[..]`,
//! `**` and `!` exceptions, last match wins, a pattern that matches a
//! directory excludes what is under it), COPY/ADD source globs, and the
//! content hash of a set of sources that keys the cache (names, modes,
//! kinds, link targets and file contents; not times or owners, as
//! BuildKit).

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("COPY/ADD source {0:?}: outside the build context")]
    Outside(String),
    #[error("COPY/ADD source {0:?}: no such file or directory in the build context")]
    NotFound(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The build context directory and its ignore rules.
#[derive(Debug, Clone)]
pub struct Context {
    pub dir: PathBuf,
    ignore: Vec<(bool, String)>,
}

/// A source file picked from the context: its path relative to the
/// context and its metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub rel: String,
    pub path: PathBuf,
    pub meta: fs::Metadata,
}

impl Context {
    /// Opens `dir`, reading `dir/.dockerignore` when present.
    pub fn open(dir: &Path) -> Result<Context, ContextError> {
        let f = dir.join(".dockerignore");
        let ignore = match fs::read_to_string(&f) {
            Ok(t) => parse_ignore(&t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_at(&f)(e)),
        };
        Ok(Context {
            dir: dir.to_path_buf(),
            ignore,
        })
    }

    /// A directory without ignore rules (another image's rootfs, for
    /// `COPY --from`).
    pub fn plain(dir: &Path) -> Context {
        Context {
            dir: dir.to_path_buf(),
            ignore: Vec::new(),
        }
    }

    /// Whether `rel` (relative, `/`-separated) is excluded.
    pub fn ignored(&self, rel: &str) -> bool {
        let mut out = false;
        for (negate, pat) in &self.ignore {
            if matches_or_parent(pat, rel) {
                out = !negate;
            }
        }
        out
    }

    /// The sources a COPY/ADD word names: a path or a glob, relative to
    /// the context (a leading `/` or `..` cannot leave it). Each match
    /// is one top-level source (a directory's contents come with it via
    /// [`Context::walk`]).
    pub fn sources(&self, word: &str) -> Result<Vec<Entry>, ContextError> {
        let clean = clean_rel(word).ok_or_else(|| ContextError::Outside(word.to_string()))?;
        let mut out = Vec::new();
        if !has_glob(&clean) {
            let path = self.dir.join(&clean);
            let meta = fs::symlink_metadata(&path)
                .map_err(|_| ContextError::NotFound(word.to_string()))?;
            if !clean.is_empty() && self.ignored(&clean) {
                return Err(ContextError::NotFound(word.to_string()));
            }
            out.push(Entry {
                rel: clean,
                path,
                meta,
            });
            return Ok(out);
        }
        let mut all = Vec::new();
        self.walk_into("", &mut all)?;
        for e in all {
            if glob_match(&clean, &e.rel) {
                out.push(e);
            }
        }
        if out.is_empty() {
            return Err(ContextError::NotFound(word.to_string()));
        }
        Ok(out)
    }

    /// Everything under `e` (itself first), ignored paths left out,
    /// sorted by path.
    pub fn walk(&self, e: &Entry) -> Result<Vec<Entry>, ContextError> {
        let mut out = vec![e.clone()];
        if e.meta.is_dir() {
            self.walk_into(&e.rel, &mut out)?;
        }
        Ok(out)
    }

    fn walk_into(&self, rel: &str, out: &mut Vec<Entry>) -> Result<(), ContextError> {
        let dir = self.dir.join(rel);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(io_at(&dir))?
            .map(|d| d.map(|d| d.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_at(&dir))?;
        names.sort();
        for n in names {
            let n = n.to_string_lossy();
            let r = if rel.is_empty() {
                n.to_string()
            } else {
                format!("{rel}/{n}")
            };
            if self.ignored(&r) {
                // An exception below an excluded dir still needs the walk.
                if !self.ignore.iter().any(|(neg, p)| *neg && p.starts_with(&r)) {
                    continue;
                }
            }
            let path = self.dir.join(&r);
            let meta = fs::symlink_metadata(&path).map_err(io_at(&path))?;
            let is_dir = meta.is_dir();
            if !self.ignored(&r) {
                out.push(Entry {
                    rel: r.clone(),
                    path,
                    meta,
                });
            }
            if is_dir {
                self.walk_into(&r, out)?;
            }
        }
        Ok(())
    }
}

/// The hash of a set of entries, for the cache key.
pub fn hash_entries(entries: &[Entry]) -> Result<String, ContextError> {
    let mut h = Sha256::new();
    for e in entries {
        let m = &e.meta;
        h.update(e.rel.as_bytes());
        h.update([0]);
        h.update(format!("{:o}\0", m.permissions().mode()).as_bytes());
        if m.file_type().is_symlink() {
            let t = fs::read_link(&e.path).map_err(io_at(&e.path))?;
            h.update(t.as_os_str().as_encoded_bytes());
        } else if m.is_file() {
            let mut f = fs::File::open(&e.path).map_err(io_at(&e.path))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f.read(&mut buf).map_err(io_at(&e.path))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        } else if !m.is_dir() {
            h.update(format!("dev {}", m.rdev()).as_bytes());
        }
        h.update([1]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn parse_ignore(text: &str) -> Vec<(bool, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (neg, p) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            clean_rel(p).filter(|p| !p.is_empty()).map(|p| (neg, p))
        })
        .collect()
}

/// `a/./b/../c` to `a/c`, without a leading `/`; None if it climbs out.
fn clean_rel(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// The pattern matches `rel` or one of its parent directories.
fn matches_or_parent(pat: &str, rel: &str) -> bool {
    let mut cur = rel;
    loop {
        if glob_match(pat, cur) {
            return true;
        }
        match cur.rfind('/') {
            Some(i) => cur = &cur[..i],
            None => return false,
        }
    }
}

/// Go's filepath.Match, plus `**` for any number of path components.
pub fn glob_match(pat: &str, name: &str) -> bool {
    let p: Vec<&str> = pat.split('/').collect();
    let n: Vec<&str> = name.split('/').collect();
    match_parts(&p, &n)
}

fn match_parts(p: &[&str], n: &[&str]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some(&"**") => (0..=n.len()).any(|k| match_parts(&p[1..], &n[k..])),
        Some(seg) => {
            !n.is_empty()
                && match_seg(seg.as_bytes(), n[0].as_bytes())
                && match_parts(&p[1..], &n[1..])
        }
    }
}

fn match_seg(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|k| match_seg(&p[1..], &s[k..])),
        Some(b'?') => !s.is_empty() && match_seg(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                return !s.is_empty() && s[0] == b'[' && match_seg(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &p[1..end];
            let negate = matches!(class.first(), Some(b'^') | Some(b'!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && match_seg(&p[end + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && match_seg(&p[2..], &s[1..]),
        Some(&c) => !s.is_empty() && s[0] == c && match_seg(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("**/*.txt", "d/e/a.txt"));
        assert!(glob_match("**/*.txt", "a.txt"));
        assert!(glob_match("d/**", "d/x/y"));
        assert!(glob_match("f?[0-9]", "fa7"));
        assert!(!glob_match("f[!0-9]", "f7"));
        assert!(glob_match("a\\*", "a*"));
    }

    #[test]
    fn dockerignore_rules() {
        let d = std::env::temp_dir().join(format!("imagectl-ctx-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("logs/keep")).unwrap();
        fs::write(d.join("logs/a.log"), "a").unwrap();
        fs::write(d.join("logs/keep/k.log"), "k").unwrap();
        fs::write(d.join("x.tmp"), "x").unwrap();
        fs::write(d.join("main.c"), "m").unwrap();
        fs::write(
            d.join(".dockerignore"),
            "# comment\n/logs\n!logs/keep/k.log\n*.tmp\n",
        )
        .unwrap();
        let c = Context::open(&d).unwrap();
        assert!(c.ignored("logs/a.log"));
        assert!(!c.ignored("logs/keep/k.log"));
        assert!(c.ignored("x.tmp"));
        let root = c.sources(".").unwrap();
        let all: Vec<String> = c
            .walk(&root[0])
            .unwrap()
            .into_iter()
            .map(|e| e.rel)
            .collect();
        assert_eq!(all, ["", ".dockerignore", "logs/keep/k.log", "main.c"]);
        assert!(matches!(c.sources("x.tmp"), Err(ContextError::NotFound(_))));
        assert!(matches!(c.sources("../etc"), Err(ContextError::Outside(_))));
        let globbed: Vec<String> = c
            .sources("*.c")
            .unwrap()
            .into_iter()
            .map(|e| e.rel)
            .collect();
        assert_eq!(globbed, ["main.c"]);
        let h1 = hash_entries(&c.walk(&root[0]).unwrap()).unwrap();
        fs::write(d.join("main.c"), "changed").unwrap();
        let h2 = hash_entries(&c.walk(&root[0]).unwrap()).unwrap();
        assert_ne!(h1, h2);
        fs::remove_dir_all(&d).unwrap();
    }
}
