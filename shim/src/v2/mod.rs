//! containerd's runtime v2 shim: the bootstrap `start`/`delete` commands
//! and the ttrpc Task service, driving the runtime through its CLI.
