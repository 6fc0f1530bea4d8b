//! The metadata instructions applied to an image config (ENV, CMD,
//! ENTRYPOINT, WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL,
//! MAINTAINER; HEALTHCHECK, SHELL and ONBUILD kept beside it), and ARG
//! scoping ([`Vars`]). Pure: no filesystem, no store.
//!
//! Expansion follows the Dockerfile reference: ADD, COPY, ENV, EXPOSE,
//! FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG expand their
//! words; RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK do not (the shell
//! in the container does). ENV wins over ARG of the same name.

use std::collections::BTreeMap;

use oci_spec::image::Config;

use super::dockerfile::expand::{self, ExpandError};
use super::dockerfile::{Command, Healthcheck, ShellOrExec};

#[derive(Debug, thiserror::Error)]
pub enum InstructionError {
    #[error("{0}")]
    Expand(#[from] ExpandError),
    #[error("{0}")]
    Invalid(String),
}

/// Variables visible in one stage (or before the first FROM).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// ARGs declared so far in this scope, with their values.
    pub args: BTreeMap<String, String>,
}

impl Vars {
    /// Declares ARGs: the value is the `--build-arg` one when given, else
    /// the default written here, else (inside a stage) the global ARG's.
    pub fn declare(
        &mut self,
        decl: &[(String, Option<String>)],
        build_args: &BTreeMap<String, String>,
        globals: Option<&Vars>,
        env: &[String],
        escape: char,
    ) -> Result<(), InstructionError> {
        for (name, default) in decl {
            let v = match (build_args.get(name), default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(d)) => {
                    let look = self.lookup_fn(env);
                    Some(expand::expand_word(d, escape, &look)?)
                }
                (None, None) => globals.and_then(|g| g.args.get(name).cloned()),
            };
            match v {
                Some(v) => self.args.insert(name.clone(), v),
                // Declared without a value: set (to nothing) only when
                // given; an unset ARG expands to nothing anyway.
                None => self.args.remove(name),
            };
        }
        Ok(())
    }

    /// The expansion lookup: the config's ENV first, then ARGs.
    pub fn lookup_fn<'a>(&'a self, env: &'a [String]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n: &str| {
            env.iter()
                .rev()
                .find_map(|e| e.strip_prefix(n).and_then(|r| r.strip_prefix('=')))
                .map(str::to_string)
                .or_else(|| self.args.get(n).cloned())
        }
    }
}

/// What the image config cannot hold (oci-spec's `Config` lacks docker's
/// extensions): kept per stage for the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extras {
    pub shell: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    pub onbuild: Vec<String>,
    /// Whether CMD was set in this stage (an ENTRYPOINT resets an
    /// inherited CMD only).
    pub cmd_set: bool,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            shell: vec!["/bin/sh".into(), "-c".into()],
            healthcheck: None,
            onbuild: Vec::new(),
            cmd_set: false,
        }
    }
}

/// The argv a shell or exec form means under `shell`.
pub fn argv(form: &ShellOrExec, shell: &[String]) -> Vec<String> {
    match form {
        ShellOrExec::Exec(a) => a.clone(),
        ShellOrExec::Shell(s) => {
            let mut a = shell.to_vec();
            a.push(s.clone());
            a
        }
    }
}

/// Joins `dir` onto the current working dir (absolute result, cleaned).
pub fn join_workdir(cur: Option<&str>, dir: &str) -> String {
    let base = if dir.starts_with('/') {
        String::new()
    } else {
        cur.unwrap_or("/").to_string()
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in base.split('/').chain(dir.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Applies a metadata instruction to `c` (and `x`); `look` expands.
/// Returns false for instructions that are not metadata (FROM, RUN, COPY,
/// ADD, ARG: the executor's).
pub fn apply(
    c: &mut Config,
    x: &mut Extras,
    author: &mut Option<String>,
    cmd: &Command,
    escape: char,
    look: expand::Lookup,
) -> Result<bool, InstructionError> {
    let word = |w: &str| expand::expand_word(w, escape, look);
    match cmd {
        Command::Env(pairs) => {
            let mut env = c.env().clone().unwrap_or_default();
            for (k, v) in pairs {
                let (k, v) = (word(k)?, word(v)?);
                env.retain(|e| e.split_once('=').map_or(e != &k, |(n, _)| n != k));
                env.push(format!("{k}={v}"));
            }
            c.set_env(Some(env));
        }
        Command::Label(pairs) => {
            let mut l = c.labels().clone().unwrap_or_default();
            for (k, v) in pairs {
                l.insert(word(k)?, word(v)?);
            }
            c.set_labels(Some(l));
        }
        Command::Workdir(d) => {
            let d = word(d)?;
            let w = join_workdir(c.working_dir().as_deref(), &d);
            c.set_working_dir(Some(w));
        }
        Command::User(u) => {
            c.set_user(Some(word(u)?));
        }
        Command::StopSignal(s) => {
            c.set_stop_signal(Some(word(s)?));
        }
        Command::Maintainer(m) => *author = Some(m.clone()),
        Command::Cmd(f) => {
            c.set_cmd(Some(argv(f, &x.shell)));
            x.cmd_set = true;
        }
        Command::Entrypoint(f) => {
            c.set_entrypoint(Some(argv(f, &x.shell)));
            if !x.cmd_set {
                c.set_cmd(None);
            }
        }
        Command::Expose(ports) => {
            let mut p = c.exposed_ports().clone().unwrap_or_default();
            for w in ports {
                let w = word(w)?;
                let port = if w.contains('/') {
                    w
                } else {
                    format!("{w}/tcp")
                };
                if !p.contains(&port) {
                    p.push(port);
                }
            }
            p.sort();
            c.set_exposed_ports(Some(p));
        }
        Command::Volume(vols) => {
            let mut v = c.volumes().clone().unwrap_or_default();
            for w in vols {
                let w = word(w)?;
                if w.is_empty() {
                    return Err(InstructionError::Invalid(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                if !v.contains(&w) {
                    v.push(w);
                }
            }
            v.sort();
            c.set_volumes(Some(v));
        }
        Command::Shell(s) => x.shell = s.clone(),
        Command::Healthcheck(h) => x.healthcheck = Some(h.clone()),
        Command::OnBuild(i) => x.onbuild.push(i.text.clone()),
        Command::From { .. }
        | Command::Run { .. }
        | Command::Copy(_)
        | Command::Add(_)
        | Command::Arg(_) => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;

    fn run(df: &str, build_args: &[(&str, &str)]) -> (Config, Extras, Vars) {
        let d = parse("Dockerfile", df).unwrap();
        let ba: BTreeMap<String, String> = build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut globals = Vars::default();
        let mut vars = Vars::default();
        let mut c = Config::default();
        let mut x = Extras::default();
        let mut author = None;
        let mut in_stage = false;
        for i in &d.instructions {
            match &i.cmd {
                Command::Arg(a) if !in_stage => globals.declare(a, &ba, None, &[], '\\').unwrap(),
                Command::Arg(a) => {
                    let env = c.env().clone().unwrap_or_default();
                    vars.declare(a, &ba, Some(&globals), &env, '\\').unwrap()
                }
                Command::From { .. } => in_stage = true,
                cmd => {
                    let env = c.env().clone().unwrap_or_default();
                    let look = vars.lookup_fn(&env);
                    apply(&mut c, &mut x, &mut author, cmd, '\\', &look).unwrap();
                }
            }
        }
        (c, x, vars)
    }

    #[test]
    fn env_expands_with_the_env_before_it() {
        let (c, _, _) = run(
            "FROM s\nENV A=1\nENV A=2 B=${A}x C=\"$A y\"\nENV D=\\$A\n",
            &[],
        );
        assert_eq!(
            c.env().as_deref().unwrap(),
            &["A=2", "B=1x", "C=1 y", "D=$A"]
        );
    }

    #[test]
    fn arg_scoping_global_redeclared_and_build_args() {
        let (c, _, v) = run(
            "ARG G=global\nARG H=h\nFROM s\nENV E1=${G:-unset}\nARG G\nENV E2=$G\nARG L=local\nARG B=default\nENV E3=$L$B\n",
            &[("B", "given")],
        );
        assert_eq!(
            c.env().as_deref().unwrap(),
            &["E1=unset", "E2=global", "E3=localgiven"]
        );
        assert!(!v.args.contains_key("H"));
    }

    #[test]
    fn env_wins_over_arg() {
        let (c, _, _) = run("FROM s\nARG X=arg\nENV X=env\nENV Y=$X\n", &[("X", "ba")]);
        assert_eq!(c.env().as_deref().unwrap(), &["X=env", "Y=env"]);
    }

    #[test]
    fn cmd_entrypoint_shell_and_reset() {
        let (c, x, _) = run("FROM s\nSHELL [\"/bin/ash\", \"-eo\"]\nCMD echo hi\n", &[]);
        assert_eq!(c.cmd().as_deref().unwrap(), &["/bin/ash", "-eo", "echo hi"]);
        assert_eq!(x.shell, ["/bin/ash", "-eo"]);
        let mut c = Config::default();
        c.set_cmd(Some(vec!["inherited".into()]));
        let mut x = Extras::default();
        let d = parse("Dockerfile", "FROM s\nENTRYPOINT [\"/e\"]\n").unwrap();
        apply(
            &mut c,
            &mut x,
            &mut None,
            &d.instructions[1].cmd,
            '\\',
            &|_| None,
        )
        .unwrap();
        assert_eq!(c.cmd(), &None);
        assert_eq!(c.entrypoint().as_deref().unwrap(), &["/e"]);
    }

    #[test]
    fn workdir_user_expose_volume_label_stopsignal() {
        let (c, x, _) = run(
            "FROM s\nENV P=8080 D=data\nWORKDIR /a\nWORKDIR b/../c\nUSER app:$D\nEXPOSE $P 53/udp 80\nVOLUME /$D /x\nLABEL a=1 \"b c\"=\"d e\"\nSTOPSIGNAL SIGINT\nONBUILD RUN echo child\nHEALTHCHECK NONE\n",
            &[],
        );
        assert_eq!(c.working_dir().as_deref(), Some("/a/c"));
        assert_eq!(c.user().as_deref(), Some("app:data"));
        assert_eq!(
            c.exposed_ports().as_deref().unwrap(),
            &["53/udp", "80/tcp", "8080/tcp"]
        );
        assert_eq!(c.volumes().as_deref().unwrap(), &["/data", "/x"]);
        let l = c.labels().as_ref().unwrap();
        assert_eq!(l["a"], "1");
        assert_eq!(l["b c"], "d e");
        assert_eq!(c.stop_signal().as_deref(), Some("SIGINT"));
        assert_eq!(x.onbuild, ["RUN echo child"]);
        assert_eq!(x.healthcheck, Some(Healthcheck::default()));
    }
}
