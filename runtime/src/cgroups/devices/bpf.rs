//! The BPF_PROG_TYPE_CGROUP_DEVICE program for a rule list, assembled from
//! raw instructions (pure; loading it is attach.rs's job).
//!
//! The kernel passes `struct bpf_cgroup_dev_ctx { u32 access_type; u32
//! major; u32 minor; }`, access_type being `access << 16 | type`. Rules are
//! emitted last first: R3 holds the requested access bits no later rule has
//! decided yet; a matching allow rule clears its bits (and returns 1 when
//! none are left), a matching deny rule returns 0 if it names any of them.
//! That is [`super::decide`]'s last-match-per-bit meaning with early exits.
//! Bits no rule decides fall through to the deny exit.
//!
//! Instructions per rule: one compare for each of type, major and minor that
//! is not a wildcard, then one jump for a deny or an "rwm" allow, or two
//! (and + jump) for a partial allow. A rule matching everything with "rwm"
//! ends the program (the rules before it can never decide anything). The
//! preamble is 6 instructions and each exit used is 2.

use std::collections::HashMap;

use super::{Norm, ACC_ALL};
use crate::sys::bpf::Insn;

#[rustfmt::skip]
mod op {
    //! Opcodes used, as class | operation | source.
    pub const LDX_W: u8 = 0x61;      // BPF_LDX | BPF_MEM | BPF_W
    pub const AND32_K: u8 = 0x54;    // BPF_ALU | BPF_AND | BPF_K
    pub const RSH32_K: u8 = 0x74;    // BPF_ALU | BPF_RSH | BPF_K
    pub const MOV32_K: u8 = 0xb4;    // BPF_ALU | BPF_MOV | BPF_K
    pub const MOV32_X: u8 = 0xbc;    // BPF_ALU | BPF_MOV | BPF_X
    pub const JA: u8 = 0x05;         // BPF_JMP | BPF_JA
    pub const JEQ32_K: u8 = 0x16;    // BPF_JMP32 | BPF_JEQ | BPF_K
    pub const JSET32_K: u8 = 0x46;   // BPF_JMP32 | BPF_JSET | BPF_K
    pub const JNE32_K: u8 = 0x56;    // BPF_JMP32 | BPF_JNE | BPF_K
    pub const EXIT: u8 = 0x95;       // BPF_JMP | BPF_EXIT
}

/// Registers: R1 the context on entry, R0 the verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

/// A forward-only assembler: jumps name labels, bound later.
struct Asm {
    insns: Vec<Insn>,
    fixups: Vec<(usize, usize)>,
    bound: HashMap<usize, usize>,
    labels: usize,
}

const ALLOW: usize = 0;
const DENY: usize = 1;

impl Asm {
    fn new() -> Asm {
        Asm {
            insns: Vec::new(),
            fixups: Vec::new(),
            bound: HashMap::new(),
            labels: 2,
        }
    }
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn emit(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(Insn::new(code, dst, src, off, imm));
    }
    fn jump(&mut self, code: u8, dst: u8, imm: i32, to: usize) {
        self.fixups.push((self.insns.len(), to));
        self.emit(code, dst, 0, 0, imm);
    }
    fn bind(&mut self, label: usize) {
        self.bound.insert(label, self.insns.len());
    }
    fn used(&self, label: usize) -> bool {
        self.fixups.iter().any(|&(_, l)| l == label)
    }
    fn exit_with(&mut self, label: usize, verdict: i32) {
        self.bind(label);
        self.emit(op::MOV32_K, R0, 0, 0, verdict);
        self.emit(op::EXIT, 0, 0, 0, 0);
    }
    fn finish(mut self) -> Result<Vec<Insn>, String> {
        for &(at, label) in &self.fixups {
            let to = self.bound[&label];
            let off = i16::try_from(to - at - 1).map_err(|_| {
                format!(
                    "too many device rules for one eBPF program ({} instructions; a jump \
                     reaches at most 32767)",
                    self.insns.len()
                )
            })?;
            self.insns[at].off = off;
        }
        Ok(self.insns)
    }
}

/// The program enforcing `rules`.
pub(crate) fn program(rules: &[Norm]) -> Result<Vec<Insn>, String> {
    let mut a = Asm::new();
    a.emit(op::LDX_W, TYPE, R1, 0, 0);
    a.emit(op::MOV32_X, ACCESS, TYPE, 0, 0);
    a.emit(op::RSH32_K, ACCESS, 0, 0, 16);
    a.emit(op::AND32_K, TYPE, 0, 0, 0xffff);
    a.emit(op::LDX_W, MAJOR, R1, 4, 0);
    a.emit(op::LDX_W, MINOR, R1, 8, 0);
    let mut falls_through = true;
    for r in rules.iter().rev() {
        let everything = r.ty.is_none() && r.major.is_none() && r.minor.is_none();
        if everything && r.access == ACC_ALL {
            // Decides every bit: the earlier rules are dead code, which the
            // verifier rejects. A deny is what falling through does anyway.
            if r.allow {
                a.jump(op::JA, 0, 0, ALLOW);
                falls_through = false;
            }
            break;
        }
        rule(&mut a, r);
    }
    if falls_through || a.used(DENY) {
        a.exit_with(DENY, 0);
    }
    if a.used(ALLOW) {
        a.exit_with(ALLOW, 1);
    }
    a.finish()
}

fn rule(a: &mut Asm, r: &Norm) {
    let next = a.label();
    // Numbers are compared as u32 (JMP32), so majors and minors past
    // i32::MAX match exactly instead of being sign-extended.
    if let Some(t) = r.ty {
        a.jump(op::JNE32_K, TYPE, t as i32, next);
    }
    if let Some(m) = r.major {
        a.jump(op::JNE32_K, MAJOR, m as i32, next);
    }
    if let Some(m) = r.minor {
        a.jump(op::JNE32_K, MINOR, m as i32, next);
    }
    match (r.allow, r.access == ACC_ALL) {
        (true, true) => a.jump(op::JA, 0, 0, ALLOW),
        (false, true) => a.jump(op::JA, 0, 0, DENY),
        (true, false) => {
            a.emit(op::AND32_K, ACCESS, 0, 0, i32::from(!r.access & ACC_ALL));
            a.jump(op::JEQ32_K, ACCESS, 0, ALLOW);
        }
        (false, false) => a.jump(op::JSET32_K, ACCESS, i32::from(r.access), DENY),
    }
    a.bind(next);
}
