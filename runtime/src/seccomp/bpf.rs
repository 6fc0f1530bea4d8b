//! Classic BPF as seccomp runs it: the handful of instructions a filter
//! needs, and an assembler with forward labels. Conditional jumps in cBPF
//! reach at most 255 instructions ahead; the assembler relaxes any that
//! would reach further into a short jump over an unconditional `ja`
//! trampoline (32-bit offset), so the emitter never counts instructions.

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// BPF_LD | BPF_W | BPF_ABS (the first two are zero).
pub const LD_W_ABS: u16 = 0x20;
pub const ALU_AND_K: u16 = 0x04 | 0x50;
pub const JMP_JA: u16 = 0x05;
pub const JMP_JEQ_K: u16 = 0x05 | 0x10;
pub const JMP_JGT_K: u16 = 0x05 | 0x20;
pub const JMP_JGE_K: u16 = 0x05 | 0x30;
pub const JMP_JSET_K: u16 = 0x05 | 0x40;
pub const RET_K: u16 = 0x06;

/// The kernel's BPF_MAXINSNS.
pub const MAX_INSNS: usize = 4096;

/// Offsets into `struct seccomp_data`.
pub const DATA_NR: u32 = 0;
pub const DATA_ARCH: u32 = 4;
/// Low 32 bits of argument `i` (little endian); the high half is at +4.
pub fn data_arg_lo(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// Where a conditional branch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The instruction after the branch.
    Next,
    To(Label),
}

#[derive(Debug, Clone)]
enum Item {
    Plain(Insn),
    Branch {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Goto(Label),
    Bind(Label),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("filter needs {0} BPF instructions, more than the kernel's limit of 4096")]
pub struct TooLong(pub usize);

#[derive(Debug, Default)]
pub struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    pub fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    pub fn load(&mut self, offset: u32) {
        self.items.push(Item::Plain(Insn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: offset,
        }));
    }

    pub fn and(&mut self, mask: u32) {
        self.items.push(Item::Plain(Insn {
            code: ALU_AND_K,
            jt: 0,
            jf: 0,
            k: mask,
        }));
    }

    pub fn ret(&mut self, value: u32) {
        self.items.push(Item::Plain(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: value,
        }));
    }

    pub fn branch(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.items.push(Item::Branch { code, k, jt, jf });
    }

    pub fn goto(&mut self, l: Label) {
        self.items.push(Item::Goto(l));
    }

    /// Resolves labels into a program. Labels must be bound after every
    /// jump to them (cBPF only jumps forward); an unbound or backward label
    /// is a bug in the emitter and panics.
    pub fn assemble(self) -> Result<Vec<Insn>, TooLong> {
        let mut label_item = vec![usize::MAX; self.labels];
        for (i, item) in self.items.iter().enumerate() {
            if let Item::Bind(l) = item {
                label_item[l.0] = i;
            }
        }
        // far[i] = (jt needs a trampoline, jf needs one) for branch item i.
        let mut far = vec![(false, false); self.items.len()];
        loop {
            let (addr, len) = self.layout(&far);
            let reach = |t: &Target, from: usize| -> usize {
                match t {
                    Target::Next => 0,
                    Target::To(l) => {
                        let at = label_item[l.0];
                        assert!(at != usize::MAX, "unbound label in seccomp filter");
                        assert!(at > from, "backward jump in seccomp filter");
                        addr[at] - (addr[from] + 1)
                    }
                }
            };
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                match item {
                    Item::Branch { jt, jf, .. } => {
                        if !far[i].0 && reach(jt, i) > 255 {
                            far[i].0 = true;
                            changed = true;
                        }
                        if !far[i].1 && reach(jf, i) > 255 {
                            far[i].1 = true;
                            changed = true;
                        }
                    }
                    Item::Goto(l) => {
                        reach(&Target::To(*l), i);
                    }
                    _ => {}
                }
            }
            if !changed {
                if len > MAX_INSNS {
                    return Err(TooLong(len));
                }
                let label_addr: Vec<usize> = label_item
                    .iter()
                    .map(|&i| addr.get(i).copied().unwrap_or(usize::MAX))
                    .collect();
                return Ok(self.emit(&far, &addr, &label_addr, len));
            }
        }
    }

    /// Address of every item (a label's is that of the next instruction)
    /// and the program length.
    fn layout(&self, far: &[(bool, bool)]) -> (Vec<usize>, usize) {
        let mut addr = Vec::with_capacity(self.items.len());
        let mut pc = 0;
        for (i, item) in self.items.iter().enumerate() {
            addr.push(pc);
            pc += match item {
                Item::Plain(_) | Item::Goto(_) => 1,
                Item::Branch { .. } => 1 + usize::from(far[i].0) + usize::from(far[i].1),
                Item::Bind(_) => 0,
            };
        }
        (addr, pc)
    }

    fn emit(
        &self,
        far: &[(bool, bool)],
        addr: &[usize],
        label_addr: &[usize],
        len: usize,
    ) -> Vec<Insn> {
        let mut out = Vec::with_capacity(len);
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Plain(insn) => out.push(*insn),
                Item::Bind(_) => {}
                Item::Goto(l) => out.push(Insn {
                    code: JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: (label_addr[l.0] - (addr[i] + 1)) as u32,
                }),
                Item::Branch { code, k, jt, jf } => {
                    let (ft, ff) = far[i];
                    let tramps = usize::from(ft) + usize::from(ff);
                    let pc = addr[i];
                    let short = |t: &Target| match t {
                        Target::Next => tramps,
                        Target::To(l) => label_addr[l.0] - (pc + 1),
                    };
                    let jt_off = if ft { 0 } else { short(jt) };
                    let jf_off = if ff { usize::from(ft) } else { short(jf) };
                    out.push(Insn {
                        code: *code,
                        jt: jt_off as u8,
                        jf: jf_off as u8,
                        k: *k,
                    });
                    let mut tramp_pc = pc + 1;
                    for (is_far, t) in [(ft, jt), (ff, jf)] {
                        if !is_far {
                            continue;
                        }
                        let dest = match t {
                            Target::Next => pc + 1 + tramps,
                            Target::To(l) => label_addr[l.0],
                        };
                        out.push(Insn {
                            code: JMP_JA,
                            jt: 0,
                            jf: 0,
                            k: (dest - (tramp_pc + 1)) as u32,
                        });
                        tramp_pc += 1;
                    }
                }
            }
        }
        out
    }
}

/// What a filter sees of a syscall.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Data {
    pub nr: u32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// Runs a program the way the kernel would; panics on anything the kernel's
/// checker would reject, so tests also prove the program is well formed.
#[cfg(test)]
pub fn run(prog: &[Insn], d: &Data) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            0 => d.nr,
            4 => d.arch,
            16..=63 if off.is_multiple_of(4) => {
                let a = d.args[((off - 16) / 8) as usize];
                if (off - 16).is_multiple_of(8) {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => panic!("load from seccomp_data offset {off}"),
        }
    };
    assert!(prog.len() <= MAX_INSNS);
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = prog[pc];
        pc += 1;
        let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
        match i.code {
            LD_W_ABS => acc = word(i.k),
            ALU_AND_K => acc &= i.k,
            RET_K => return i.k,
            JMP_JA => pc += i.k as usize,
            JMP_JEQ_K => pc += jump(acc == i.k),
            JMP_JGT_K => pc += jump(acc > i.k),
            JMP_JGE_K => pc += jump(acc >= i.k),
            JMP_JSET_K => pc += jump(acc & i.k != 0),
            c => panic!("unexpected opcode {c:#x}"),
        }
        assert!(pc < prog.len(), "ran off the end of the filter");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_branches_get_trampolines_and_still_land() {
        let mut a = Asm::default();
        let (yes, no) = (a.label(), a.label());
        a.load(DATA_NR);
        a.branch(JMP_JEQ_K, 7, Target::To(yes), Target::Next);
        a.branch(JMP_JEQ_K, 8, Target::Next, Target::To(no));
        for n in 0..300 {
            a.ret(1000 + n);
        }
        a.bind(yes);
        a.ret(1);
        a.bind(no);
        a.ret(2);
        let prog = a.assemble().unwrap();
        assert_eq!(prog.len(), 1 + 2 + 2 + 300 + 2);
        let at = |nr| {
            run(
                &prog,
                &Data {
                    nr,
                    ..Data::default()
                },
            )
        };
        assert_eq!(at(7), 1);
        assert_eq!(at(9), 2);
        assert_eq!(at(8), 1000);
    }

    #[test]
    fn near_branches_stay_single_instructions() {
        let mut a = Asm::default();
        let l = a.label();
        a.load(DATA_NR);
        a.branch(JMP_JGT_K, 3, Target::To(l), Target::Next);
        a.ret(0);
        a.bind(l);
        a.ret(1);
        let prog = a.assemble().unwrap();
        assert_eq!(prog.len(), 4);
        assert_eq!(prog[1].jt, 1);
    }

    #[test]
    fn programs_over_the_kernel_limit_are_refused() {
        let mut a = Asm::default();
        for _ in 0..=MAX_INSNS {
            a.ret(0);
        }
        assert_eq!(a.assemble(), Err(TooLong(MAX_INSNS + 1)));
    }
}
