//! Seccomp argument conditions. Every operator compares full 64-bit
//! registers, so the values differ from their probes in only one 32-bit
//! half (0x1_0000_0005 against 5, 0x2_0000_0000 against 0x1_0000_0005): a
//! runtime that compares only the low half, or gets the high/low ordering
//! wrong, is caught. How conditions combine follows runc: on distinct
//! argument indexes they are ANDed; once an index repeats in an entry, every
//! condition of that entry becomes its own rule (ORed).
//!
//! Every rule is on getppid (which ignores its arguments) and ends in its
//! own errno; every probe either gets one of those errnos or runs. Most
//! cases have one rule; the last two put two rules with different errnos on
//! the same syscall and argument, which is where runc's libseccomp stumbles.

use nix::errno::Errno;
use serde_json::{json, Value};

use super::{allow_but, install, GETPPID};
use crate::cases::Case;
use crate::probe::{Outcome, Probe};

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker("seccomp/arg-op-eq-64-bit", |c| operator(c, "SCMP_CMP_EQ")),
        Case::checker("seccomp/arg-op-ne-64-bit", |c| operator(c, "SCMP_CMP_NE")),
        Case::checker("seccomp/arg-op-lt-64-bit", |c| operator(c, "SCMP_CMP_LT")),
        Case::checker("seccomp/arg-op-le-64-bit", |c| operator(c, "SCMP_CMP_LE")),
        Case::checker("seccomp/arg-op-ge-64-bit", |c| operator(c, "SCMP_CMP_GE")),
        Case::checker("seccomp/arg-op-gt-64-bit", |c| operator(c, "SCMP_CMP_GT")),
        Case::checker("seccomp/arg-op-masked-eq-64-bit", |c| {
            operator(c, "SCMP_CMP_MASKED_EQ")
        }),
        Case::checker("seccomp/arg-distinct-indexes-are-anded", and),
        Case::checker("seccomp/arg-same-index-is-ored", or),
        Case::checker("seccomp/arg-repeated-index-splits-the-entry", repeated),
        Case::checker("seccomp/arg-eq-rules-with-different-errnos", eq_rules),
        Case::checker(
            "seccomp/arg-lt-and-le-rules-with-different-errnos",
            lt_le_rules,
        ),
    ]
}

/// The value every ordering operator compares with.
const V: u64 = 0x1_0000_0005;

/// Operator, value, valueTwo, errno of its rule, and probes of arg0 that
/// match (`true`) or not.
type OpCase = (&'static str, u64, u64, Errno, &'static [(u64, bool)]);

const OPS: &[OpCase] = &[
    (
        "SCMP_CMP_EQ",
        V,
        0,
        Errno::ENOSR,
        &[(V, true), (5, false), (0x2_0000_0005, false)],
    ),
    (
        "SCMP_CMP_NE",
        V,
        0,
        Errno::ENOSTR,
        &[(5, true), (0x2_0000_0005, true), (V, false)],
    ),
    (
        "SCMP_CMP_LT",
        V,
        0,
        Errno::ENODATA,
        &[
            (6, true),
            (0x1_0000_0004, true),
            (V, false),
            (0x2_0000_0000, false),
        ],
    ),
    (
        "SCMP_CMP_LE",
        V,
        0,
        Errno::ETIME,
        &[
            (V, true),
            (0xffff_ffff, true),
            (0x1_0000_0006, false),
            (0x2_0000_0004, false),
        ],
    ),
    (
        "SCMP_CMP_GE",
        V,
        0,
        Errno::ENONET,
        &[
            (V, true),
            (0x2_0000_0000, true),
            (0x1_0000_0004, false),
            (0xffff_ffff, false),
        ],
    ),
    (
        "SCMP_CMP_GT",
        V,
        0,
        Errno::ENOPKG,
        &[
            (0x2_0000_0000, true),
            (0x1_0000_0006, true),
            (V, false),
            (0xffff_ffff, false),
        ],
    ),
    // (arg & value) == valueTwo, with mask bits in both halves.
    (
        "SCMP_CMP_MASKED_EQ",
        0xff00_0000_0000_00f0,
        0x1200_0000_0000_0030,
        Errno::EREMOTE,
        &[
            (0x12ab_cdef_0000_0034, true),
            (0x0000_0000_0000_0030, false),
            (0x1200_0000_0000_0040, false),
        ],
    ),
];

/// Marks the operator's probes in arg5: each rule also requires it, so an
/// operator such as NE cannot match some other getppid call.
const SELECTOR: u64 = 0xbe27_0000_0000_0001;

fn operator(config: &mut Value, name: &str) {
    let Some(&(op, value, value_two, errno, cases)) = OPS.iter().find(|o| o.0 == name) else {
        panic!("no operator {name} in OPS");
    };
    let rule = json!({
        "names": ["getppid"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": errno as i32,
        "args": [
            {"index": 0, "value": value, "valueTwo": value_two, "op": op},
            {"index": 5, "value": SELECTOR, "op": "SCMP_CMP_EQ"}
        ]
    });
    let short = op.trim_start_matches("SCMP_CMP_");
    let mut probes: Vec<Probe> = cases
        .iter()
        .map(|(arg, hit)| {
            let expect = if *hit {
                Outcome::errno(errno)
            } else {
                Outcome::Ok
            };
            let label = format!("{short} {value:#x}: arg0={arg:#x}");
            Probe::syscall(&label, GETPPID, [*arg, 0, 0, 0, 0, SELECTOR], expect)
        })
        .collect();
    // The first probe matches; without the selector it must not.
    let (arg, _) = cases[0];
    probes.push(Probe::syscall(
        &format!("{short}: arg0={arg:#x} without the selector"),
        GETPPID,
        [arg, 0, 0, 0, 0, SELECTOR + 1],
        Outcome::Ok,
    ));
    install(config, allow_but(json!([rule])), &probes);
}

const A: u64 = 0xa000_0000_0000_0001;
const B: u64 = 0xb000_0000_0000_0001;

fn eq(index: u32, value: u64) -> Value {
    json!({"index": index, "value": value, "op": "SCMP_CMP_EQ"})
}

fn rule(errno: Errno, args: Value) -> Value {
    json!({"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno as i32, "args": args})
}

fn p(label: &str, args: [u64; 6], expect: Outcome) -> Probe {
    Probe::syscall(label, GETPPID, args, expect)
}

fn and(config: &mut Value) {
    let hit = Outcome::errno(Errno::ENOLINK);
    install(
        config,
        allow_but(json!([rule(Errno::ENOLINK, json!([eq(0, A), eq(1, B)]))])),
        &[
            p("arg0 and arg1 match", [A, B, 0, 0, 0, 0], hit),
            p("only arg0 matches", [A, 0, 0, 0, 0, 0], Outcome::Ok),
            p("only arg1 matches", [0, B, 0, 0, 0, 0], Outcome::Ok),
        ],
    );
}

fn or(config: &mut Value) {
    let hit = Outcome::errno(Errno::EADV);
    install(
        config,
        allow_but(json!([rule(Errno::EADV, json!([eq(0, A), eq(0, B)]))])),
        &[
            p("arg0 is the first value", [A, 0, 0, 0, 0, 0], hit),
            p("arg0 is the second value", [B, 0, 0, 0, 0, 0], hit),
            p("arg0 is neither", [B + 1, 0, 0, 0, 0, 0], Outcome::Ok),
        ],
    );
}

/// Once an index repeats, runc makes every condition of the entry its own
/// rule, including those on other indexes: arg3 alone is then enough.
fn repeated(config: &mut Value) {
    let hit = Outcome::errno(Errno::ESRMNT);
    let e = 0xe000_0000_0000_0001;
    install(
        config,
        allow_but(json!([rule(
            Errno::ESRMNT,
            json!([eq(2, A), eq(2, B), eq(3, e)])
        )])),
        &[
            p("arg2 is the first value", [0, 0, A, 0, 0, 0], hit),
            p("arg2 is the second value", [0, 0, B, 0, 0, 0], hit),
            p("arg3 alone", [0, 0, 0, e, 0, 0], hit),
            p("nothing matches", [0, 0, B + 1, e + 1, 0, 0], Outcome::Ok),
        ],
    );
}

/// Two entries for one syscall and argument, each with its own errno: the
/// probe gets the errno of the entry its value matches.
fn eq_rules(config: &mut Value) {
    install(
        config,
        allow_but(json!([
            rule(Errno::ENOLINK, json!([eq(0, A)])),
            rule(Errno::EADV, json!([eq(0, B)])),
        ])),
        &[
            p(
                "arg0 is the first rule's",
                [A, 0, 0, 0, 0, 0],
                Outcome::errno(Errno::ENOLINK),
            ),
            p(
                "arg0 is the second rule's",
                [B, 0, 0, 0, 0, 0],
                Outcome::errno(Errno::EADV),
            ),
            p("arg0 is neither", [B + 1, 0, 0, 0, 0, 0], Outcome::Ok),
        ],
    );
}

/// LT and LE against the same value in two entries with their own errnos
/// (told apart by arg5): each must keep its own boundary.
fn lt_le_rules(config: &mut Value) {
    let (lt, le) = (SELECTOR, SELECTOR + 1);
    let cond = |op: &str, sel: u64| json!([{"index": 0, "value": V, "op": op}, {"index": 5, "value": sel, "op": "SCMP_CMP_EQ"}]);
    install(
        config,
        allow_but(json!([
            rule(Errno::ENODATA, cond("SCMP_CMP_LT", lt)),
            rule(Errno::ETIME, cond("SCMP_CMP_LE", le)),
        ])),
        &[
            p(
                "LT: arg0 below",
                [V - 1, 0, 0, 0, 0, lt],
                Outcome::errno(Errno::ENODATA),
            ),
            p("LT: arg0 equal", [V, 0, 0, 0, 0, lt], Outcome::Ok),
            p(
                "LE: arg0 equal",
                [V, 0, 0, 0, 0, le],
                Outcome::errno(Errno::ETIME),
            ),
            p("LE: arg0 above", [V + 1, 0, 0, 0, 0, le], Outcome::Ok),
        ],
    );
}
