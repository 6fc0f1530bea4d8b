//! Pure name handling for layer entries: turning a tar entry's path into
//! components that stay inside the root, and the whiteout naming of the
//! image spec (layer.md: `.wh.NAME` deletes NAME, `.wh..wh..opq` makes
//! its directory opaque, other `.wh..wh.` names are reserved).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The prefix of a whiteout file's name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The name of the opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The reserved prefix (aufs metadata, never applied).
const RESERVED_PREFIX: &str = ".wh..wh.";

/// Why an entry name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafe {
    /// An absolute path (`/etc/passwd`).
    Absolute,
    /// A `..` component.
    DotDot,
    /// A NUL byte (cannot be a path).
    Nul,
}

impl Unsafe {
    pub fn describe(self) -> &'static str {
        match self {
            Unsafe::Absolute => "absolute path",
            Unsafe::DotDot => "\"..\" component",
            Unsafe::Nul => "NUL byte in name",
        }
    }
}

/// Splits an entry path into its components below the root. `.` and
/// empty components are dropped (`./a//b` is `a/b`); the root itself is
/// the empty list. Absolute paths and `..` are refused rather than
/// cleaned: no layer a conforming tool writes has them, so one that does
/// is damaged or hostile, and the user should hear about it.
pub fn components(raw: &[u8]) -> Result<Vec<OsString>, Unsafe> {
    if raw.contains(&0) {
        return Err(Unsafe::Nul);
    }
    if raw.first() == Some(&b'/') {
        return Err(Unsafe::Absolute);
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(Unsafe::DotDot),
            _ => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

/// What a base name means to layer application.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// An ordinary name.
    No,
    /// `.wh.NAME`: NAME (from lower layers) is deleted.
    Remove(&'a OsStr),
    /// `.wh..wh..opq`: the directory's lower contents are hidden.
    Opaque,
    /// Another `.wh..wh.` name: reserved, skipped.
    Reserved,
}

pub fn whiteout(name: &OsStr) -> Whiteout<'_> {
    let b = name.as_bytes();
    if b == OPAQUE_MARKER.as_bytes() {
        return Whiteout::Opaque;
    }
    if b.starts_with(RESERVED_PREFIX.as_bytes()) {
        return Whiteout::Reserved;
    }
    match b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        // `.wh.` alone or `.wh..` would name nothing (or the parent).
        Some(rest) if !rest.is_empty() && rest != b"." && rest != b".." => {
            Whiteout::Remove(OsStr::from_bytes(rest))
        }
        Some(_) => Whiteout::Reserved,
        None => Whiteout::No,
    }
}

/// Components joined with `/`, for messages.
pub fn display(comps: &[OsString]) -> String {
    if comps.is_empty() {
        return "/".into();
    }
    comps
        .iter()
        .map(|c| c.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(s: &str) -> Result<Vec<String>, Unsafe> {
        components(s.as_bytes()).map(|v| v.into_iter().map(|c| c.into_string().unwrap()).collect())
    }

    #[test]
    fn relative_names_are_cleaned() {
        assert_eq!(comps("./a//b/./c/").unwrap(), ["a", "b", "c"]);
        assert_eq!(comps("a").unwrap(), ["a"]);
        assert!(comps("./").unwrap().is_empty());
        assert!(comps(".").unwrap().is_empty());
        assert_eq!(comps("a..b/..c").unwrap(), ["a..b", "..c"]);
    }

    #[test]
    fn traversal_names_are_refused() {
        assert_eq!(comps("../escape"), Err(Unsafe::DotDot));
        assert_eq!(comps("a/../../b"), Err(Unsafe::DotDot));
        assert_eq!(comps("a/.."), Err(Unsafe::DotDot));
        assert_eq!(comps("/abs"), Err(Unsafe::Absolute));
        assert_eq!(comps("//abs"), Err(Unsafe::Absolute));
        assert_eq!(components(b"a\0b"), Err(Unsafe::Nul));
    }

    #[test]
    fn whiteout_names_map_to_their_targets() {
        fn w(s: &str) -> Whiteout<'_> {
            whiteout(OsStr::new(s))
        }
        assert_eq!(w(".wh.foo"), Whiteout::Remove(OsStr::new("foo")));
        assert_eq!(w(".wh..hidden"), Whiteout::Remove(OsStr::new(".hidden")));
        assert_eq!(w(".wh..wh..opq"), Whiteout::Opaque);
        assert_eq!(w(".wh..wh.plnk"), Whiteout::Reserved);
        assert_eq!(w(".wh."), Whiteout::Reserved);
        assert_eq!(w(".wh.."), Whiteout::Reserved);
        assert_eq!(w(".wh..."), Whiteout::Reserved);
        assert_eq!(w("foo.wh.bar"), Whiteout::No);
        assert_eq!(w("wh.foo"), Whiteout::No);
    }

    #[test]
    fn display_joins_components() {
        assert_eq!(display(&[]), "/");
        assert_eq!(display(&["a".into(), "b".into()]), "a/b");
    }
}
