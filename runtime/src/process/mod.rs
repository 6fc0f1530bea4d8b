//! Creating the container's init process and everything between clone and
//! execve.
//!
//! [`launch`] is the launcher (parent) side: it clones the init with
//! clone3, writes id maps, joins cgroups, runs runtime-namespace hooks and
//! persists state. [`init`] is the child side: namespaces, rootfs, console,
//! process attributes, then it blocks until start and execs. The two talk
//! over [`sync`]. Between clone and exec berth is single-threaded and the
//! child logs nothing: its errors travel to the launcher, which prints them.

pub mod exec;
pub mod finish;
pub mod foreground;
pub mod init;
pub mod launch;
pub mod sync;
pub mod user;
