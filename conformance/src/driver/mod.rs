//! The driver: sets up a run (temp dirs, shared assets, the runtime's --root),
//! builds one bundle per case, runs it, and reports `PASS`/`FAIL`/`SKIP`/
//! `XFAIL` lines and the closing `N passed, N failed, N skipped` line.
//!
//! Cases themselves live in `crate::cases`; this module only sequences them and
//! guarantees cleanup.

pub mod bundle;
pub mod console;
pub mod ctx;
pub mod elf32;
pub mod host;
pub mod runtime;
pub mod spec;

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::cases::{self, Case, Run};
use crate::config::ANN_HOST_NS;
use bundle::{Assets, Bundle, BundleError};
use ctx::{Ctx, Verdict};
use runtime::Runtime;

#[derive(Debug, Error)]
pub enum DriverError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("checker {0} is dynamically linked; build it with conformance/build-checker.sh")]
    DynamicChecker(PathBuf),
    #[error("writing the report: {0}")]
    Report(#[source] std::io::Error),
}

pub struct Options {
    pub runtime: PathBuf,
    pub checker: PathBuf,
    pub busybox: PathBuf,
    pub filter: Option<String>,
    pub keep: bool,
    /// Parent of the run's temp dir (default: the system temp dir).
    pub root: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Skipped cases, including expected failures.
    pub skipped: usize,
}

impl Summary {
    /// Counts one case's outcome and returns its report line. An expected
    /// failure counts as skipped, so the closing line stays `N passed, N
    /// failed, N skipped` and a known deviation does not fail the run.
    fn record(&mut self, name: &str, verdict: Result<(), Verdict>, xfail: Option<&str>) -> String {
        match (verdict, xfail) {
            (Ok(()), None) => {
                self.passed += 1;
                format!("PASS {name}")
            }
            (Ok(()), Some(reason)) => {
                self.passed += 1;
                format!("PASS {name} (listed as XFAIL: {reason}; the entry looks stale)")
            }
            (Err(Verdict::Fail(why)), Some(reason)) => {
                self.skipped += 1;
                format!("XFAIL {name}: {reason} (saw: {})", one_line(&why))
            }
            (Err(Verdict::Fail(why)), None) => {
                self.failed += 1;
                format!("FAIL {name}: {}", one_line(&why))
            }
            (Err(Verdict::Skip(why)), _) => {
                self.skipped += 1;
                format!("SKIP {name}: {why}")
            }
        }
    }
}

/// Runs every selected case and writes the report to `out`.
pub fn run(opts: &Options, out: &mut impl Write) -> Result<Summary, DriverError> {
    check_static(&opts.checker)?;
    let parent = opts.root.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).map_err(|source| DriverError::Io {
        what: "mkdir",
        path: parent.clone(),
        source,
    })?;
    let base = nix::unistd::mkdtemp(&parent.join("berth-conformance-XXXXXX")).map_err(|e| {
        DriverError::Io {
            what: "mkdtemp in",
            path: parent.clone(),
            source: e.into(),
        }
    })?;
    bundle::chmod(&base, 0o755)?;
    let result = run_in(opts, &base, out);
    let keep_dir = opts.keep;
    if keep_dir {
        let _ = writeln!(out, "kept bundles in {}", base.display());
    } else {
        let _ = std::fs::remove_dir_all(&base);
    }
    result
}

fn run_in(opts: &Options, base: &Path, out: &mut impl Write) -> Result<Summary, DriverError> {
    let assets_dir = base.join("assets");
    bundle::mkdir(&assets_dir, 0o755)?;
    let assets = Assets {
        busybox: copy_asset(&opts.busybox, &assets_dir.join("busybox"))?,
        applets: bundle::busybox_applets(&opts.busybox)?,
        checker: copy_asset(&opts.checker, &assets_dir.join("berth-check"))?,
    };
    let rt = Runtime {
        bin: opts.runtime.clone(),
        root: base.join("state"),
        log: base.join("runtime.log"),
    };
    let (rt_name, rt_version) = rt.identify();
    let _ = writeln!(
        out,
        "runtime: {} ({rt_name} {rt_version})",
        opts.runtime.display()
    );
    let host_ns = host::ns_inodes();
    let mut summary = Summary::default();
    let selected = cases::all()
        .into_iter()
        .filter(|c| opts.filter.as_deref().is_none_or(|f| c.name.contains(f)));
    for (index, case) in selected.enumerate() {
        let dir = base.join("bundles").join(case.name.replace('/', "_"));
        let verdict = run_case(
            &case,
            &rt,
            &assets,
            &dir,
            format!("berth-conf-{index}"),
            &host_ns,
        );
        let xfail = cases::xfail::lookup(&rt_name, &rt_version, case.name);
        let line = summary.record(case.name, verdict, xfail);
        writeln!(out, "{line}").map_err(DriverError::Report)?;
        if !opts.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    )
    .map_err(DriverError::Report)?;
    Ok(summary)
}

/// Builds the case's bundle and context, then runs it; a panic in a case is a
/// failure of that case, and the context's cleanup still runs.
fn run_case(
    case: &Case,
    rt: &Runtime,
    assets: &Assets,
    dir: &Path,
    id: String,
    host_ns: &std::collections::BTreeMap<String, u64>,
) -> Result<(), Verdict> {
    let bundle = Bundle::create(dir, assets)?;
    let mut config = spec::default_config();
    spec::annotate(&mut config, ANN_HOST_NS, &host::format_inodes(host_ns));
    (case.mutate)(&mut config);
    let mut ctx = Ctx::new(rt, bundle, config, id, host_ns.clone());
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        if let Some(setup) = case.setup {
            setup(&mut ctx)?;
        }
        match case.run {
            Run::Checker => ctx.run_checker(),
            Run::Host(f) => f(&mut ctx),
            Run::Cgroup(plan) => cases::cgroups::run(&mut ctx, plan),
        }
    }));
    drop(ctx);
    result.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Verdict::Fail(format!("case panicked: {msg}")))
    })
}

fn copy_asset(from: &Path, to: &Path) -> Result<PathBuf, DriverError> {
    std::fs::copy(from, to).map_err(|source| DriverError::Io {
        what: "copy",
        path: from.to_path_buf(),
        source,
    })?;
    bundle::chmod(to, 0o755)?;
    Ok(to.to_path_buf())
}

/// A dynamically linked checker cannot run in a busybox rootfs, which would
/// make every checker case fail for a reason unrelated to the runtime.
fn check_static(checker: &Path) -> Result<(), DriverError> {
    let bytes = std::fs::read(checker).map_err(|source| DriverError::Io {
        what: "read checker",
        path: checker.to_path_buf(),
        source,
    })?;
    let interp = b"/lib64/ld-linux";
    if bytes.windows(interp.len()).any(|w| w == interp) {
        return Err(DriverError::DynamicChecker(checker.to_path_buf()));
    }
    Ok(())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfail_counts_as_skipped_and_fail_as_failed() {
        let mut s = Summary::default();
        assert_eq!(s.record("a/b", Ok(()), None), "PASS a/b");
        assert!(s
            .record("a/c", Err(Verdict::Fail("x\n y".into())), Some("known"))
            .starts_with("XFAIL a/c: known (saw: x y)"));
        assert_eq!(
            s.record("a/d", Err(Verdict::Fail("boom".into())), None),
            "FAIL a/d: boom"
        );
        assert_eq!(
            s.record("a/e", Err(Verdict::Skip("no userns".into())), None),
            "SKIP a/e: no userns"
        );
        assert_eq!(
            s,
            Summary {
                passed: 1,
                failed: 1,
                skipped: 2
            }
        );
    }
}
