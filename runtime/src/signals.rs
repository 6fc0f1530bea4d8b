//! Signal names and numbers as data, parsed the way runc does: a number, or a
//! name with or without the SIG prefix, in any case.

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error)]
#[error("unknown signal {0:?}")]
pub struct UnknownSignal(pub String);

pub fn parse(s: &str) -> Result<i32, UnknownSignal> {
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(UnknownSignal(s.into()))
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Some(rt) = name.strip_prefix("SIGRTMIN") {
        return realtime(libc::SIGRTMIN(), rt, 1).ok_or_else(|| UnknownSignal(s.into()));
    }
    if let Some(rt) = name.strip_prefix("SIGRTMAX") {
        return realtime(libc::SIGRTMAX(), rt, -1).ok_or_else(|| UnknownSignal(s.into()));
    }
    name.parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| UnknownSignal(s.into()))
}

/// SIGRTMIN+n / SIGRTMAX-n.
fn realtime(base: i32, rest: &str, dir: i32) -> Option<i32> {
    if rest.is_empty() {
        return Some(base);
    }
    let (sign, n) = rest.split_at(1);
    let n: i32 = n.parse().ok()?;
    let want = if dir > 0 { "+" } else { "-" };
    (sign == want)
        .then_some(base + dir * n)
        .filter(|s| (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGKILL").unwrap(), 9);
        assert_eq!(parse("term").unwrap(), 15);
        assert_eq!(parse("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse("NOPE").is_err());
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
    }
}
