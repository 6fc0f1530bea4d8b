//! The v1-to-v2 value conversions runc applies (libcontainer/cgroups
//! utils.go), as total functions: range checks are the caller's, so these
//! never panic on out-of-range input.

/// cpu.shares [2, 262144] to cpu.weight [1, 10000], linearly, as runc up to
/// 1.3.1 does: `1 + ((shares - 2) * 9999) / 262142`; 1024 becomes 39.
/// 0 stays 0 ("not set"); values below 2 map as 2 does.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    // u128: shares is only range-checked by the caller, and the product
    // must not wrap for it to stay monotonic.
    let w = 1 + (u128::from(shares.saturating_sub(2)) * 9999) / 262_142;
    u64::try_from(w).unwrap_or(u64::MAX)
}

/// blkio.weight [10, 1000] to io.weight [1, 10000], linearly:
/// `1 + (weight - 10) * 9999 / 990`. 0 stays 0; values below 10 map as 10.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + u64::from(weight.saturating_sub(10)) * 9999 / 990
}

/// The spec's swap (memory + swap, the v1 memsw meaning) to memory.swap.max
/// (swap alone), with runc's rules: -1 is "max" and 0 "not set" as they
/// are; unlimited memory with swap unset means unlimited swap; otherwise
/// the memory limit is subtracted, which needs a memory limit no larger
/// than the swap value.
pub fn memory_swap_to_v2(swap: i64, memory: i64) -> Result<i64, String> {
    match (swap, memory) {
        (0, -1) => Ok(-1),
        (-1 | 0, _) => Ok(swap),
        (_, -1) => Ok(swap),
        (_, 0) => Err("unable to set swap limit without memory limit".into()),
        (_, m) if m < 0 => Err(format!("invalid memory value: {m}")),
        (s, m) if s < m => Err("memory+swap limit should be >= memory limit".into()),
        (s, m) => Ok(s - m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_linearly_like_runc() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(1), 1);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(3), 1);
        assert_eq!(cpu_shares_to_weight(28), 1);
        assert_eq!(cpu_shares_to_weight(29), 2);
        assert_eq!(cpu_shares_to_weight(100), 4);
        assert_eq!(cpu_shares_to_weight(512), 20);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(2048), 79);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(262_145), 10_000);
        assert!(cpu_shares_to_weight(u64::MAX) > 10_000);
    }

    #[test]
    fn blkio_weight_converts_linearly_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(1), 1);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(100), 910);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(u16::MAX), 661_803);
    }

    #[test]
    fn swap_conversion_follows_runc_rules() {
        assert_eq!(memory_swap_to_v2(0, -1), Ok(-1));
        assert_eq!(memory_swap_to_v2(0, 0), Ok(0));
        assert_eq!(memory_swap_to_v2(0, 100), Ok(0));
        assert_eq!(memory_swap_to_v2(-1, 100), Ok(-1));
        assert_eq!(memory_swap_to_v2(-1, 0), Ok(-1));
        assert_eq!(memory_swap_to_v2(300, -1), Ok(300));
        assert_eq!(memory_swap_to_v2(300, 100), Ok(200));
        assert_eq!(memory_swap_to_v2(100, 100), Ok(0));
        assert_eq!(
            memory_swap_to_v2(300, 0),
            Err("unable to set swap limit without memory limit".into())
        );
        assert_eq!(
            memory_swap_to_v2(300, -5),
            Err("invalid memory value: -5".into())
        );
        assert_eq!(
            memory_swap_to_v2(50, 100),
            Err("memory+swap limit should be >= memory limit".into())
        );
    }
}
