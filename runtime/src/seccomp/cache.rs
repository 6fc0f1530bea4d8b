//! Compiled filters kept on disk, keyed by a hash of the profile (crun keeps
//! one too). An entry stores the profile it was compiled from and is used
//! only if that matches byte for byte, so a hash collision or a stale entry
//! can cost a recompile, never a wrong filter. Entries live in
//! `<root>/@seccomp/` (`@` cannot start a container id), mode 0600.
//!
//! `BERTH_SECCOMP_CACHE=0` turns the cache off (for benchmarks).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use super::bpf::Insn;
use super::{Compiled, SeccompError};

/// Bump when the meaning of a compiled program changes.
const FORMAT: &str = concat!("berth-seccomp 1 ", env!("CARGO_PKG_VERSION"), "\n");
/// Entries kept before the directory is emptied and started again.
const MAX_ENTRIES: usize = 64;

pub fn enabled() -> bool {
    std::env::var_os("BERTH_SECCOMP_CACHE").is_none_or(|v| v != "0")
}

pub fn dir(root: &Path) -> PathBuf {
    root.join("@seccomp")
}

fn key(profile: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    FORMAT.hash(&mut h);
    super::tables::TABLE.hash(&mut h);
    profile.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn encode(profile: &[u8], program: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FORMAT.len() + 8 + profile.len() + program.len() * 8);
    out.extend_from_slice(FORMAT.as_bytes());
    out.extend_from_slice(&(profile.len() as u32).to_le_bytes());
    out.extend_from_slice(profile);
    out.extend_from_slice(&(program.len() as u32).to_le_bytes());
    for i in program {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}

/// The program in `bytes` if it was compiled by this berth from `profile`.
fn decode(bytes: &[u8], profile: &[u8]) -> Option<Vec<Insn>> {
    let rest = bytes.strip_prefix(FORMAT.as_bytes())?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let (stored, rest) = rest.split_at_checked(u32::from_le_bytes(*len) as usize)?;
    if stored != profile {
        return None;
    }
    let (n, rest) = rest.split_first_chunk::<4>()?;
    let n = u32::from_le_bytes(*n) as usize;
    if rest.len() != n * 8 {
        return None;
    }
    Some(
        rest.chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// Compiles `s`, or takes the program from the cache under `root`. Cache
/// trouble (unwritable root, a corrupt entry) only costs a compile.
pub fn compile(root: &Path, s: &LinuxSeccomp) -> Result<Compiled, SeccompError> {
    if !enabled() {
        return super::compile(s);
    }
    let profile = serde_json::to_vec(s).expect("seccomp profile serializes");
    let dir = dir(root);
    let path = dir.join(key(&profile));
    if let Some(program) = std::fs::read(&path).ok().and_then(|b| decode(&b, &profile)) {
        let mut c = super::compile_without_program(s);
        c.program = program;
        return Ok(c);
    }
    let c = super::compile(s)?;
    if let Err(e) = store(&dir, &path, &encode(&profile, &c.program)) {
        tracing::debug!(path = %path.display(), error = %e, "seccomp cache not written");
    }
    Ok(c)
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    if std::fs::read_dir(dir)?.count() >= MAX_ENTRIES {
        for e in std::fs::read_dir(dir)?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let tmp = dir.join(format!(".tmp.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(errno: u32) -> LinuxSeccomp {
        serde_json::from_str(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":{errno}}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_cached_program_equals_a_fresh_compile_and_never_crosses_profiles() {
        let root = tempfile::tempdir().unwrap();
        let a = profile(5);
        let first = compile(root.path(), &a).unwrap();
        assert_eq!(std::fs::read_dir(dir(root.path())).unwrap().count(), 1);
        let again = compile(root.path(), &a).unwrap();
        assert_eq!(first, again);
        assert_eq!(again, super::super::compile(&a).unwrap());
        // An entry planted under another profile's key is not believed.
        let b = profile(6);
        let b_bytes = serde_json::to_vec(&b).unwrap();
        let a_entry = std::fs::read_dir(dir(root.path()))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        std::fs::copy(a_entry.path(), dir(root.path()).join(key(&b_bytes))).unwrap();
        assert_eq!(
            compile(root.path(), &b).unwrap(),
            super::super::compile(&b).unwrap()
        );
    }

    #[test]
    fn corrupt_entries_are_recompiled() {
        let root = tempfile::tempdir().unwrap();
        let a = profile(5);
        let bytes = serde_json::to_vec(&a).unwrap();
        std::fs::create_dir_all(dir(root.path())).unwrap();
        let mut garbage = FORMAT.as_bytes().to_vec();
        garbage.extend_from_slice(&[0xff; 7]);
        std::fs::write(dir(root.path()).join(key(&bytes)), garbage).unwrap();
        assert_eq!(
            compile(root.path(), &a).unwrap(),
            super::super::compile(&a).unwrap()
        );
    }
}
