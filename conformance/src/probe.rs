//! Probes: what the driver asks the checker to try from inside the container
//! and how each attempt must end, passed as JSON in the [`ANN_PROBES`]
//! annotation. A probe is a raw syscall made in a forked child (so a filter
//! that kills cannot take the checker down with it) or a program in the
//! rootfs, such as the hand-made i386 binary, whose exit code is the errno it
//! got. Pure data and naming; the forking is in `sys`, the running in
//! `checker::seccomp`.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

/// Annotation: a JSON array of [`Probe`]s for the checker to run.
pub const ANN_PROBES: &str = "conformance.berth/probes";

/// How a probe ended. A probe child exits with the errno its syscall got, so
/// an exit code `n > 0` reads as errno `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The syscall returned without error (the program exited 0).
    Ok,
    /// The syscall failed with this errno (the program exited with it).
    Errno(i32),
    /// The process was killed by this signal.
    Signal(i32),
}

impl Outcome {
    pub const SIGSYS: Outcome = Outcome::Signal(Signal::SIGSYS as i32);

    pub fn errno(e: Errno) -> Outcome {
        Outcome::Errno(e as i32)
    }

    /// An exit code read as the probe convention has it.
    pub fn from_exit(code: i32) -> Outcome {
        if code == 0 {
            Outcome::Ok
        } else {
            Outcome::Errno(code)
        }
    }

    /// `ok`, `errno ENOTBLK (15)`, `killed by SIGSYS`.
    pub fn describe(&self) -> String {
        match *self {
            Outcome::Ok => "ok".to_string(),
            Outcome::Errno(n) => format!("errno {:?} ({n})", Errno::from_raw(n)),
            Outcome::Signal(n) => match Signal::try_from(n) {
                Ok(s) => format!("killed by {}", s.as_str()),
                Err(_) => format!("killed by signal {n}"),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A native syscall number and its six raw argument registers.
    Syscall { nr: i64, args: [u64; 6] },
    /// An executable in the rootfs following the exit-code convention.
    Exec { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Names the check (`probe[label]`); unique within a case.
    pub label: String,
    #[serde(flatten)]
    pub target: Target,
    pub expect: Outcome,
}

impl Probe {
    pub fn syscall(label: &str, nr: i64, args: [u64; 6], expect: Outcome) -> Probe {
        Probe {
            label: label.to_string(),
            target: Target::Syscall { nr, args },
            expect,
        }
    }

    pub fn exec(label: &str, path: &str, expect: Outcome) -> Probe {
        Probe {
            label: label.to_string(),
            target: Target::Exec {
                path: path.to_string(),
            },
            expect,
        }
    }
}

pub fn encode(probes: &[Probe]) -> String {
    serde_json::to_string(probes).unwrap_or_default()
}

pub fn decode(text: &str) -> Result<Vec<Probe>, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_round_trip_through_the_annotation() {
        let probes = vec![
            Probe::syscall(
                "a",
                110,
                [0x1_0000_0005, 0, 0, 0, 0, u64::MAX],
                Outcome::errno(Errno::ENOTBLK),
            ),
            Probe::exec("b", "/conformance/probe", Outcome::SIGSYS),
            Probe::syscall("c", 39, [0; 6], Outcome::Ok),
        ];
        let text = encode(&probes);
        assert!(text.contains("\"syscall\":{\"nr\":110"));
        assert_eq!(decode(&text).unwrap(), probes);
    }

    #[test]
    fn outcomes_read_and_describe() {
        assert_eq!(Outcome::from_exit(0), Outcome::Ok);
        assert_eq!(Outcome::from_exit(15), Outcome::errno(Errno::ENOTBLK));
        assert_eq!(Outcome::errno(Errno::EXDEV).describe(), "errno EXDEV (18)");
        assert_eq!(Outcome::SIGSYS.describe(), "killed by SIGSYS");
        assert_eq!(Outcome::Ok.describe(), "ok");
    }
}
