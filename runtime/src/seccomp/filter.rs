//! A seccomp profile reduced to numbers (actions as `SECCOMP_RET_*` values,
//! syscalls as per-ABI numbers) and its translation to BPF.
//!
//! Program shape: dispatch on `seccomp_data.arch`; per ABI, an optional
//! -ENOSYS stub for numbers above the highest the profile names (runc's
//! answer to new syscalls meeting an EPERM default), a binary search over the
//! syscall numbers that have rules, then each syscall's rules. Arguments are
//! compared as full 64-bit values, high word first. Unknown architectures get
//! the bad-arch action (KILL_THREAD, as libseccomp).

use std::collections::BTreeMap;

use super::bpf::{self, Asm, Insn, Label, Target, TooLong};
use super::tables::{Abi, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == value_two`.
    MaskedEq,
}

/// One argument comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

/// `action` when every condition holds (always, when there are none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub action: u32,
    pub conds: Vec<Cond>,
}

/// Everything the filter does for one ABI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbiRules {
    /// Rules per syscall number, tried in order; conditional rules come
    /// before the unconditional one (if any), which is the syscall's fallback.
    pub syscalls: BTreeMap<u32, Vec<Rule>>,
    /// Numbers above this get -ENOSYS.
    pub enosys_above: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub default: u32,
    pub bad_arch: u32,
    pub abis: BTreeMap<Abi, AbiRules>,
}

const LEAF: usize = 4;

struct Emitter {
    asm: Asm,
    default: Label,
    enosys: Label,
    bad_arch: Label,
}

impl Filter {
    pub fn to_bpf(&self) -> Result<Vec<Insn>, TooLong> {
        let mut asm = Asm::default();
        let (default, enosys, bad_arch) = (asm.label(), asm.label(), asm.label());
        let mut e = Emitter {
            asm,
            default,
            enosys,
            bad_arch,
        };
        let x86_64 = self.abis.get(&Abi::X86_64);
        let x32 = self.abis.get(&Abi::X32);
        let i386 = self.abis.get(&Abi::X86);
        let arches: Vec<u32> = [
            (x86_64.is_some() || x32.is_some()).then_some(AUDIT_ARCH_X86_64),
            i386.map(|_| Abi::X86.audit_arch()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let entry: Vec<Label> = arches.iter().map(|_| e.asm.label()).collect();
        e.asm.load(bpf::DATA_ARCH);
        for (arch, l) in arches.iter().zip(&entry) {
            e.asm
                .branch(bpf::JMP_JEQ_K, *arch, Target::To(*l), Target::Next);
        }
        e.asm.goto(e.bad_arch);
        for (arch, l) in arches.iter().zip(&entry) {
            e.asm.bind(*l);
            e.asm.load(bpf::DATA_NR);
            if *arch == AUDIT_ARCH_X86_64 {
                let x32_entry = e.asm.label();
                let on_x32 = match x32 {
                    Some(_) => Target::To(x32_entry),
                    None => Target::To(e.bad_arch),
                };
                e.asm
                    .branch(bpf::JMP_JSET_K, X32_SYSCALL_BIT, on_x32, Target::Next);
                match x86_64 {
                    Some(rules) => e.abi(rules),
                    None => e.asm.goto(e.bad_arch),
                }
                if let Some(rules) = x32 {
                    e.asm.bind(x32_entry);
                    e.abi(rules);
                }
            } else if let Some(rules) = i386 {
                e.abi(rules);
            }
        }
        e.asm.bind(e.default);
        e.asm.ret(self.default);
        e.asm.bind(e.enosys);
        e.asm.ret(RET_ERRNO | libc::ENOSYS as u32);
        e.asm.bind(e.bad_arch);
        e.asm.ret(self.bad_arch);
        e.asm.assemble()
    }
}

impl Emitter {
    /// One ABI's section; the accumulator holds the syscall number.
    fn abi(&mut self, rules: &AbiRules) {
        if let Some(max) = rules.enosys_above {
            self.asm
                .branch(bpf::JMP_JGT_K, max, Target::To(self.enosys), Target::Next);
        }
        let entries: Vec<(u32, &Vec<Rule>)> = rules.syscalls.iter().map(|(n, r)| (*n, r)).collect();
        self.tree(&entries);
    }

    fn tree(&mut self, entries: &[(u32, &Vec<Rule>)]) {
        if entries.len() <= LEAF {
            return self.leaf(entries);
        }
        let mid = entries.len() / 2;
        let right = self.asm.label();
        self.asm.branch(
            bpf::JMP_JGE_K,
            entries[mid].0,
            Target::To(right),
            Target::Next,
        );
        self.tree(&entries[..mid]);
        self.asm.bind(right);
        self.tree(&entries[mid..]);
    }

    /// Compares against each number; plain one-action syscalls share one
    /// `ret` per action at the end of the leaf.
    fn leaf(&mut self, entries: &[(u32, &Vec<Rule>)]) {
        let mut shared: Vec<(u32, Label)> = Vec::new();
        let mut bodies: Vec<(Label, &Vec<Rule>)> = Vec::new();
        for (nr, rules) in entries {
            let target = match rules.as_slice() {
                [only] if only.conds.is_empty() => {
                    match shared.iter().find(|(a, _)| *a == only.action) {
                        Some((_, l)) => *l,
                        None => {
                            let l = self.asm.label();
                            shared.push((only.action, l));
                            l
                        }
                    }
                }
                _ => {
                    let l = self.asm.label();
                    bodies.push((l, rules));
                    l
                }
            };
            self.asm
                .branch(bpf::JMP_JEQ_K, *nr, Target::To(target), Target::Next);
        }
        self.asm.goto(self.default);
        for (action, l) in shared {
            self.asm.bind(l);
            self.asm.ret(action);
        }
        for (l, rules) in bodies {
            self.asm.bind(l);
            self.rules(rules);
        }
    }

    fn rules(&mut self, rules: &[Rule]) {
        for rule in rules {
            if rule.conds.is_empty() {
                self.asm.ret(rule.action);
                return;
            }
            let next = self.asm.label();
            for c in &rule.conds {
                self.cond(c, next);
            }
            self.asm.ret(rule.action);
            self.asm.bind(next);
        }
        self.asm.goto(self.default);
    }

    /// Falls through when `c` holds, jumps to `fail` otherwise.
    fn cond(&mut self, c: &Cond, fail: Label) {
        let lo_off = bpf::data_arg_lo(c.index);
        let hi_off = lo_off + 4;
        let (hi, lo) = ((c.value >> 32) as u32, c.value as u32);
        let pass = self.asm.label();
        let (f, p, n) = (Target::To(fail), Target::To(pass), Target::Next);
        let a = &mut self.asm;
        match c.op {
            Op::Eq => {
                a.load(hi_off);
                a.branch(bpf::JMP_JEQ_K, hi, n, f);
                a.load(lo_off);
                a.branch(bpf::JMP_JEQ_K, lo, n, f);
            }
            Op::Ne => {
                a.load(hi_off);
                a.branch(bpf::JMP_JEQ_K, hi, n, p);
                a.load(lo_off);
                a.branch(bpf::JMP_JEQ_K, lo, f, n);
            }
            Op::Gt | Op::Ge => {
                a.load(hi_off);
                a.branch(bpf::JMP_JGT_K, hi, p, n);
                a.branch(bpf::JMP_JEQ_K, hi, n, f);
                a.load(lo_off);
                let code = if c.op == Op::Gt {
                    bpf::JMP_JGT_K
                } else {
                    bpf::JMP_JGE_K
                };
                a.branch(code, lo, n, f);
            }
            Op::Lt | Op::Le => {
                a.load(hi_off);
                a.branch(bpf::JMP_JGT_K, hi, f, n);
                a.branch(bpf::JMP_JEQ_K, hi, n, p);
                a.load(lo_off);
                // lo < v  <=>  !(lo >= v);  lo <= v  <=>  !(lo > v)
                let code = if c.op == Op::Lt {
                    bpf::JMP_JGE_K
                } else {
                    bpf::JMP_JGT_K
                };
                a.branch(code, lo, f, n);
            }
            Op::MaskedEq => {
                let (mhi, mlo) = (hi, lo);
                let (dhi, dlo) = ((c.value_two >> 32) as u32, c.value_two as u32);
                a.load(hi_off);
                a.and(mhi);
                a.branch(bpf::JMP_JEQ_K, dhi, n, f);
                a.load(lo_off);
                a.and(mlo);
                a.branch(bpf::JMP_JEQ_K, dlo, n, f);
            }
        }
        a.bind(pass);
    }
}

/// What the filter returns for syscall `nr` with `args` on `abi`, by the
/// rules' meaning rather than by running BPF: the reference the compiled
/// program is tested against.
#[cfg(test)]
pub fn reference(f: &Filter, abi: Abi, nr: u32, args: &[u64; 6]) -> u32 {
    let Some(rules) = f.abis.get(&abi) else {
        return f.bad_arch;
    };
    if let Some(max) = rules.enosys_above {
        if nr > max {
            return RET_ERRNO | libc::ENOSYS as u32;
        }
    }
    let holds = |c: &Cond| {
        let a = args[usize::from(c.index)];
        match c.op {
            Op::Ne => a != c.value,
            Op::Lt => a < c.value,
            Op::Le => a <= c.value,
            Op::Eq => a == c.value,
            Op::Ge => a >= c.value,
            Op::Gt => a > c.value,
            Op::MaskedEq => a & c.value == c.value_two,
        }
    };
    rules
        .syscalls
        .get(&nr)
        .and_then(|rs| rs.iter().find(|r| r.conds.iter().all(holds)))
        .map_or(f.default, |r| r.action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::{run, Data};
    use crate::seccomp::tables::AUDIT_ARCH_I386;

    fn data(abi: Abi, nr: u32, args: [u64; 6]) -> Data {
        Data {
            nr,
            arch: abi.audit_arch(),
            args,
        }
    }

    /// Edge values around a 64-bit comparison constant: both halves equal,
    /// one off in either half, and the extremes.
    fn probes(v: u64) -> Vec<u64> {
        let mut out = vec![0, 1, u64::MAX, u64::MAX - 1, 1 << 32, (1 << 32) - 1];
        for d in [0u64, 1, 1 << 32] {
            out.push(v.wrapping_add(d));
            out.push(v.wrapping_sub(d));
        }
        out.push(v ^ 0xffff_ffff);
        out.push(v ^ 0xffff_ffff_0000_0000);
        out
    }

    #[test]
    fn every_operator_matches_64_bit_semantics_exactly() {
        let ops = [Op::Ne, Op::Lt, Op::Le, Op::Eq, Op::Ge, Op::Gt, Op::MaskedEq];
        let values = [
            0u64,
            5,
            0x1_0000_0005,
            0xffff_ffff,
            u64::MAX,
            0x8000_0000_0000_0000,
        ];
        for op in ops {
            for &value in &values {
                for index in [0u8, 3, 5] {
                    let value_two = value & 0x0000_ffff_0000_00ff;
                    let f = Filter {
                        default: RET_ALLOW,
                        bad_arch: RET_KILL_THREAD,
                        abis: [(
                            Abi::X86_64,
                            AbiRules {
                                syscalls: [(
                                    42,
                                    vec![Rule {
                                        action: RET_ERRNO | 7,
                                        conds: vec![Cond {
                                            index,
                                            op,
                                            value,
                                            value_two,
                                        }],
                                    }],
                                )]
                                .into(),
                                enosys_above: None,
                            },
                        )]
                        .into(),
                    };
                    let prog = f.to_bpf().unwrap();
                    for a in probes(value).into_iter().chain(probes(value_two)) {
                        let mut args = [0u64; 6];
                        args[usize::from(index)] = a;
                        let got = run(&prog, &data(Abi::X86_64, 42, args));
                        let want = reference(&f, Abi::X86_64, 42, &args);
                        assert_eq!(got, want, "{op:?} value={value:#x} arg={a:#x}");
                    }
                }
            }
        }
    }

    fn big_filter() -> Filter {
        let mut abis = BTreeMap::new();
        for (abi, base) in [
            (Abi::X86_64, 0u32),
            (Abi::X86, 0),
            (Abi::X32, X32_SYSCALL_BIT),
        ] {
            let mut syscalls = BTreeMap::new();
            for nr in (0..450u32).step_by(2) {
                let rules = match nr % 10 {
                    0 => vec![Rule {
                        action: RET_ERRNO | 1,
                        conds: vec![],
                    }],
                    4 => vec![
                        Rule {
                            action: RET_ERRNO | 13,
                            conds: vec![Cond {
                                index: 1,
                                op: Op::MaskedEq,
                                value: 0xff,
                                value_two: 0x10,
                            }],
                        },
                        Rule {
                            action: RET_ALLOW,
                            conds: vec![],
                        },
                    ],
                    _ => vec![Rule {
                        action: RET_ALLOW,
                        conds: vec![],
                    }],
                };
                syscalls.insert(base | nr, rules);
            }
            abis.insert(
                abi,
                AbiRules {
                    syscalls,
                    enosys_above: Some(base | 448),
                },
            );
        }
        Filter {
            default: RET_ERRNO | 1,
            bad_arch: RET_KILL_THREAD,
            abis,
        }
    }

    #[test]
    fn a_profile_the_size_of_docker_default_on_three_abis_fits_and_agrees() {
        let f = big_filter();
        let prog = f.to_bpf().unwrap();
        assert!(prog.len() < 3000, "{} instructions", prog.len());
        for abi in [Abi::X86_64, Abi::X86, Abi::X32] {
            let base = if abi == Abi::X32 { X32_SYSCALL_BIT } else { 0 };
            for nr in 0..470u32 {
                for arg1 in [0u64, 0x10, 0x110, 0x11] {
                    let args = [0, arg1, 0, 0, 0, 0];
                    let got = run(&prog, &data(abi, base | nr, args));
                    assert_eq!(got, reference(&f, abi, base | nr, &args), "{abi:?} {nr}");
                }
            }
        }
    }

    #[test]
    fn abis_outside_the_filter_get_the_bad_arch_action() {
        let mut f = big_filter();
        f.abis.remove(&Abi::X32);
        f.abis.remove(&Abi::X86);
        let prog = f.to_bpf().unwrap();
        // x32 numbers on x86_64's arch value, and i386 entirely.
        assert_eq!(
            run(&prog, &data(Abi::X32, X32_SYSCALL_BIT | 2, [0; 6])),
            RET_KILL_THREAD
        );
        let i386 = Data {
            nr: 2,
            arch: AUDIT_ARCH_I386,
            args: [0; 6],
        };
        assert_eq!(run(&prog, &i386), RET_KILL_THREAD);
        let arm = Data {
            nr: 2,
            arch: 0x4000_0028,
            args: [0; 6],
        };
        assert_eq!(run(&prog, &arm), RET_KILL_THREAD);
        assert_eq!(run(&prog, &data(Abi::X86_64, 2, [0; 6])), RET_ALLOW);
    }

    #[test]
    fn an_empty_profile_is_just_the_default() {
        let f = Filter {
            default: RET_ALLOW,
            bad_arch: RET_KILL_THREAD,
            abis: [(Abi::X86_64, AbiRules::default())].into(),
        };
        let prog = f.to_bpf().unwrap();
        assert_eq!(run(&prog, &data(Abi::X86_64, 0, [0; 6])), RET_ALLOW);
        assert_eq!(run(&prog, &data(Abi::X86_64, 999, [0; 6])), RET_ALLOW);
    }
}
