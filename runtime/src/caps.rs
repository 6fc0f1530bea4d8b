//! The five capability sets, applied in the order that keeps them exact:
//! bounding is cut first (while we still hold CAP_SETPCAP), the uid change
//! happens with keep-caps so permitted survives it, then effective,
//! permitted and inheritable are set together, and ambient is raised last
//! (it requires the cap in both permitted and inheritable).

use std::collections::HashSet;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capability, LinuxCapabilities};

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("capabilities: {op} {set}: {source}")]
    Apply {
        op: &'static str,
        set: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("capabilities: unknown capability {0}")]
    Unknown(String),
}

fn convert(set: &Option<HashSet<Capability>>) -> Result<CapsHashSet, CapsError> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        out.insert(name.parse::<Cap>().map_err(|_| CapsError::Unknown(name))?);
    }
    Ok(out)
}

/// The sets as the kernel crate understands them.
#[derive(Debug, Clone, Default)]
pub struct CapSets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapSets, CapsError> {
        Ok(CapSets {
            bounding: convert(c.bounding())?,
            effective: convert(c.effective())?,
            permitted: convert(c.permitted())?,
            inheritable: convert(c.inheritable())?,
            ambient: convert(c.ambient())?,
        })
    }
}

fn apply_err(
    op: &'static str,
    set: &'static str,
) -> impl FnOnce(caps::errors::CapsError) -> CapsError {
    move |source| CapsError::Apply { op, set, source }
}

/// Drops every capability not in the bounding set. Call before the uid change.
pub fn drop_bounding(sets: &CapSets) -> Result<(), CapsError> {
    for cap in caps::all() {
        if !sets.bounding.contains(&cap)
            && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
        {
            caps::drop(None, CapSet::Bounding, cap).map_err(apply_err("drop", "bounding"))?;
        }
    }
    Ok(())
}

/// Sets effective, permitted, inheritable, then ambient. Call after the uid
/// change (made with PR_SET_KEEPCAPS).
pub fn apply_process_sets(sets: &CapSets) -> Result<(), CapsError> {
    // Each capset must keep effective within permitted: shrink effective
    // first, then permitted, then inheritable (bounded by the new permitted).
    caps::set(None, CapSet::Effective, &sets.effective).map_err(apply_err("set", "effective"))?;
    caps::set(None, CapSet::Permitted, &sets.permitted).map_err(apply_err("set", "permitted"))?;
    caps::set(None, CapSet::Inheritable, &sets.inheritable)
        .map_err(apply_err("set", "inheritable"))?;
    caps::clear(None, CapSet::Ambient).map_err(apply_err("clear", "ambient"))?;
    // The kernel only admits an ambient cap that is also permitted and
    // inheritable. runc and crun skip the others silently, and runc's own
    // default spec relies on it (ambient set, inheritable empty): so do we.
    for cap in sets
        .ambient
        .intersection(&sets.inheritable)
        .filter(|c| sets.permitted.contains(c))
    {
        caps::raise(None, CapSet::Ambient, *cap).map_err(apply_err("raise", "ambient"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_map_to_kernel_caps() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE"],"ambient":["CAP_AUDIT_WRITE"]}"#,
        )
        .unwrap();
        let s = CapSets::from_spec(&c).unwrap();
        assert!(s.bounding.contains(&Cap::CAP_KILL));
        assert!(s.bounding.contains(&Cap::CAP_NET_BIND_SERVICE));
        assert_eq!(s.ambient.len(), 1);
        assert!(s.effective.is_empty());
    }
}
