//! imagectl: a daemonless image manager. Images live in an OCI image
//! layout ([`store`]); [`reference`] parses names as docker does.
//! [`registry`] moves images to and from registries, [`layer`] applies
//! layers safely, [`bundle`] turns an image into an OCI runtime bundle.

pub mod image;
pub mod platform;
pub mod reference;
pub mod store;

pub mod archive;
pub mod author;
pub mod build;
pub mod bundle;
pub mod layer;
pub mod registry;
pub mod sys;

pub mod cli;
pub mod commands;
