//! Image references, normalised as docker does: `busybox` is
//! `docker.io/library/busybox:latest`; a first component with a `.` or a
//! `:`, or `localhost`, is a registry (`127.0.0.1:5000/a/b`); `@sha256:...`
//! pins a digest (and then no tag is implied); `index.docker.io` is
//! `docker.io`. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference {input:?}: {why}")]
    Invalid { input: String, why: &'static str },
}

/// A normalised reference: registry, repository, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// `algorithm:hex`.
    pub digest: Option<String>,
}

impl Reference {
    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag or digest to ask the registry for (digest first).
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// A reference to the same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// How `images` shows it: docker.io names without `docker.io/` and
    /// `library/`, as docker does.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse(input)
    }
}

fn invalid(input: &str, why: &'static str) -> ReferenceError {
    ReferenceError::Invalid {
        input: input.to_string(),
        why,
    }
}

/// Parses and normalises `input`.
pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
    if input.is_empty() {
        return Err(invalid(input, "empty"));
    }
    if input.len() > 4096 {
        return Err(invalid(input, "too long"));
    }
    let (rest, digest) = match input.split_once('@') {
        Some((r, d)) => {
            check_digest(d).map_err(|why| invalid(input, why))?;
            (r, Some(d.to_string()))
        }
        None => (input, None),
    };
    // A tag is after the last ':' that follows the last '/'.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        if !valid_tag(t) {
            return Err(invalid(
                input,
                "tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
            ));
        }
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), path.to_string())
        }
        _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
    };
    if !valid_registry(&registry) {
        return Err(invalid(input, "registry must be host[:port]"));
    }
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY.to_string()
    } else {
        registry
    };
    let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if repository.len() > 255 {
        return Err(invalid(input, "repository name longer than 255 characters"));
    }
    if !repository.split('/').all(valid_component) {
        return Err(invalid(
            input,
            "repository must be lowercase components of [a-z0-9] joined by '.', '_', '__' or dashes",
        ));
    }
    let tag = match (tag, &digest) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_TAG.to_string()),
    };
    Ok(Reference {
        registry,
        repository,
        tag,
        digest,
    })
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (r, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') {
        return host.ends_with(']') && host.len() > 2;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn check_digest(d: &str) -> Result<(), &'static str> {
    let (algo, hex) = d.split_once(':').ok_or("digest must be algorithm:hex")?;
    let len = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err("digest algorithm must be sha256 or sha512"),
    };
    if hex.len() != len
        || !hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return Err("digest hex has the wrong length or characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        parse(s).unwrap().to_string()
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_normalisation() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            full("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("quay.io/coreos/etcd:v3"), "quay.io/coreos/etcd:v3");
        assert_eq!(full("localhost/app"), "localhost/app:latest");
        assert_eq!(full("127.0.0.1:5000/a/b/c:t"), "127.0.0.1:5000/a/b/c:t");
        assert_eq!(full("localhost:5000/app"), "localhost:5000/app:latest");
    }

    #[test]
    fn digests_pin_and_imply_no_tag() {
        let r = parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.target(), D);
        let r = parse(&format!("127.0.0.1:5000/x:1@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.target(), D);
        assert!(parse("busybox@sha256:abc").is_err());
        assert!(parse(&format!("busybox@md5:{}", &D[7..])).is_err());
    }

    #[test]
    fn a_port_is_not_a_tag() {
        let r = parse("myhost:5000/app").unwrap();
        assert_eq!(r.registry, "myhost:5000");
        assert_eq!(r.tag.as_deref(), Some("latest"));
    }

    #[test]
    fn a_first_component_without_dot_or_port_is_a_path() {
        let r = parse("myhost/app").unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "myhost/app");
    }

    #[test]
    fn invalid_references_say_why() {
        for bad in [
            "",
            "Busybox",
            "a//b",
            "a/-b",
            "busybox:",
            "busybox:-x",
            "a..b",
            "host:port/x",
            "x/ab-",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
        let e = parse("UPPER").unwrap_err().to_string();
        assert!(e.contains("lowercase"), "{e}");
        assert!(parse("a__b/c-d--e.f").is_ok());
    }

    #[test]
    fn familiar_names_drop_the_defaults() {
        assert_eq!(parse("busybox").unwrap().familiar_name(), "busybox");
        assert_eq!(parse("u/app").unwrap().familiar_name(), "u/app");
        assert_eq!(
            parse("127.0.0.1:5000/app").unwrap().familiar_name(),
            "127.0.0.1:5000/app"
        );
    }
}
