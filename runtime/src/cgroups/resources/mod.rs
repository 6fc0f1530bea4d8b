//! `linux.resources` to cgroup file writes: a pure mapping, no syscalls.
//!
//! [`plan`] turns a `LinuxResources` into ordered [`Write`]s for one cgroup
//! version, converting v1 values to v2 the way runc does (shares to
//! cpu.weight, blkio weight to io.weight, swap to memory.swap.max). Each
//! write carries the JSON path of the field it came from, so a value the
//! host refuses is reported against that field. Devices are not here: see
//! [`super::devices`]. [`merge`] folds an `update` request into what was
//! applied before.
//!
//! The only host facts used are read through [`Current`]: present values
//! that decide an order (v1 memory and memsw, cfs quota and burst, rt
//! runtime and period), files whose presence selects a file name (bfq or
//! cfq weights, hugetlb `.rsvd` limits) and usage for `checkBeforeUpdate`.
//! Everything the cgroup version cannot express is refused here, before
//! anything is written, with the field named.

mod common;
mod convert;
mod merge;
mod v1;
mod v2;

#[cfg(test)]
mod testutil;
#[cfg(test)]
mod v1_tests;
#[cfg(test)]
mod v2_tests;

pub use convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2};
pub use merge::merge;

use oci_spec::runtime::LinuxResources;

/// Which cgroup version the writes are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// One file write in the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// v1: the controller whose hierarchy holds the file (`memory`,
    /// `cpu`, ...). v2: the controller that must be enabled in the parent
    /// (`memory`, `cpu`, `io`, ...) or "" for core files and `unified` keys.
    pub controller: &'static str,
    /// File name inside the container's cgroup directory.
    pub file: String,
    pub value: String,
    /// JSON path of the source field, e.g. `linux.resources.memory.limit`.
    pub field: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The value cannot be expressed on this cgroup version.
    #[error("{field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// The value is out of range or inconsistent with another field.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

/// Reads a file of the container's current cgroup (controller, file name),
/// for writes whose order depends on the current value (v1 memory and
/// memsw, cfs quota and burst, rt runtime and period), for files whose
/// presence picks a name or a write (bfq weights, hugetlb `.rsvd`, swap
/// accounting, cpu.idle and burst knobs) and for `checkBeforeUpdate`
/// usage. None when absent.
pub type Current<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// The writes that apply `res` (devices excluded), in the order to make them.
pub fn plan(
    res: &LinuxResources,
    version: Version,
    current: Current<'_>,
) -> Result<Vec<Write>, ResourceError> {
    let mut out = Planner {
        writes: Vec::new(),
        current,
    };
    match version {
        Version::V1 => v1::plan(res, &mut out)?,
        Version::V2 => v2::plan(res, &mut out)?,
    }
    Ok(out.writes)
}

/// Collects the writes of one plan and answers questions about the cgroup
/// as it is now.
pub(crate) struct Planner<'a> {
    writes: Vec<Write>,
    current: Current<'a>,
}

impl Planner<'_> {
    /// Appends a write; `field` is relative to `linux.resources`.
    fn write(
        &mut self,
        controller: &'static str,
        file: impl Into<String>,
        value: impl ToString,
        field: impl AsRef<str>,
    ) {
        self.writes.push(Write {
            controller,
            file: file.into(),
            value: value.to_string(),
            field: path(field.as_ref()),
        });
    }

    fn current(&self, controller: &str, file: &str) -> Option<String> {
        (self.current)(controller, file)
    }

    /// Whether the cgroup has the file now (a kernel feature probe).
    fn has(&self, controller: &str, file: &str) -> bool {
        self.current(controller, file).is_some()
    }

    /// The current value as a number; None when absent or not a number.
    fn current_i64(&self, controller: &str, file: &str) -> Option<i64> {
        self.current(controller, file)?.trim().parse().ok()
    }

    fn current_u64(&self, controller: &str, file: &str) -> Option<u64> {
        self.current(controller, file)?.trim().parse().ok()
    }
}

/// The full JSON path of a field given relative to `linux.resources`.
fn path(rel: &str) -> String {
    format!("linux.resources.{rel}")
}

fn unsupported(rel: impl AsRef<str>, reason: impl Into<String>) -> ResourceError {
    ResourceError::Unsupported {
        field: path(rel.as_ref()),
        reason: reason.into(),
    }
}

fn invalid(rel: impl AsRef<str>, reason: impl Into<String>) -> ResourceError {
    ResourceError::Invalid {
        field: path(rel.as_ref()),
        reason: reason.into(),
    }
}
