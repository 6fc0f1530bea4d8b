//! Test helpers: resources from JSON, a fake current cgroup, and expected
//! writes spelled with fields relative to `linux.resources`.

use oci_spec::runtime::LinuxResources;

use super::{path, plan, ResourceError, Version, Write};

/// Present cgroup files: ((controller, file), content).
pub(crate) type Files<'a> = [((&'a str, &'a str), &'a str)];

pub(crate) fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("test resources must parse")
}

pub(crate) fn cur<'a>(files: &'a Files<'a>) -> impl Fn(&str, &str) -> Option<String> + 'a {
    move |c, f| {
        files
            .iter()
            .find(|((fc, ff), _)| *fc == c && *ff == f)
            .map(|(_, v)| v.to_string())
    }
}

pub(crate) fn plan_ok(json: &str, version: Version, files: &Files<'_>) -> Vec<Write> {
    let c = cur(files);
    plan(&res(json), version, &c).expect("plan must succeed")
}

pub(crate) fn plan_err_with(json: &str, version: Version, files: &Files<'_>) -> ResourceError {
    let c = cur(files);
    match plan(&res(json), version, &c) {
        Ok(w) => panic!("expected an error, got writes {w:?}"),
        Err(e) => e,
    }
}

pub(crate) fn plan_err(json: &str, version: Version) -> ResourceError {
    plan_err_with(json, version, &[])
}

pub(crate) fn w(controller: &'static str, file: &str, value: &str, field: &str) -> Write {
    Write {
        controller,
        file: file.into(),
        value: value.into(),
        field: path(field),
    }
}

pub(crate) fn field_of(e: &ResourceError) -> &str {
    match e {
        ResourceError::Unsupported { field, .. } | ResourceError::Invalid { field, .. } => field,
    }
}
