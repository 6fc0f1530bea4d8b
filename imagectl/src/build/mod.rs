//! Dockerfile builds: parser, instruction semantics, the executor (RUN in berth), the layer cache.

pub mod context;
pub mod dockerfile;
pub mod instructions;
