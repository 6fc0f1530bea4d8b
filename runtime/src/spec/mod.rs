//! config.json from bytes to a plan: [`load`] (serde, errors name the JSON
//! path), [`validate`] (pure rules of the runtime spec, no syscalls), then
//! [`plan`] (host facts: canonical paths, namespace files, mount options).
//! Nothing in here changes the system.

pub mod defaults;
pub mod load;
pub mod plan;
pub mod validate;

pub use load::{load_bundle, SpecError};
pub use plan::Plan;

/// The runtime-spec version berth implements and reports.
pub const OCI_VERSION: &str = "1.2.0";

/// The version `berth spec` stamps on its template. The template uses only
/// 1.0 features, and older runtimes (crun 1.8) refuse versions they do not
/// know, so bundles made by `berth spec` stay portable.
pub const TEMPLATE_VERSION: &str = "1.0.2";
