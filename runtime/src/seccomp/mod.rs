//! linux.seccomp: the profile is checked with the rest of the config, compiled
//! to BPF by the launcher before clone (or taken from the cache, see
//! [`cache`]), and installed by the init (see `process::init` for when).
//!
//! We emit the BPF ourselves rather than through seccompiler: an OCI profile
//! needs a different action per rule, compat ABIs (x86, x32) in one program,
//! SCMP_ACT_NOTIFY and the listener flag, none of which seccompiler's
//! single-action, single-arch filters express.
//!
//! Semantics follow runc: unknown syscall names are skipped; a rule whose
//! action equals the default is dropped; conditions on distinct arguments
//! are ANDed in one rule, while several on the same argument become one
//! rule each (ORed); syscalls numbered above every one the profile names get
//! ENOSYS unless the default action lets syscalls run (ALLOW, LOG, TRACE).
//! For one syscall, conditional rules are tried in profile order before an
//! unconditional one, which then acts as that syscall's fallback.

pub mod bpf;
pub mod cache;
pub mod filter;
pub mod listener;
pub mod tables;

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompFilterFlag as Flag,
    LinuxSeccompOperator as Operator,
};

use filter::{AbiRules, Cond, Filter, Op, Rule};
use tables::Abi;

pub const FLAG_TSYNC: u32 = 1 << 0;
pub const FLAG_LOG: u32 = 1 << 1;
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    #[error("linux.seccomp.syscalls[{index}]: {msg}")]
    Entry { index: usize, msg: String },
    #[error("linux.seccomp.defaultErrnoRet: {0} does not fit SECCOMP_RET_DATA (0-65535)")]
    DefaultErrno(u32),
    #[error("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action (the runtime itself must write to hand over the listener)")]
    NotifyDefault,
    #[error("linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY")]
    NoListener,
    #[error("linux.seccomp: {0}")]
    TooLong(#[from] bpf::TooLong),
}

/// Where the notification fd goes, and what to tell the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerPlan {
    pub path: PathBuf,
    pub metadata: String,
}

/// A profile ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub program: Vec<bpf::Insn>,
    /// SECCOMP_FILTER_FLAG_* for seccomp(2).
    pub flags: u32,
    pub listener: Option<ListenerPlan>,
}

impl Compiled {
    /// The program as the kernel's `struct sock_filter`s.
    pub fn sock_filters(&self) -> Vec<libc::sock_filter> {
        self.program
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect()
    }
}

fn action_value(a: Action, errno: Option<u32>) -> u32 {
    match a {
        Action::ScmpActKill | Action::ScmpActKillThread => filter::RET_KILL_THREAD,
        Action::ScmpActKillProcess => filter::RET_KILL_PROCESS,
        Action::ScmpActTrap => filter::RET_TRAP,
        Action::ScmpActErrno => filter::RET_ERRNO | errno.unwrap_or(libc::EPERM as u32),
        Action::ScmpActTrace => filter::RET_TRACE | errno.unwrap_or(libc::EPERM as u32),
        Action::ScmpActNotify => filter::RET_USER_NOTIF,
        Action::ScmpActLog => filter::RET_LOG,
        Action::ScmpActAllow => filter::RET_ALLOW,
    }
}

fn op(o: Operator) -> Op {
    match o {
        Operator::ScmpCmpNe => Op::Ne,
        Operator::ScmpCmpLt => Op::Lt,
        Operator::ScmpCmpLe => Op::Le,
        Operator::ScmpCmpEq => Op::Eq,
        Operator::ScmpCmpGe => Op::Ge,
        Operator::ScmpCmpGt => Op::Gt,
        Operator::ScmpCmpMaskedEq => Op::MaskedEq,
    }
}

/// The ABI a listed architecture stands for on this (x86_64) host; `None`
/// for architectures an x86_64 kernel never runs.
fn abi(a: Arch) -> Option<Abi> {
    match a {
        Arch::ScmpArchNative | Arch::ScmpArchX86_64 => Some(Abi::X86_64),
        Arch::ScmpArchX86 => Some(Abi::X86),
        Arch::ScmpArchX32 => Some(Abi::X32),
        _ => None,
    }
}

/// Checks that need no host facts; run with the rest of config validation.
pub fn validate(s: &LinuxSeccomp) -> Result<(), SeccompError> {
    if s.default_action() == Action::ScmpActNotify {
        return Err(SeccompError::NotifyDefault);
    }
    if let Some(e) = s.default_errno_ret().filter(|e| *e > 0xffff) {
        return Err(SeccompError::DefaultErrno(e));
    }
    let mut notify = false;
    for (index, call) in s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let entry = |msg: String| SeccompError::Entry { index, msg };
        if call.names().is_empty() {
            return Err(entry("names: must list at least one syscall".into()));
        }
        if let Some(n) = call.names().iter().find(|n| n.is_empty()) {
            return Err(entry(format!("names: {n:?} is not a syscall name")));
        }
        if let Some(e) = call.errno_ret().filter(|e| *e > 0xffff) {
            return Err(entry(format!(
                "errnoRet: {e} does not fit SECCOMP_RET_DATA (0-65535)"
            )));
        }
        for (j, a) in call
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if a.index() > 5 {
                return Err(entry(format!(
                    "args[{j}].index: {} is out of range (syscalls have arguments 0-5)",
                    a.index()
                )));
            }
        }
        if call.action() == Action::ScmpActNotify {
            notify = true;
            if call.names().iter().any(|n| n == "write") {
                return Err(entry(
                    "SCMP_ACT_NOTIFY cannot be used for write (the runtime writes to hand over the listener)"
                        .into(),
                ));
            }
        }
    }
    if notify && s.listener_path().is_none() {
        return Err(SeccompError::NoListener);
    }
    Ok(())
}

/// The rules one profile entry contributes, per runc's argument grouping.
fn entry_rules(action: u32, conds: Vec<Cond>) -> Vec<Rule> {
    let mut seen = [0u8; 6];
    for c in &conds {
        seen[usize::from(c.index)] += 1;
    }
    if seen.iter().any(|&n| n > 1) {
        conds
            .into_iter()
            .map(|c| Rule {
                action,
                conds: vec![c],
            })
            .collect()
    } else {
        vec![Rule { action, conds }]
    }
}

/// Adds `rule` to a syscall's list: conditional rules in order before the
/// unconditional fallback; the first unconditional rule wins.
fn add_rule(list: &mut Vec<Rule>, rule: Rule) {
    let fallback = list.iter().position(|r| r.conds.is_empty());
    match (rule.conds.is_empty(), fallback) {
        (true, Some(_)) => {}
        (true, None) => list.push(rule),
        (false, Some(at)) => list.insert(at, rule),
        (false, None) => list.push(rule),
    }
}

/// Reduces a validated profile to numbers.
pub fn reduce(s: &LinuxSeccomp) -> Filter {
    let default = action_value(s.default_action(), s.default_errno_ret());
    let mut abis: BTreeMap<Abi, AbiRules> = BTreeMap::new();
    abis.insert(Abi::X86_64, AbiRules::default());
    for a in s.architectures().as_deref().unwrap_or_default() {
        match abi(*a) {
            Some(x) => {
                abis.entry(x).or_default();
            }
            None => {
                tracing::debug!(arch = %a, "seccomp architecture never runs on this host, skipped")
            }
        }
    }
    let lets_run = matches!(
        s.default_action(),
        Action::ScmpActAllow | Action::ScmpActLog | Action::ScmpActTrace
    );
    let calls = s.syscalls().as_deref().unwrap_or_default();
    for (abi, rules) in abis.iter_mut() {
        let index = tables::index(*abi);
        let mut highest: Option<u32> = None;
        for call in calls {
            let numbers: Vec<Option<u32>> = call
                .names()
                .iter()
                .map(|n| index.get(n.as_str()).copied())
                .collect();
            for (name, nr) in call.names().iter().zip(&numbers) {
                if nr.is_none() {
                    tracing::debug!(syscall = %name, abi = ?abi, "unknown seccomp syscall skipped");
                }
            }
            let numbers: Vec<u32> = numbers.into_iter().flatten().collect();
            highest = numbers.iter().copied().chain(highest).max();
            let action = action_value(call.action(), call.errno_ret());
            if action == default {
                continue;
            }
            let conds: Vec<Cond> = call
                .args()
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|a| Cond {
                    index: a.index() as u8,
                    op: op(a.op()),
                    value: a.value(),
                    value_two: a.value_two().unwrap_or(0),
                })
                .collect();
            let new = entry_rules(action, conds);
            for nr in numbers {
                let list = rules.syscalls.entry(nr).or_default();
                for r in &new {
                    add_rule(list, r.clone());
                }
            }
        }
        if !lets_run {
            rules.enosys_above = highest;
        }
    }
    Filter {
        default,
        bad_arch: filter::RET_KILL_THREAD,
        abis,
    }
}

/// The seccomp(2) flags for a profile.
pub fn flags(s: &LinuxSeccomp) -> u32 {
    let mut f = 0;
    for flag in s.flags().as_deref().unwrap_or_default() {
        f |= match flag {
            Flag::SeccompFilterFlagTsync => FLAG_TSYNC,
            Flag::SeccompFilterFlagLog => FLAG_LOG,
            Flag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            Flag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }
    let notify = s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|c| c.action() == Action::ScmpActNotify);
    if notify {
        f |= FLAG_NEW_LISTENER;
        // TSYNC and a listener are exclusive unless TSYNC failures are
        // reported as ESRCH; the init is single-threaded either way.
        if f & FLAG_TSYNC != 0 {
            f |= FLAG_TSYNC_ESRCH;
        }
    } else {
        // Meaningless without a listener, and refused by the kernel.
        f &= !FLAG_WAIT_KILLABLE_RECV;
    }
    f
}

/// Flags and listener of a compiled profile, without the program.
pub(crate) fn compile_without_program(s: &LinuxSeccomp) -> Compiled {
    let flags = flags(s);
    let listener = (flags & FLAG_NEW_LISTENER != 0)
        .then(|| s.listener_path().clone())
        .flatten()
        .map(|path| ListenerPlan {
            path,
            metadata: s.listener_metadata().clone().unwrap_or_default(),
        });
    Compiled {
        program: Vec::new(),
        flags,
        listener,
    }
}

/// Compiles a validated profile.
pub fn compile(s: &LinuxSeccomp) -> Result<Compiled, SeccompError> {
    let mut c = compile_without_program(s);
    c.program = reduce(s).to_bpf()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::bpf::{run, Data};
    use super::filter::*;
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    fn at(c: &Compiled, abi: Abi, name: &str, args: [u64; 6]) -> u32 {
        let nr = abi.number(name).unwrap();
        run(
            &c.program,
            &Data {
                nr,
                arch: abi.audit_arch(),
                args,
            },
        )
    }

    #[test]
    fn actions_errnos_and_compat_abis() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[
                  {"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"},
                  {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":30},
                  {"names":["getpid"],"action":"SCMP_ACT_KILL_PROCESS"},
                  {"names":["getppid"],"action":"SCMP_ACT_TRACE"},
                  {"names":["uname"],"action":"SCMP_ACT_LOG"},
                  {"names":["chdir"],"action":"SCMP_ACT_TRAP"},
                  {"names":["fchdir"],"action":"SCMP_ACT_KILL"},
                  {"names":["setsid"],"action":"SCMP_ACT_ERRNO"},
                  {"names":["no_such_syscall","socketcall"],"action":"SCMP_ACT_ALLOW"}
                ]}"#,
        );
        validate(&p).unwrap();
        let c = compile(&p).unwrap();
        assert_eq!(c.flags, 0);
        for abi in [Abi::X86_64, Abi::X86, Abi::X32] {
            assert_eq!(at(&c, abi, "read", [0; 6]), RET_ALLOW, "{abi:?}");
            assert_eq!(at(&c, abi, "mkdirat", [0; 6]), RET_ERRNO | 30);
            assert_eq!(at(&c, abi, "getpid", [0; 6]), RET_KILL_PROCESS);
            assert_eq!(at(&c, abi, "getppid", [0; 6]), RET_TRACE | 1);
            assert_eq!(at(&c, abi, "uname", [0; 6]), RET_LOG);
            assert_eq!(at(&c, abi, "chdir", [0; 6]), RET_TRAP);
            assert_eq!(at(&c, abi, "fchdir", [0; 6]), RET_KILL_THREAD);
            assert_eq!(at(&c, abi, "setsid", [0; 6]), RET_ERRNO | 1);
            assert_eq!(at(&c, abi, "close", [0; 6]), RET_ERRNO | 38);
        }
        assert_eq!(at(&c, Abi::X86, "socketcall", [0; 6]), RET_ALLOW);
    }

    #[test]
    fn syscalls_newer_than_the_profile_get_enosys_unless_default_allows() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO",
                "syscalls":[{"names":["read","openat"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let f = reduce(&p);
        assert_eq!(f.abis[&Abi::X86_64].enosys_above, Some(257));
        let c = compile(&p).unwrap();
        let nr = |nr| {
            run(
                &c.program,
                &Data {
                    nr,
                    arch: tables::AUDIT_ARCH_X86_64,
                    args: [0; 6],
                },
            )
        };
        assert_eq!(nr(257), RET_ALLOW);
        assert_eq!(nr(200), RET_ERRNO | 1);
        assert_eq!(nr(435), RET_ERRNO | libc::ENOSYS as u32);
        let allow = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert_eq!(reduce(&allow).abis[&Abi::X86_64].enosys_above, None);
    }

    #[test]
    fn args_on_distinct_indexes_and_and_on_one_index_or() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22,
                 "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},
                         {"index":0,"value":131072,"op":"SCMP_CMP_EQ"}]},
                {"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":1,
                 "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},
                         {"index":1,"value":9,"op":"SCMP_CMP_EQ"}]},
                {"names":["clone"],"action":"SCMP_ACT_ERRNO","errnoRet":1,
                 "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}
            ]}"#,
        );
        let c = compile(&p).unwrap();
        let x = Abi::X86_64;
        assert_eq!(at(&c, x, "personality", [8, 0, 0, 0, 0, 0]), RET_ERRNO | 22);
        assert_eq!(
            at(&c, x, "personality", [131072, 0, 0, 0, 0, 0]),
            RET_ERRNO | 22
        );
        assert_eq!(at(&c, x, "personality", [0, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(at(&c, x, "kill", [1, 9, 0, 0, 0, 0]), RET_ERRNO | 1);
        assert_eq!(at(&c, x, "kill", [1, 15, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(at(&c, x, "kill", [2, 9, 0, 0, 0, 0]), RET_ALLOW);
        // clone without namespace flags is refused here; with CLONE_NEWUSER allowed.
        assert_eq!(at(&c, x, "clone", [0x11, 0, 0, 0, 0, 0]), RET_ERRNO | 1);
        assert_eq!(at(&c, x, "clone", [0x1000_0000, 0, 0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn a_conditional_rule_is_tried_before_the_unconditional_one() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["socket"],"action":"SCMP_ACT_ALLOW"},
                {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":97,
                 "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"}]}
            ]}"#,
        );
        let c = compile(&p).unwrap();
        assert_eq!(
            at(&c, Abi::X86_64, "socket", [16, 0, 0, 0, 0, 0]),
            RET_ERRNO | 97
        );
        assert_eq!(at(&c, Abi::X86_64, "socket", [2, 0, 0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn flags_and_listener() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"],
                "listenerPath":"/run/agent.sock","listenerMetadata":"hello",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        validate(&p).unwrap();
        let c = compile(&p).unwrap();
        assert_eq!(
            c.flags,
            FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH
        );
        assert_eq!(
            c.listener,
            Some(ListenerPlan {
                path: "/run/agent.sock".into(),
                metadata: "hello".into()
            })
        );
        assert_eq!(at(&c, Abi::X86_64, "mkdir", [0; 6]), RET_USER_NOTIF);
    }

    #[test]
    fn bad_profiles_name_the_entry() {
        let cases = [
            (
                r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#,
                "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "linux.seccomp.listenerPath: required",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO"},{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "linux.seccomp.syscalls[1]: SCMP_ACT_NOTIFY cannot be used for write",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "linux.seccomp.syscalls[0]: args[0].index: 6 is out of range",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}"#,
                "linux.seccomp.syscalls[0]: names: must list",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}"#,
                "linux.seccomp.defaultErrnoRet: 70000",
            ),
        ];
        for (json, want) in cases {
            let err = validate(&profile(json)).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }
}
