//! `berth events`: runc's event stream. `--stats` prints one stats event and
//! exits; otherwise a stats event every `--interval` and an `oom` event
//! whenever the kernel OOM-kills in the container, until its init exits.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;
use serde::Serialize;

use crate::cgroups::oom::{Notice, OomWatcher};
use crate::cgroups::{self, stats, stats::Stats};
use crate::cli::extras::Events;
use crate::state::{Container, Status};

use super::Globals;

/// runc's types.Event: `data` is left out of oom events.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

pub fn run(g: &Globals, args: &Events) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, &args.id)?;
    let interval = match parse_go_duration(&args.interval) {
        Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
        Some(_) => bail!("duration interval must be greater than 0"),
        None => bail!(
            "invalid value {:?} for flag -interval: time: invalid duration {:?}",
            args.interval,
            args.interval
        ),
    };
    if c.status() == Status::Stopped {
        bail!("container with id {} is not running", c.state.id);
    }
    let id = c.state.id.as_str();
    let placement = cgroups::open(&c.state.berth.cgroup_paths)?;
    let mut out = std::io::stdout().lock();
    let mut emit = |kind: &str, data: Option<&Stats>| -> anyhow::Result<()> {
        let line = serde_json::to_string(&Event { kind, id, data })?;
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    };
    if args.stats {
        emit("stats", Some(&stats::read(&placement)))?;
        return Ok(0);
    }

    // The stream ends when the init exits: a pidfd turns readable then.
    // Opened before the liveness check, so a reused pid cannot fool it.
    let pidfd = crate::sys::clone::pidfd_open(Pid::from_raw(c.state.pid))
        .with_context(|| format!("pidfd_open {}", c.state.pid))?;
    if c.status() == Status::Stopped {
        return Ok(0);
    }
    let mut oom = OomWatcher::open(&placement)?;
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let (oom_ready, exited) = wait_either(oom.as_ref(), &pidfd, wait)?;
        if oom_ready {
            if let Some(w) = oom.as_mut() {
                match w.drain()? {
                    Notice::Oom => emit("oom", None)?,
                    Notice::Gone => oom = None,
                    Notice::Nothing => {}
                }
            }
        }
        if exited {
            // An OOM kill of the init signals the watcher before the exit:
            // report it even when both woke the same poll.
            if let Some(w) = oom.as_mut() {
                if !oom_ready && w.drain()? == Notice::Oom {
                    emit("oom", None)?;
                }
            }
            return Ok(0);
        }
        let now = Instant::now();
        if now >= next {
            emit("stats", Some(&stats::read(&placement)))?;
            // Like time.Tick: keep the cadence, drop ticks that were missed.
            next += interval;
            if next <= now {
                next = now + interval;
            }
        }
    }
}

/// Waits up to `timeout` for the OOM watcher or the pidfd; returns which
/// of them are readable.
fn wait_either(
    oom: Option<&OomWatcher>,
    pidfd: &impl AsFd,
    timeout: Duration,
) -> anyhow::Result<(bool, bool)> {
    // poll takes at most i32::MAX ms; wake early on long intervals and
    // simply go round again.
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // Round up so a sub-millisecond remainder does not spin.
    let ms = if Duration::from_millis(ms as u64) < timeout {
        ms.saturating_add(1)
    } else {
        ms
    };
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    if let Some(w) = oom {
        fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
    }
    match poll(&mut fds, timeout) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok((false, false)),
        Err(e) => return Err(e).context("poll"),
    }
    let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
    let exited = ready(&fds[0]);
    let oom_ready = fds.get(1).is_some_and(ready);
    Ok((oom_ready, exited))
}

/// Go's time.ParseDuration, in nanoseconds: a signed sequence of decimal
/// numbers, each with a unit (ns, us/µs, ms, s, m, h), like "1m30s" or
/// "1.5h"; a bare "0" is allowed. None for anything else or on overflow.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    const UNITS: &[(&str, u128)] = &[
        ("ns", 1),
        ("us", 1_000),
        ("\u{b5}s", 1_000),
        ("\u{3bc}s", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac = &r[..n];
            rest = &r[n..];
        }
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = UNITS.iter().find(|(u, _)| *u == unit)?.1;
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut value = whole.checked_mul(scale)?;
        if !frac.is_empty() {
            // Digits past 30 cannot change a nanosecond count.
            let frac = &frac[..frac.len().min(30)];
            let digits: u128 = frac.parse().ok()?;
            value += digits * scale / 10u128.pow(frac.len() as u32);
        }
        total = total.checked_add(value)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return None;
        }
    }
    let total = total as i128;
    i64::try_from(if neg { -total } else { total }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let s = 1_000_000_000;
        assert_eq!(parse_go_duration("5s"), Some(5 * s));
        assert_eq!(parse_go_duration("500ms"), Some(s / 2));
        assert_eq!(parse_go_duration("1m30s"), Some(90 * s));
        assert_eq!(parse_go_duration("1.5h"), Some(5400 * s));
        assert_eq!(parse_go_duration(".5s"), Some(s / 2));
        assert_eq!(
            parse_go_duration("1h2m3s4ms5us6ns"),
            Some(3723 * s + 4_005_006)
        );
        assert_eq!(parse_go_duration("10\u{b5}s"), Some(10_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("0s"), Some(0));
        assert_eq!(parse_go_duration("-2s"), Some(-2 * s));
        assert_eq!(parse_go_duration("+2s"), Some(2 * s));
    }

    #[test]
    fn bad_go_durations() {
        for bad in ["", "5", "s", "1x", "1.s.", "-", ".s", "1 s", "5S"] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_go_duration("2562047h"),
            Some(2562047 * 3_600_000_000_000)
        );
        assert_eq!(parse_go_duration("2562048h"), None, "past i64 nanoseconds");
    }

    #[test]
    fn oom_event_has_no_data() {
        let e = Event {
            kind: "oom",
            id: "c1",
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
        let s = Stats::default();
        let e = Event {
            kind: "stats",
            id: "c1",
            data: Some(&s),
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["data"]["pids"], serde_json::json!({}));
    }
}
