//! `berth update`: change a running container's resources, from runc's
//! flags or a LinuxResources JSON (`--resources FILE|-`, what containerd and
//! CRI-O send). The request is merged into what was applied before, the
//! merge is applied and stored, so later updates change only what they name.

use std::io::Read;

use anyhow::{bail, Context};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::extras::Update;
use crate::state::{Container, Status};

use super::Globals;

pub fn run(g: &Globals, args: &Update) -> anyhow::Result<i32> {
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        bail!("Intel RDT is not supported by berth (--l3-cache-schema, --mem-bw-schema)");
    }
    let request = match &args.resources {
        Some(src) => read_resources(src)?,
        None => from_flags(args)?,
    };
    let mut c = Container::load_locked(&g.root, &args.id)?;
    if c.status() == Status::Stopped {
        bail!("container not running");
    }
    let base = c.state.berth.resources.clone().unwrap_or_default();
    let merged = crate::cgroups::resources::merge(&base, &request);
    let placement = crate::cgroups::open(&c.state.berth.cgroup_paths)?;
    crate::cgroups::apply(&placement, &merged, None)?;
    c.state.berth.resources = Some(merged);
    c.save()?;
    Ok(0)
}

/// A LinuxResources JSON from a file or standard input; errors name the
/// JSON path of the bad field.
fn read_resources(src: &str) -> anyhow::Result<LinuxResources> {
    let mut text = String::new();
    if src == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("--resources -: read standard input")?;
    } else {
        text = std::fs::read_to_string(src).with_context(|| format!("--resources {src}"))?;
    }
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("--resources {src}: {path}: {}", e.into_inner())
    })
}

fn from_flags(a: &Update) -> anyhow::Result<LinuxResources> {
    let mut r = LinuxResources::default();
    let mut mem = LinuxMemory::default();
    let mut any_mem = false;
    for (flag, val, set) in [
        (
            "--memory",
            &a.memory,
            LinuxMemory::set_limit as fn(&mut LinuxMemory, Option<i64>) -> &mut LinuxMemory,
        ),
        (
            "--memory-reservation",
            &a.memory_reservation,
            LinuxMemory::set_reservation,
        ),
        ("--memory-swap", &a.memory_swap, LinuxMemory::set_swap),
        ("--kernel-memory", &a.kernel_memory, LinuxMemory::set_kernel),
        (
            "--kernel-memory-tcp",
            &a.kernel_memory_tcp,
            LinuxMemory::set_kernel_tcp,
        ),
    ] {
        if let Some(v) = val {
            set(
                &mut mem,
                Some(memory_bytes(v).with_context(|| format!("invalid value for {flag}"))?),
            );
            any_mem = true;
        }
    }
    if any_mem {
        r.set_memory(Some(mem));
    }
    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    macro_rules! num {
        ($field:ident, $flag:literal, $set:ident) => {
            if let Some(v) = &a.$field {
                cpu.$set(Some(v.trim().parse().with_context(|| {
                    format!("invalid value for {}: {:?}", $flag, v)
                })?));
                any_cpu = true;
            }
        };
    }
    num!(cpu_share, "--cpu-share", set_shares);
    num!(cpu_period, "--cpu-period", set_period);
    num!(cpu_quota, "--cpu-quota", set_quota);
    num!(cpu_burst, "--cpu-burst", set_burst);
    num!(cpu_rt_period, "--cpu-rt-period", set_realtime_period);
    num!(cpu_rt_runtime, "--cpu-rt-runtime", set_realtime_runtime);
    num!(cpu_idle, "--cpu-idle", set_idle);
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        any_cpu = true;
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        any_cpu = true;
    }
    if any_cpu {
        r.set_cpu(Some(cpu));
    }
    if let Some(v) = &a.pids_limit {
        let limit: i64 = v
            .trim()
            .parse()
            .with_context(|| format!("invalid value for --pids-limit: {v:?}"))?;
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

/// A memory size as runc's update takes it (docker's RAMInBytes): bytes, or
/// a number with a binary unit k, m, g, t, p (optionally followed by `i`
/// and/or `b`, any case); `-1` means unlimited.
pub fn memory_bytes(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_end);
    let value: f64 = num
        .parse()
        .ok()
        .filter(|_| !num.is_empty() && !num.starts_with('.'))
        .with_context(|| format!("invalid size: {s:?}"))?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => bail!("invalid size: {s:?}"),
    };
    Ok((value * (1u64 << shift) as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_as_runc() {
        assert_eq!(memory_bytes("1024").unwrap(), 1024);
        assert_eq!(memory_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(memory_bytes("64MB").unwrap(), 64 << 20);
        assert_eq!(memory_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(memory_bytes("1.5k").unwrap(), 1536);
        assert_eq!(memory_bytes("-1").unwrap(), -1);
        assert!(memory_bytes("12x").is_err());
        assert!(memory_bytes("m").is_err());
        assert!(memory_bytes("-2").is_err());
    }

    fn update(args: &[&str]) -> Update {
        use clap::Parser;
        let mut argv = vec!["berth", "update"];
        argv.extend_from_slice(args);
        argv.push("id");
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            Some(crate::cli::Command::Update(u)) => *u,
            _ => panic!("not update"),
        }
    }

    #[test]
    fn flags_set_only_what_they_name() {
        let r = from_flags(&update(&[
            "--memory",
            "64m",
            "--memory-swap",
            "-1",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "5",
        ]))
        .unwrap();
        let m = r.memory().unwrap();
        assert_eq!(
            (m.limit(), m.swap(), m.reservation()),
            (Some(64 << 20), Some(-1), None)
        );
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(-1));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), None);
        assert_eq!(r.pids().as_ref().unwrap().limit(), 5);
        assert!(r.block_io().is_none());
        let r = from_flags(&update(&["--cpuset-cpus", "0-1", "--blkio-weight", "300"])).unwrap();
        assert_eq!(r.cpu().as_ref().unwrap().cpus().as_deref(), Some("0-1"));
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        assert!(r.memory().is_none());
        let e = from_flags(&update(&["--cpu-share", "lots"])).unwrap_err();
        assert!(e.to_string().contains("--cpu-share"), "{e}");
    }
}
