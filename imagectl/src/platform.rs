//! Platforms (`os/arch[/variant]`) and choosing one from an image index or
//! Docker manifest list, as containerd's default matcher does: same os and
//! architecture, and the variant when one is asked for (arm64 means v8,
//! arm means v7 when none is given). Pure.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Descriptor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")]
pub struct PlatformError(String);

impl Platform {
    /// This machine's platform, in Go's names.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "arm" => "arm",
            other => other,
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: None,
        }
    }

    fn default_variant(&self) -> Option<&str> {
        match self.arch.as_str() {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        }
    }

    /// Whether an entry with this os/arch/variant satisfies `self`.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.arch != arch {
            return false;
        }
        let want = self.variant.as_deref().or(self.default_variant());
        let have = variant.filter(|v| !v.is_empty()).or(self.default_variant());
        match (want, have) {
            (Some(w), Some(h)) => w == h,
            _ => true,
        }
    }

    /// The first manifest of an index that matches; `None` when none does.
    pub fn choose<'a>(&self, manifests: &'a [Descriptor]) -> Option<&'a Descriptor> {
        manifests.iter().find(|d| match d.platform() {
            Some(p) => self.matches(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            ),
            None => false,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(PlatformError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(entries: &[(&str, &str, Option<&str>)]) -> Vec<Descriptor> {
        entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, v))| {
                let mut p = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = v {
                    p["variant"] = serde_json::json!(v);
                }
                serde_json::from_value(serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "size": i + 1,
                    "digest": format!("sha256:{}", format!("{i}").repeat(64)),
                    "platform": p,
                }))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn parse_and_print() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//x".parse::<Platform>().is_err());
    }

    #[test]
    fn chooses_by_os_arch_and_variant() {
        let m = idx(&[
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "amd64", None),
            ("linux", "arm64", Some("v8")),
        ]);
        let pick = |s: &str| s.parse::<Platform>().unwrap().choose(&m).map(|d| d.size());
        assert_eq!(pick("linux/amd64"), Some(3));
        assert_eq!(pick("linux/arm"), Some(2), "arm means v7");
        assert_eq!(pick("linux/arm/v6"), Some(1));
        assert_eq!(pick("linux/arm64"), Some(4));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(pick("windows/amd64"), None);
    }

    #[test]
    fn arm64_without_a_variant_in_the_index_is_v8() {
        let m = idx(&[("linux", "arm64", None)]);
        assert!("linux/arm64/v8"
            .parse::<Platform>()
            .unwrap()
            .choose(&m)
            .is_some());
    }
}
