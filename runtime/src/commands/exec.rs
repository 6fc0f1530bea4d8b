//! `berth exec`: run one more process in a container. The process comes
//! from `--process FILE` (a runtime-spec Process, as containerd and conmon
//! send) or from the container's own process with the command line's
//! overrides, as runc builds it; [`crate::process::exec`] runs it.

use anyhow::{bail, Context};
use oci_spec::runtime::{Process, Spec};

use crate::cli::extras::Exec;
use crate::process::exec::{exec, ExecOptions};
use crate::state::{Container, Status};

use super::Globals;

pub fn run(g: &Globals, args: &Exec) -> anyhow::Result<i32> {
    if !args.cgroup.is_empty() {
        bail!("exec --cgroup: sub-cgroups for exec are not supported by berth");
    }
    let c = Container::load(&g.root, &args.id)?;
    let status = c.status();
    match status {
        Status::Stopped => bail!("cannot exec in a stopped container"),
        Status::Paused if !args.ignore_paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        _ => {}
    }
    let spec = load_spec(&c)?;
    let process = match &args.process {
        Some(path) => read_process(path)?,
        None => from_args(&spec, args)?,
    };
    if process.terminal().unwrap_or(false) && args.detach && args.console_socket.is_none() {
        bail!("cannot allocate tty if berth will detach without setting console socket");
    }
    if !process.terminal().unwrap_or(false) && args.console_socket.is_some() {
        bail!("cannot use console socket if berth will not detach or allocate tty");
    }
    exec(&ExecOptions {
        root: &g.root,
        container: &c,
        spec: &spec,
        process,
        detach: args.detach,
        pid_file: args.pid_file.as_deref(),
        console_socket: args.console_socket.as_deref(),
        preserve_fds: args.preserve_fds,
        paused: status == Status::Paused,
    })
    .map_err(Into::into)
}

/// The config the container was created with (berth keeps a copy in the
/// state directory; older states fall back to the bundle).
fn load_spec(c: &Container) -> anyhow::Result<Spec> {
    let copy = c.dir.join(crate::state::CONFIG_COPY);
    let path = match copy.exists() {
        true => copy,
        false => c.state.bundle.join("config.json"),
    };
    let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))
}

fn read_process(path: &std::path::Path) -> anyhow::Result<Process> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--process {}", path.display()))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let p: Process = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        anyhow::anyhow!("--process {}: {field}: {}", path.display(), e.into_inner())
    })?;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("--process {}: args: must not be empty", path.display());
    }
    Ok(p)
}

/// The container's process with runc exec's overrides: the command, cwd,
/// extra env, tty, user and groups, added capabilities, no_new_privs and
/// LSM labels.
pub fn from_args(spec: &Spec, a: &Exec) -> anyhow::Result<Process> {
    if a.command.is_empty() {
        bail!("exec: a command is required (or --process FILE)");
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(dedup_env(env)));
    p.set_terminal(Some(a.tty));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let mut user = p.user().clone();
        user.set_uid(
            uid.parse()
                .with_context(|| format!("--user {u}: uid must be a number"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .with_context(|| format!("--user {u}: gid must be a number"))?,
            );
        }
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            // Deserialised as config.json spells it (CAP_ prefix, any case).
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::String(name.to_uppercase()))
                    .map_err(|_| anyhow::anyhow!("--cap {name}: unknown capability"))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            let (b, e, pm) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
            );
            caps.set_bounding(b).set_effective(e).set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(l) = &a.apparmor {
        p.set_apparmor_profile(Some(l.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

/// Later KEY=... entries replace earlier ones, keeping the first position.
fn dedup_env(env: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        let key = e.split('=').next().unwrap_or("").to_string();
        match out.iter_mut().find(|o| o.split('=').next() == Some(&key)) {
            Some(slot) => *slot = e,
            None => out.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_env_entries_win() {
        let e = dedup_env(vec!["A=1".into(), "B=2".into(), "A=3".into()]);
        assert_eq!(e, vec!["A=3".to_string(), "B=2".to_string()]);
    }
}
