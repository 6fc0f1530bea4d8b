//! Syscall numbers by name for the ABIs an x86_64 kernel runs: x86_64, x86
//! (i386) and x32. The data is `syscalls.tsv`, generated from the kernel's
//! uapi headers by scripts/gen-syscalls.sh.

pub(crate) const TABLE: &str = include_str!("syscalls.tsv");

/// A syscall ABI the filter can match (one `AUDIT_ARCH_*` value, plus the
/// x32 bit for x32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Abi {
    X86_64,
    X86,
    X32,
}

/// The x32 ABI shares AUDIT_ARCH_X86_64 and marks its numbers with bit 30.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;

impl Abi {
    pub fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::X86 => AUDIT_ARCH_I386,
        }
    }

    fn column(self) -> usize {
        match self {
            Abi::X86_64 => 1,
            Abi::X86 => 2,
            Abi::X32 => 3,
        }
    }

    /// The number `seccomp_data.nr` holds for `name` on this ABI, if the ABI
    /// has that syscall.
    pub fn number(self, name: &str) -> Option<u32> {
        index(self).get(name).copied()
    }
}

/// Name -> number for every syscall of `abi` (one pass over the table).
pub fn index(abi: Abi) -> std::collections::HashMap<&'static str, u32> {
    TABLE
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?;
            let nr: u32 = f.nth(abi.column() - 1)?.parse().ok()?;
            Some((
                name,
                if abi == Abi::X32 {
                    nr | X32_SYSCALL_BIT
                } else {
                    nr
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_kernel_abis() {
        assert_eq!(Abi::X86_64.number("read"), Some(0));
        assert_eq!(Abi::X86_64.number("openat"), Some(257));
        assert_eq!(Abi::X86.number("openat"), Some(295));
        assert_eq!(Abi::X86.number("socketcall"), Some(102));
        assert_eq!(Abi::X86_64.number("socketcall"), None);
        assert_eq!(Abi::X32.number("rt_sigreturn"), Some(513 | X32_SYSCALL_BIT));
        assert_eq!(Abi::X86_64.number("clone3"), Some(435));
        assert_eq!(Abi::X86.number("cachestat"), Some(451));
        assert_eq!(Abi::X86_64.number("no_such_call"), None);
    }
}
