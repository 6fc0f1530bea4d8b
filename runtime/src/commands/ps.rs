//! `berth ps`: the container's processes, as a JSON array of pids or as
//! ps(1)'s own table filtered to them (options after `--`, default `-ef`),
//! the way runc prints it.

use std::process::Command;

use anyhow::{bail, Context};

use crate::cli::extras::{Ps, PsFormat};
use crate::state::Container;

use super::Globals;

pub fn run(g: &Globals, args: &Ps) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, &args.id)?;
    let pids = crate::cgroups::pids(&c.state.berth.cgroup_paths)?;
    if args.format == PsFormat::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let ps_args: Vec<&str> = match args.ps_args.is_empty() {
        true => vec!["-ef"],
        false => args.ps_args.iter().map(String::as_str).collect(),
    };
    let out = Command::new("ps")
        .args(&ps_args)
        .output()
        .context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    print!("{}", filter(&String::from_utf8_lossy(&out.stdout), &pids)?);
    Ok(0)
}

/// ps(1)'s header plus the lines whose PID column is one of `pids`.
pub fn filter(table: &str, pids: &[i32]) -> anyhow::Result<String> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or("");
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("couldn't find PID field in ps output");
    };
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_pids_only() {
        let t = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sh\nroot 421 42 0 10:00 ? 00:00:00 sleep\n";
        assert_eq!(
            filter(t, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sh\n"
        );
        assert!(filter("USER COMMAND\n", &[1]).is_err());
    }
}
