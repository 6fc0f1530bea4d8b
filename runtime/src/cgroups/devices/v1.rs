//! Rules as a v1 devices cgroup: the kernel keeps a default (allow or deny
//! all) and a list of exceptions, each a (type, major, minor) pattern with
//! access bits. A request is allowed, in deny-by-default mode, when one
//! exception that matches the device holds every requested bit; in
//! allow-by-default mode it is denied when any matching exception holds any
//! requested bit. devices.list shows the exceptions only in deny-by-default
//! mode (allow-by-default prints "a *:* rwm" and hides them).
//!
//! [`target`] finds an exception list with exactly the meaning of a rule
//! list (or says v1 cannot express it: an exception cannot have a hole
//! punched into it); [`transition`] computes the writes that turn the
//! current list into it, without the disruptive "a" reset when the default
//! already matches (runc's emulator approach).

use std::collections::{BTreeMap, BTreeSet};

use super::{allowed_bits, Norm, ACC_ALL, ACC_MKNOD, ACC_READ, ACC_WRITE, DEV_BLOCK, DEV_CHAR};

/// An exception's pattern; None is `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Meta {
    pub ty: u32,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

/// What a v1 devices cgroup enforces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub default_allow: bool,
    pub exceptions: BTreeMap<Meta, u8>,
}

/// One line to write to a devices cgroup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub file: &'static str,
    pub line: String,
}

pub(crate) fn access_str(bits: u8) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

fn line(meta: &Meta, bits: u8) -> String {
    let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
    let ty = if meta.ty == DEV_BLOCK { 'b' } else { 'c' };
    format!(
        "{ty} {}:{} {}",
        num(meta.major),
        num(meta.minor),
        access_str(bits)
    )
}

/// Reads devices.list. An "a" line means allow-by-default, whose deny
/// exceptions the kernel does not show.
pub(crate) fn parse_list(text: &str) -> Result<State, String> {
    let mut state = State::default();
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || format!("unexpected line {l:?}");
        let mut parts = l.split_whitespace();
        let (ty, nums, acc) = match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(n), Some(a)) => (t, n, a),
            _ => return Err(bad()),
        };
        let ty = match ty {
            "a" => {
                state.default_allow = true;
                continue;
            }
            "c" => DEV_CHAR,
            "b" => DEV_BLOCK,
            _ => return Err(bad()),
        };
        let (major, minor) = nums.split_once(':').ok_or_else(bad)?;
        let num = |s: &str| match s {
            "*" => Ok(None),
            s => s.parse::<u32>().map(Some).map_err(|_| bad()),
        };
        let mut bits = 0;
        for c in acc.chars() {
            bits |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => return Err(bad()),
            };
        }
        let meta = Meta {
            ty,
            major: num(major)?,
            minor: num(minor)?,
        };
        *state.exceptions.entry(meta).or_insert(0) |= bits;
    }
    if state.default_allow {
        state.exceptions.clear();
    }
    Ok(state)
}

/// The devices that rules can tell apart: per type, each major named in a
/// rule plus "any other" (the last index), times the same for minors.
struct Grid {
    majors: Vec<u32>,
    minors: Vec<u32>,
    /// Allowed bits per [type index][major index][minor index].
    allowed: [Vec<Vec<u8>>; 2],
}

const TYPES: [u32; 2] = [DEV_CHAR, DEV_BLOCK];

impl Grid {
    fn new(rules: &[Norm]) -> Grid {
        let majors: Vec<u32> = rules
            .iter()
            .filter_map(|r| r.major)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let minors: Vec<u32> = rules
            .iter()
            .filter_map(|r| r.minor)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Any number no rule names stands for all of them.
        let unused = |set: &[u32]| (0..=u32::MAX).find(|n| !set.contains(n)).unwrap_or(0);
        let (other_major, other_minor) = (unused(&majors), unused(&minors));
        let cell = |ty: u32, i: usize, j: usize| {
            let major = majors.get(i).copied().unwrap_or(other_major);
            let minor = minors.get(j).copied().unwrap_or(other_minor);
            allowed_bits(rules, ty, major, minor)
        };
        let table = |ty: u32| {
            (0..=majors.len())
                .map(|i| (0..=minors.len()).map(|j| cell(ty, i, j)).collect())
                .collect()
        };
        let allowed = [table(DEV_CHAR), table(DEV_BLOCK)];
        Grid {
            majors,
            minors,
            allowed,
        }
    }

    /// The patterns covering cell (i, j), narrowest first: a pattern
    /// names only numbers some rule names, so an "other" cell is covered by
    /// wildcards alone.
    fn covering(&self, ty: u32, i: usize, j: usize) -> Vec<Meta> {
        let maj = self.majors.get(i).copied();
        let min = self.minors.get(j).copied();
        let mut out = Vec::with_capacity(4);
        if maj.is_some() && min.is_some() {
            out.push(Meta {
                ty,
                major: maj,
                minor: min,
            });
        }
        if maj.is_some() {
            out.push(Meta {
                ty,
                major: maj,
                minor: None,
            });
        }
        if min.is_some() {
            out.push(Meta {
                ty,
                major: None,
                minor: min,
            });
        }
        out.push(Meta {
            ty,
            major: None,
            minor: None,
        });
        out
    }

    /// Every cell: (type, major index, minor index).
    fn cells(&self) -> impl Iterator<Item = (u32, usize, usize)> + '_ {
        TYPES.into_iter().flat_map(move |ty| {
            (0..=self.majors.len())
                .flat_map(move |i| (0..=self.minors.len()).map(move |j| (ty, i, j)))
        })
    }

    /// The cells a pattern covers.
    fn cells_of(&self, meta: &Meta) -> impl Iterator<Item = (u32, usize, usize)> + '_ {
        let range =
            |n: Option<u32>, all: &[u32]| match n.and_then(|n| all.iter().position(|&x| x == n)) {
                Some(k) => k..k + 1,
                None => 0..all.len() + 1,
            };
        let (is, js) = (
            range(meta.major, &self.majors),
            range(meta.minor, &self.minors),
        );
        let ty = meta.ty;
        is.flat_map(move |i| js.clone().map(move |j| (ty, i, j)))
    }

    fn describe(&self, ty: u32, i: usize, j: usize) -> String {
        let num = |n: Option<&u32>| n.map_or("<other>".to_string(), |n| n.to_string());
        let t = if ty == DEV_BLOCK { 'b' } else { 'c' };
        format!(
            "{t} {}:{}",
            num(self.majors.get(i)),
            num(self.minors.get(j))
        )
    }
}

/// The requests the kernel makes: mknod alone, or open for reading,
/// writing or both. Only these need to come out as the rules say.
const REQUESTS: [u8; 4] = [ACC_MKNOD, ACC_READ, ACC_WRITE, ACC_READ | ACC_WRITE];

/// The exception set for one default. It starts as the largest one: each
/// pattern holds the bits that differ from the default on every device it
/// covers. Then, broadest pattern first, each is cut down to the bits rules
/// with exactly that pattern name (which drops patterns no rule names)
/// wherever that keeps every device it covers right; so the standard list
/// comes out as the same lines runc writes.
fn candidate(grid: &Grid, rules: &[Norm], default_allow: bool) -> State {
    let mut ex: BTreeMap<Meta, u8> = BTreeMap::new();
    for (t, &ty) in TYPES.iter().enumerate() {
        for (i, row) in grid.allowed[t].iter().enumerate() {
            for (j, &allowed) in row.iter().enumerate() {
                let differ = if default_allow {
                    !allowed & ACC_ALL
                } else {
                    allowed
                };
                for meta in grid.covering(ty, i, j) {
                    ex.entry(meta)
                        .and_modify(|b| *b &= differ)
                        .or_insert(differ);
                }
            }
        }
    }
    ex.retain(|_, b| *b != 0);
    let mut state = State {
        default_allow,
        exceptions: ex,
    };
    if mismatch(&state, grid).is_some() {
        return state;
    }
    // BTreeMap order puts `*` (None) first, so broader patterns come first.
    let metas: Vec<(Meta, u8)> = state.exceptions.iter().map(|(m, b)| (*m, *b)).collect();
    for (meta, bits) in metas {
        let declared = rules
            .iter()
            .filter(|r| r.allow != default_allow && r.ty.is_none_or(|t| t == meta.ty))
            .filter(|r| r.major == meta.major && r.minor == meta.minor)
            .fold(0, |acc, r| acc | r.access);
        let trial = bits & declared;
        if trial == bits {
            continue;
        }
        match trial {
            0 => state.exceptions.remove(&meta),
            _ => state.exceptions.insert(meta, trial),
        };
        if !grid
            .cells_of(&meta)
            .all(|(ty, i, j)| cell_ok(&state, grid, ty, i, j))
        {
            state.exceptions.insert(meta, bits);
        }
    }
    state
}

/// The kernel's check of `access` against `state` for cell (i, j).
fn kernel_allows(state: &State, grid: &Grid, ty: u32, i: usize, j: usize, access: u8) -> bool {
    let mut matching = grid
        .covering(ty, i, j)
        .into_iter()
        .filter_map(|m| state.exceptions.get(&m).copied());
    match state.default_allow {
        true => !matching.any(|b| b & access != 0),
        false => matching.any(|b| b & access == access),
    }
}

fn want(grid: &Grid, ty: u32, i: usize, j: usize, access: u8) -> bool {
    let t = usize::from(ty == DEV_BLOCK);
    grid.allowed[t][i][j] & access == access
}

fn cell_ok(state: &State, grid: &Grid, ty: u32, i: usize, j: usize) -> bool {
    REQUESTS
        .iter()
        .all(|&a| kernel_allows(state, grid, ty, i, j, a) == want(grid, ty, i, j, a))
}

/// The first device and request where `state` and the rules disagree.
fn mismatch(state: &State, grid: &Grid) -> Option<String> {
    let (ty, i, j) = grid
        .cells()
        .find(|&(ty, i, j)| !cell_ok(state, grid, ty, i, j))?;
    let access = REQUESTS
        .into_iter()
        .find(|&a| kernel_allows(state, grid, ty, i, j, a) != want(grid, ty, i, j, a))?;
    Some(format!(
        "{} {} must be {}",
        grid.describe(ty, i, j),
        access_str(access),
        if want(grid, ty, i, j, access) {
            "allowed"
        } else {
            "denied"
        }
    ))
}

/// The v1 state with exactly the meaning of `rules`: of the two defaults,
/// the one that works with fewer exceptions (deny-by-default on a tie, as
/// its exceptions can be read back).
pub(crate) fn target(rules: &[Norm]) -> Result<State, String> {
    let grid = Grid::new(rules);
    let deny = candidate(&grid, rules, false);
    let allow = candidate(&grid, rules, true);
    let deny_err = mismatch(&deny, &grid);
    let allow_ok = mismatch(&allow, &grid).is_none();
    match (deny_err, allow_ok) {
        (None, true) if allow.exceptions.len() < deny.exceptions.len() => Ok(allow),
        (None, _) => Ok(deny),
        (Some(_), true) => Ok(allow),
        (Some(example), false) => Err(format!(
            "cgroup v1 cannot express these device rules (a rule cannot punch a hole into a \
             wildcard one): {example}"
        )),
    }
}

/// The writes that turn `current` into `target`: removals first, then
/// additions, each only for bits that change.
pub(crate) fn transition(current: &State, target: &State) -> Vec<Write> {
    // Add to the exceptions through the file of the opposite of the
    // default, take away through the file of the default.
    let (add, remove) = match target.default_allow {
        true => ("devices.deny", "devices.allow"),
        false => ("devices.allow", "devices.deny"),
    };
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    // An allow-by-default cgroup hides its exceptions, so it is always reset.
    let old = if current.default_allow || current.default_allow != target.default_allow {
        out.push(Write {
            file: remove,
            line: "a *:* rwm".into(),
        });
        &empty
    } else {
        &current.exceptions
    };
    for (meta, &bits) in old {
        let dropped = bits & !target.exceptions.get(meta).copied().unwrap_or(0);
        if dropped != 0 {
            out.push(Write {
                file: remove,
                line: line(meta, dropped),
            });
        }
    }
    for (meta, &bits) in &target.exceptions {
        let gained = bits & !old.get(meta).copied().unwrap_or(0);
        if gained != 0 {
            out.push(Write {
                file: add,
                line: line(meta, gained),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ebpf_test_interp::Rng;
    use super::super::{normalize, rules};
    use super::*;

    /// The kernel's devices cgroup (security/device_cgroup.c), written from
    /// its documented behaviour independently of the code under test.
    #[derive(Debug, Clone)]
    struct Kernel {
        default_allow: bool,
        /// (type char, major, minor, bits) in insertion order.
        ex: Vec<(char, Option<u32>, Option<u32>, u8)>,
    }

    impl Kernel {
        fn fresh() -> Kernel {
            Kernel {
                default_allow: true,
                ex: Vec::new(),
            }
        }
        fn write(&mut self, file: &str, line: &str) {
            let allow_file = match file {
                "devices.allow" => true,
                "devices.deny" => false,
                f => panic!("write to {f}"),
            };
            let mut parts = line.split(' ');
            let ty = parts.next().unwrap().chars().next().unwrap();
            if ty == 'a' {
                self.default_allow = allow_file;
                self.ex.clear();
                return;
            }
            let (maj, min) = parts.next().unwrap().split_once(':').unwrap();
            let num = |s: &str| (s != "*").then(|| s.parse::<u32>().unwrap());
            let (maj, min) = (num(maj), num(min));
            let mut bits = 0;
            for c in parts.next().unwrap().chars() {
                bits |= match c {
                    'r' => ACC_READ,
                    'w' => ACC_WRITE,
                    'm' => ACC_MKNOD,
                    _ => panic!("access {c}"),
                };
            }
            let same = |e: &&mut (char, Option<u32>, Option<u32>, u8)| {
                e.0 == ty && e.1 == maj && e.2 == min
            };
            // Adding an exception merges into an identical one; removing
            // clears bits of the identical one only.
            if allow_file != self.default_allow {
                match self.ex.iter_mut().find(same) {
                    Some(e) => e.3 |= bits,
                    None => self.ex.push((ty, maj, min, bits)),
                }
            } else {
                if let Some(e) = self.ex.iter_mut().find(same) {
                    e.3 &= !bits;
                }
                self.ex.retain(|e| e.3 != 0);
            }
        }
        fn list(&self) -> String {
            if self.default_allow {
                return "a *:* rwm\n".into();
            }
            let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
            self.ex
                .iter()
                .map(|e| format!("{} {}:{} {}\n", e.0, num(e.1), num(e.2), access_str(e.3)))
                .collect()
        }
        fn allows(&self, ty: u32, major: u32, minor: u32, access: u8) -> bool {
            let t = if ty == DEV_BLOCK { 'b' } else { 'c' };
            let mut hits = self.ex.iter().filter(|e| {
                e.0 == t && e.1.is_none_or(|m| m == major) && e.2.is_none_or(|m| m == minor)
            });
            match self.default_allow {
                true => !hits.any(|e| e.3 & access != 0),
                false => hits.any(|e| e.3 & access == access),
            }
        }
    }

    fn apply(k: &mut Kernel, rules: &[Norm]) -> Result<Vec<Write>, String> {
        let target = target(rules)?;
        let writes = transition(&parse_list(&k.list()).unwrap(), &target);
        for w in &writes {
            k.write(w.file, &w.line);
        }
        Ok(writes)
    }

    fn assert_enforces(k: &Kernel, rules: &[Norm], numbers: &[u32]) {
        for ty in [DEV_CHAR, DEV_BLOCK] {
            for &major in numbers {
                for &minor in numbers {
                    let allowed = allowed_bits(rules, ty, major, minor);
                    for access in REQUESTS {
                        assert_eq!(
                            k.allows(ty, major, minor, access),
                            allowed & access == access,
                            "type {ty} {major}:{minor} {access:#b}\nrules {rules:?}\nlist {}",
                            k.list()
                        );
                    }
                }
            }
        }
    }

    fn lines(w: &[Write]) -> Vec<String> {
        w.iter().map(|w| format!("{} {}", w.file, w.line)).collect()
    }

    #[test]
    fn standard_rules_on_a_fresh_cgroup() {
        let r = normalize(&rules(&[], &[])).unwrap();
        let mut k = Kernel::fresh();
        let w = apply(&mut k, &r).unwrap();
        assert_eq!(
            lines(&w),
            [
                "devices.deny a *:* rwm",
                "devices.allow b *:* m",
                "devices.allow c *:* m",
                "devices.allow c 1:3 rwm",
                "devices.allow c 1:5 rwm",
                "devices.allow c 1:7 rwm",
                "devices.allow c 1:8 rwm",
                "devices.allow c 1:9 rwm",
                "devices.allow c 5:0 rwm",
                "devices.allow c 5:2 rwm",
                "devices.allow c 10:200 rwm",
                "devices.allow c 136:* rwm",
            ]
        );
        assert_enforces(&k, &r, &[0, 1, 2, 3, 5, 9, 10, 136, 200, 4000]);
        // Applying again changes nothing.
        assert_eq!(apply(&mut k, &r).unwrap(), []);
    }

    #[test]
    fn update_writes_only_the_difference() {
        let mut k = Kernel::fresh();
        let base = normalize(&rules(&[], &[])).unwrap();
        apply(&mut k, &base).unwrap();
        let mut next = base.clone();
        next.retain(|r| r.major != Some(10));
        next.push(Norm {
            allow: true,
            ty: Some(DEV_BLOCK),
            major: Some(8),
            minor: Some(0),
            access: ACC_READ,
        });
        let w = apply(&mut k, &next).unwrap();
        assert_eq!(
            lines(&w),
            ["devices.deny c 10:200 rwm", "devices.allow b 8:0 r"]
        );
        assert_enforces(&k, &next, &[0, 1, 3, 8, 10, 200]);
    }

    #[test]
    fn allow_all_then_deny_uses_allow_by_default() {
        let all = Norm {
            allow: true,
            ty: None,
            major: None,
            minor: None,
            access: ACC_ALL,
        };
        let deny = Norm {
            allow: false,
            ty: Some(DEV_CHAR),
            major: Some(1),
            minor: Some(3),
            access: ACC_WRITE,
        };
        let mut k = Kernel::fresh();
        let w = apply(&mut k, &[all, deny]).unwrap();
        assert_eq!(
            lines(&w),
            ["devices.allow a *:* rwm", "devices.deny c 1:3 w"]
        );
        assert_enforces(&k, &[all, deny], &[0, 1, 3]);
    }

    #[test]
    fn read_and_write_from_different_rules_get_one_exception() {
        // v1 allows a request only if one exception holds all its bits.
        let rules = [
            Norm {
                allow: true,
                ty: Some(DEV_CHAR),
                major: Some(1),
                minor: None,
                access: ACC_READ,
            },
            Norm {
                allow: true,
                ty: Some(DEV_CHAR),
                major: None,
                minor: Some(3),
                access: ACC_WRITE,
            },
        ];
        let mut k = Kernel::fresh();
        apply(&mut k, &rules).unwrap();
        assert!(k.allows(DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE));
        assert_enforces(&k, &rules, &[0, 1, 3]);
    }

    #[test]
    fn hole_in_a_wildcard_is_refused() {
        let rules = [
            Norm {
                allow: true,
                ty: Some(DEV_CHAR),
                major: Some(1),
                minor: None,
                access: ACC_ALL,
            },
            Norm {
                allow: false,
                ty: Some(DEV_CHAR),
                major: Some(1),
                minor: Some(3),
                access: ACC_READ,
            },
        ];
        let err = target(&rules).unwrap_err();
        assert!(err.contains("cannot express"), "{err}");
        assert!(err.contains("c 1:<other> r must be allowed"), "{err}");
    }

    #[test]
    fn devices_list_parsing() {
        let s = parse_list("c 1:3 rwm\nc 1:3 m\nb *:* m\nc 136:* rw\n").unwrap();
        assert!(!s.default_allow);
        assert_eq!(s.exceptions.len(), 3);
        assert!(parse_list("a *:* rwm\n").unwrap().default_allow);
        assert!(parse_list("x 1:2 r\n").is_err());
        assert!(parse_list("c 1:2 q\n").is_err());
    }

    #[test]
    fn random_rule_lists_on_random_cgroups() {
        let numbers = [1, 2, 3];
        let probe = [0, 1, 2, 3, 4];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut ok, mut refused) = (0, 0);
        let mut k = Kernel::fresh();
        for round in 0..1500 {
            if round % 7 == 0 {
                k = Kernel::fresh();
            }
            let mut rules = vec![Norm {
                allow: false,
                ty: None,
                major: None,
                minor: None,
                access: ACC_ALL,
            }];
            if rng.below(4) == 0 {
                rules[0].allow = true;
            }
            let n = rng.below(8) as usize;
            rules.extend((0..n).map(|_| rng.rule(&numbers)));
            let before = k.clone();
            match apply(&mut k, &rules) {
                Ok(_) => {
                    ok += 1;
                    assert_enforces(&k, &rules, &probe);
                    if !k.default_allow {
                        assert_eq!(apply(&mut k, &rules).unwrap(), [], "{rules:?}");
                    }
                }
                Err(_) => {
                    refused += 1;
                    assert_eq!(k.list(), before.list(), "a refused list writes nothing");
                }
            }
        }
        assert!(ok > 700 && refused > 20, "ok {ok} refused {refused}");
    }
}
