//! Tests for the device program: a small eBPF interpreter (only what a
//! cgroup device program may do) runs it, and its verdicts are compared with
//! [`super::decide`] on many devices and requests, for the standard list and
//! for random rule lists. A shape check stands in for the parts of the
//! kernel verifier the program could trip over: forward jumps inside the
//! program, no unreachable instruction, no read of an unset register, and
//! R0 set to 0 or 1 at every exit.

use super::bpf::program;
use super::{decide, normalize, rules, Norm, ACC_ALL, DEV_BLOCK, DEV_CHAR};
use crate::sys::bpf::Insn;

/// Runs `prog` on one request; panics on anything the kernel would refuse.
fn run(prog: &[Insn], ty: u32, major: u32, minor: u32, access: u8) -> u64 {
    let ctx = [u32::from(access) << 16 | ty, major, minor];
    let mut reg = [None::<u64>; 11];
    reg[1] = Some(u64::MAX); // the context pointer; only loads may use it
    let mut pc = 0usize;
    for _ in 0..prog.len() + 1 {
        let i = prog[pc];
        let (dst, src) = (usize::from(i.dst()), usize::from(i.src()));
        let at = pc;
        let get = |r: usize| reg[r].unwrap_or_else(|| panic!("pc {at}: R{r} read before set"));
        let class = i.code & 0x07;
        let opc = i.code & 0xf0;
        let x = i.code & 0x08 != 0;
        pc += 1;
        match class {
            0x01 => {
                assert_eq!(i.code, 0x61, "only 32-bit loads from the context");
                assert_eq!(src, 1, "loads come from the context");
                assert!(matches!(i.off, 0 | 4 | 8), "context offset {}", i.off);
                reg[dst] = Some(u64::from(ctx[i.off as usize / 4]));
            }
            0x04 | 0x07 => {
                let b = if x { get(src) } else { i.imm as i64 as u64 };
                let a = if opc == 0xb0 { 0 } else { get(dst) };
                let v = match opc {
                    0xb0 => b,
                    0x50 => a & b,
                    0x40 => a | b,
                    0x70 => a >> (b & 63),
                    0x60 => a << (b & 63),
                    0x00 => a.wrapping_add(b),
                    _ => panic!("ALU op {opc:#x}"),
                };
                reg[dst] = Some(if class == 0x04 { v & 0xffff_ffff } else { v });
            }
            0x05 | 0x06 => {
                if i.code == 0x95 {
                    let r0 = get(0);
                    assert!(r0 <= 1, "verdict {r0}");
                    return r0;
                }
                let wide = class == 0x05;
                let mask = if wide { u64::MAX } else { 0xffff_ffff };
                let b = if x { get(src) } else { i.imm as i64 as u64 } & mask;
                let a = if opc == 0x00 { 0 } else { get(dst) & mask };
                let taken = match opc {
                    0x00 => true,
                    0x10 => a == b,
                    0x50 => a != b,
                    0x40 => a & b != 0,
                    0x20 => a > b,
                    0x30 => a >= b,
                    _ => panic!("jump op {opc:#x}"),
                };
                if taken {
                    assert!(i.off >= 0, "backward jump at {}", pc - 1);
                    pc += i.off as usize;
                }
            }
            _ => panic!("instruction class {class:#x}"),
        }
        assert!(pc < prog.len(), "ran off the end of the program");
    }
    panic!("no exit");
}

/// Every instruction reachable, every jump forward and in range, and the
/// last instruction an exit (so no path runs off the end).
fn check_shape(prog: &[Insn]) {
    assert!(prog.len() < 4096, "{} instructions", prog.len());
    assert_eq!(prog.last().map(|i| i.code), Some(0x95));
    let mut reached = vec![false; prog.len()];
    reached[0] = true;
    for pc in 0..prog.len() {
        if !reached[pc] {
            panic!("unreachable instruction {pc}: {:?}", prog[pc]);
        }
        let i = prog[pc];
        let jump = matches!(i.code & 0x07, 0x05 | 0x06) && i.code != 0x95;
        if jump {
            assert!(i.off >= 0);
            let to = pc + 1 + i.off as usize;
            assert!(to < prog.len(), "jump past the end at {pc}");
            reached[to] = true;
        }
        let falls = i.code != 0x95 && i.code != 0x05;
        if falls && pc + 1 < prog.len() {
            reached[pc + 1] = true;
        }
    }
}

/// Interesting numbers: small ones, the ones rules use, and the u32 edges.
const NUMBERS: &[u32] = &[
    0,
    1,
    2,
    3,
    5,
    7,
    8,
    9,
    10,
    136,
    200,
    0x7fff_ffff,
    0x8000_0001,
    u32::MAX,
];

fn agree(rules: &[Norm], numbers: &[u32]) -> usize {
    let prog = program(rules).unwrap();
    check_shape(&prog);
    let mut checked = 0;
    for ty in [DEV_CHAR, DEV_BLOCK] {
        for &major in numbers {
            for &minor in numbers {
                for access in 1..=ACC_ALL {
                    let want = decide(rules, ty, major, minor, access);
                    let got = run(&prog, ty, major, minor, access) == 1;
                    assert_eq!(
                        got, want,
                        "type {ty} {major}:{minor} access {access:#b} rules {rules:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    checked
}

#[test]
fn standard_program_matches_reference() {
    let r = normalize(&rules(&[], &[])).unwrap();
    assert!(agree(&r, NUMBERS) > 2000);
}

#[test]
fn standard_program_instruction_count() {
    // preamble 6; c *:* m and b *:* m 3 each; eight "c M:m rwm" at 4 and
    // "c 136:* rwm" at 3; the leading deny-all ends the program; two exits.
    let r = normalize(&rules(&[], &[])).unwrap();
    assert_eq!(program(&r).unwrap().len(), 6 + 3 + 3 + 8 * 4 + 3 + 2 + 2);
}

#[test]
fn instructions_per_rule() {
    let one = |ty, major, minor, access, allow| {
        let rules = [Norm {
            allow,
            ty,
            major,
            minor,
            access,
        }];
        let base = 6 + 2 + if allow { 2 } else { 0 };
        program(&rules).unwrap().len() - base
    };
    assert_eq!(one(Some(DEV_CHAR), Some(1), Some(3), ACC_ALL, true), 4);
    assert_eq!(one(Some(DEV_CHAR), Some(1), Some(3), 2, true), 5);
    assert_eq!(one(Some(DEV_CHAR), Some(1), Some(3), 2, false), 4);
    assert_eq!(one(Some(DEV_CHAR), Some(136), None, ACC_ALL, true), 3);
    assert_eq!(one(None, None, None, 1, true), 2);
    assert_eq!(one(None, None, None, 1, false), 1);
}

#[test]
fn allow_everything_is_one_jump_and_shadows_earlier_rules() {
    let all = |allow| Norm {
        allow,
        ty: None,
        major: None,
        minor: None,
        access: ACC_ALL,
    };
    let c13 = Norm {
        allow: false,
        ty: Some(DEV_CHAR),
        major: Some(1),
        minor: Some(3),
        access: 2,
    };
    let prog = program(&[c13, all(true)]).unwrap();
    check_shape(&prog);
    assert_eq!(prog.len(), 6 + 1 + 2);
    assert_eq!(run(&prog, DEV_CHAR, 1, 3, 2), 1);
    let prog = program(&[all(true), c13]).unwrap();
    assert_eq!(run(&prog, DEV_CHAR, 1, 3, 2), 0);
    assert_eq!(run(&prog, DEV_CHAR, 1, 3, 4), 1);
    let prog = program(&[]).unwrap();
    check_shape(&prog);
    assert_eq!(run(&prog, DEV_BLOCK, 8, 0, 1), 0);
}

#[test]
fn numbers_past_i32_max_match_exactly() {
    let r = Norm {
        allow: true,
        ty: Some(DEV_CHAR),
        major: Some(u32::MAX),
        minor: Some(0x8000_0000),
        access: ACC_ALL,
    };
    let prog = program(&[r]).unwrap();
    assert_eq!(run(&prog, DEV_CHAR, u32::MAX, 0x8000_0000, 2), 1);
    assert_eq!(run(&prog, DEV_CHAR, u32::MAX, 0, 2), 0);
}

#[test]
fn too_many_rules_is_an_error_not_a_bad_jump() {
    let r = Norm {
        allow: true,
        ty: Some(DEV_CHAR),
        major: Some(1),
        minor: Some(1),
        access: 2,
    };
    let err = program(&vec![r; 8000]).unwrap_err();
    assert!(err.contains("too many device rules"), "{err}");
}

/// xorshift64: deterministic randomness without a crate.
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A random rule over a small domain, so that rules collide often.
    pub fn rule(&mut self, numbers: &[u32]) -> Norm {
        let num = |rng: &mut Rng| match rng.below(3) {
            0 => None,
            _ => Some(numbers[rng.below(numbers.len() as u64) as usize]),
        };
        let ty = [None, Some(DEV_CHAR), Some(DEV_BLOCK)][self.below(3) as usize];
        let major = num(self);
        let minor = num(self);
        Norm {
            allow: self.below(2) == 0,
            ty,
            major,
            minor,
            // "rwm" more often than its share: it takes other code paths.
            access: match self.below(3) {
                0 => ACC_ALL,
                _ => self.below(7) as u8 + 1,
            },
        }
    }
}

#[test]
fn random_rule_lists_match_reference() {
    let numbers = [0, 1, 2, 0x8000_0000];
    let probe = [0, 1, 2, 3, 0x8000_0000, u32::MAX];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for _ in 0..600 {
        let n = rng.below(12) as usize;
        let rules: Vec<Norm> = (0..n).map(|_| rng.rule(&numbers)).collect();
        checked += agree(&rules, &probe);
    }
    assert!(checked > 600 * 2 * 36 * 7 - 1);
}
