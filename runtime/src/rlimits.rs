//! process.rlimits: applied with setrlimit before capabilities are dropped
//! (raising a hard limit needs CAP_SYS_RESOURCE).

use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

#[derive(Debug, thiserror::Error)]
#[error("process.rlimits: set {name} to soft {soft}, hard {hard}: {source}")]
pub struct RlimitError {
    name: String,
    soft: u64,
    hard: u64,
    #[source]
    source: nix::Error,
}

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn apply(limits: &[PosixRlimit]) -> Result<(), RlimitError> {
    for l in limits {
        setrlimit(resource(l.typ()), l.soft(), l.hard()).map_err(|source| RlimitError {
            name: format!("{:?}", l.typ()),
            soft: l.soft(),
            hard: l.hard(),
            source,
        })?;
    }
    Ok(())
}
