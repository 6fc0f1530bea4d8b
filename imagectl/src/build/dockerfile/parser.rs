//! Logical lines ([`super::lexer`]) to [`Instruction`]s: the keyword,
//! `--flags`, JSON (exec) or shell form, key=value lists. Which flags an
//! instruction takes is a table ([`FLAGS`]).

use super::expand::split_words;
use super::lexer::{self, Line};
use super::{
    Command, CopyArgs, Dockerfile, Healthcheck, Instruction, ParseError, Pos, ShellOrExec,
};

/// The flags each instruction accepts.
const FLAGS: &[(&str, &[&str])] = &[
    ("FROM", &["platform"]),
    ("RUN", &["mount", "network", "security"]),
    (
        "COPY",
        &["from", "chown", "chmod", "link", "parents", "exclude"],
    ),
    (
        "ADD",
        &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
    ),
    (
        "HEALTHCHECK",
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    ),
];

/// Parses a whole Dockerfile; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, ParseError> {
    let err = |pos: Pos, msg: String| ParseError {
        file: file.to_string(),
        pos,
        msg,
    };
    let lexed = lexer::lex(text).map_err(|(p, m)| err(p, m))?;
    let mut instructions = Vec::new();
    for l in &lexed.lines {
        instructions.push(instruction(l, lexed.escape, false).map_err(|(p, m)| err(p, m))?);
    }
    if let Some(first) = instructions
        .iter()
        .find(|i| !matches!(i.cmd, Command::Arg(_)))
    {
        if !matches!(first.cmd, Command::From { .. }) {
            return Err(err(
                first.pos,
                format!(
                    "{} before the first FROM (only ARG may come before it)",
                    first.cmd.keyword()
                ),
            ));
        }
    } else {
        return Err(err(Pos { line: 1, col: 1 }, "no FROM instruction".into()));
    }
    Ok(Dockerfile {
        escape: lexed.escape,
        syntax: lexed.syntax,
        instructions,
    })
}

type PResult<T> = Result<T, (Pos, String)>;

fn instruction(l: &Line, escape: char, in_onbuild: bool) -> PResult<Instruction> {
    let kw = l.keyword.to_ascii_uppercase();
    let text = format!("{kw} {}", l.args).trim_end().to_string();
    let at = l.args_pos;
    let (flags, rest) = match FLAGS.iter().find(|(k, _)| *k == kw) {
        Some((_, allowed)) => take_flags(&l.args, at, &kw, allowed)?,
        None => (Vec::new(), l.args.as_str()),
    };
    let flag = |n: &str| flags.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let need = |what: &str| -> PResult<()> {
        if rest.trim().is_empty() {
            Err((at, format!("{kw} requires {what}")))
        } else {
            Ok(())
        }
    };
    let cmd = match kw.as_str() {
        "FROM" => {
            let w = split_words(rest, escape);
            let alias = match w.len() {
                1 => None,
                3 if w[1].eq_ignore_ascii_case("AS") => Some(w[2].to_ascii_lowercase()),
                _ => {
                    return Err((
                        at,
                        "FROM requires either one or three arguments (IMAGE [AS NAME])".into(),
                    ))
                }
            };
            Command::From {
                image: w[0].clone(),
                alias,
                platform: flag("platform"),
            }
        }
        "RUN" => {
            need("at least one argument")?;
            let cmd = match (json_array(rest), l.heredocs.as_slice()) {
                (Some(a), _) => ShellOrExec::Exec(a),
                // A lone heredoc is the script itself.
                (None, [h]) if is_lone_marker(rest) => ShellOrExec::Shell(h.body.clone()),
                (None, []) => ShellOrExec::Shell(rest.to_string()),
                // Otherwise the shell reads the heredocs: hand it the
                // whole text, bodies and terminators included.
                (None, hs) => {
                    let mut s = format!("{rest}\n");
                    for h in hs {
                        s.push_str(&h.body);
                        s.push_str(&h.name);
                        s.push('\n');
                    }
                    ShellOrExec::Shell(s)
                }
            };
            Command::Run {
                cmd,
                heredocs: l.heredocs.clone(),
                flags,
            }
        }
        "COPY" | "ADD" => {
            let mut words = match json_array(rest) {
                Some(a) => a,
                None => split_words(rest, escape),
            };
            if words.len() < 2 {
                return Err((
                    at,
                    format!("{kw} requires at least two arguments (SRC... DEST)"),
                ));
            }
            let dest = words.pop().unwrap_or_default();
            let a = CopyArgs {
                from: flag("from"),
                chown: flag("chown"),
                chmod: flag("chmod"),
                link: flag("link").is_some_and(|v| v != "false"),
                checksum: flag("checksum"),
                srcs: words,
                dest,
                heredocs: l.heredocs.clone(),
            };
            if kw == "COPY" {
                Command::Copy(a)
            } else {
                Command::Add(a)
            }
        }
        "ENV" => {
            need("at least one argument")?;
            Command::Env(name_values(&kw, rest, at, escape)?)
        }
        "LABEL" => {
            need("at least one argument")?;
            Command::Label(name_values(&kw, rest, at, escape)?)
        }
        "ARG" => {
            need("at least one argument")?;
            let mut out = Vec::new();
            for w in split_words(rest, escape) {
                match w.split_once('=') {
                    Some(("", _)) => return Err((at, "ARG names can not be blank".into())),
                    Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                    None => out.push((w, None)),
                }
            }
            Command::Arg(out)
        }
        "WORKDIR" => {
            need("exactly one argument")?;
            Command::Workdir(rest.trim().to_string())
        }
        "USER" => {
            need("exactly one argument")?;
            Command::User(rest.trim().to_string())
        }
        "STOPSIGNAL" => {
            need("exactly one argument")?;
            Command::StopSignal(rest.trim().to_string())
        }
        "MAINTAINER" => {
            need("exactly one argument")?;
            Command::Maintainer(rest.trim().to_string())
        }
        "CMD" => {
            need("at least one argument")?;
            Command::Cmd(shell_or_exec(rest))
        }
        "ENTRYPOINT" => {
            need("at least one argument")?;
            Command::Entrypoint(shell_or_exec(rest))
        }
        "EXPOSE" => {
            need("at least one argument")?;
            Command::Expose(split_words(rest, escape))
        }
        "VOLUME" => {
            need("at least one argument")?;
            Command::Volume(json_array(rest).unwrap_or_else(|| split_words(rest, escape)))
        }
        "SHELL" => match json_array(rest) {
            Some(a) if !a.is_empty() => Command::Shell(a),
            _ => return Err((at, "SHELL requires the arguments to be in JSON form".into())),
        },
        "HEALTHCHECK" => {
            need("at least one argument")?;
            let t = rest.trim();
            let (word, after) = t.split_at(t.find(char::is_whitespace).unwrap_or(t.len()));
            let test = match word.to_ascii_uppercase().as_str() {
                "NONE" if after.trim().is_empty() => None,
                "NONE" => return Err((at, "HEALTHCHECK NONE takes no other arguments".into())),
                "CMD" if !after.trim().is_empty() => Some(shell_or_exec(after.trim())),
                _ => return Err((at, "HEALTHCHECK requires NONE or CMD COMMAND".into())),
            };
            let retries = match flag("retries") {
                None => None,
                Some(r) => Some(
                    r.parse()
                        .map_err(|_| (at, format!("HEALTHCHECK --retries={r}: not a number")))?,
                ),
            };
            Command::Healthcheck(Healthcheck {
                test,
                interval: flag("interval"),
                timeout: flag("timeout"),
                start_period: flag("start-period"),
                start_interval: flag("start-interval"),
                retries,
            })
        }
        "ONBUILD" => {
            if in_onbuild {
                return Err((l.pos, "ONBUILD ONBUILD is not allowed".into()));
            }
            need("at least one argument")?;
            let t = rest.trim_start();
            let kw_len = t.find(char::is_whitespace).unwrap_or(t.len());
            let after = t[kw_len..].trim_start();
            let inner = Line {
                pos: at,
                keyword: t[..kw_len].to_string(),
                args_pos: Pos {
                    line: at.line,
                    col: at.col + (t.len() - after.len()),
                },
                args: after.to_string(),
                heredocs: l.heredocs.clone(),
            };
            let i = instruction(&inner, escape, true)?;
            if matches!(i.cmd, Command::From { .. } | Command::Maintainer(_)) {
                return Err((
                    at,
                    format!("{} is not allowed as an ONBUILD trigger", i.cmd.keyword()),
                ));
            }
            Command::OnBuild(Box::new(i))
        }
        _ => return Err((l.pos, format!("unknown instruction {:?}", l.keyword))),
    };
    Ok(Instruction {
        pos: l.pos,
        text,
        cmd,
    })
}

/// Leading `--name=value` / `--name` words; the rest of the line.
fn take_flags<'a>(
    args: &'a str,
    at: Pos,
    kw: &str,
    allowed: &[&str],
) -> PResult<(Vec<(String, String)>, &'a str)> {
    let mut out = Vec::new();
    let mut rest = args;
    loop {
        let t = rest.trim_start();
        if !t.starts_with("--") {
            return Ok((out, t));
        }
        let col = at.col + (args.len() - t.len());
        let end = t.find(char::is_whitespace).unwrap_or(t.len());
        let word = &t[2..end];
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, v.to_string()),
            None => (word, "true".to_string()),
        };
        let pos = Pos { line: at.line, col };
        if !allowed.contains(&name) {
            return Err((pos, format!("unknown flag: --{name} (for {kw})")));
        }
        if out.iter().any(|(n, _)| n == name) && name != "mount" && name != "exclude" {
            return Err((pos, format!("duplicate flag: --{name}")));
        }
        out.push((name.to_string(), value));
        rest = &t[end..];
    }
}

fn is_lone_marker(rest: &str) -> bool {
    let t = rest.trim();
    t.starts_with("<<") && !t.contains(char::is_whitespace)
}

fn json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str(t).ok()
}

fn shell_or_exec(s: &str) -> ShellOrExec {
    match json_array(s) {
        Some(a) => ShellOrExec::Exec(a),
        None => ShellOrExec::Shell(s.trim().to_string()),
    }
}

/// `K=V K2=V2` or the legacy `K V...`; values as written (unexpanded).
fn name_values(kw: &str, rest: &str, at: Pos, escape: char) -> PResult<Vec<(String, String)>> {
    let words = split_words(rest, escape);
    if words.first().is_some_and(|w| !w.contains('=')) {
        let t = rest.trim();
        let (k, v) = t.split_at(t.find(char::is_whitespace).unwrap_or(t.len()));
        if v.trim().is_empty() {
            return Err((at, format!("{kw} must have two arguments")));
        }
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some(("", _)) => return Err((at, format!("{kw} names can not be blank"))),
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => {
                return Err((
                    at,
                    format!(
                        "syntax error - can't find = in {w:?}. Must be of the form: name=value"
                    ),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Dockerfile {
        parse("Dockerfile", t).unwrap()
    }

    fn e(t: &str) -> String {
        parse("Dockerfile", t).unwrap_err().to_string()
    }

    fn cmds(t: &str) -> Vec<Command> {
        p(t).instructions.into_iter().map(|i| i.cmd).collect()
    }

    #[test]
    fn unknown_instruction_names_line_and_column() {
        assert_eq!(
            e("FROM x\n\n    RUNN echo\n"),
            "Dockerfile:3:5: unknown instruction \"RUNN\""
        );
        assert_eq!(
            e("FROM x\nCOPY --form=a b c\n"),
            "Dockerfile:2:6: unknown flag: --form (for COPY)"
        );
        assert_eq!(
            e("RUN x\n"),
            "Dockerfile:1:1: RUN before the first FROM (only ARG may come before it)"
        );
        assert_eq!(
            e("FROM a b\n"),
            "Dockerfile:1:6: FROM requires either one or three arguments (IMAGE [AS NAME])"
        );
        assert_eq!(
            e("FROM a\nSHELL sh -c\n"),
            "Dockerfile:2:7: SHELL requires the arguments to be in JSON form"
        );
        assert_eq!(
            e("FROM a\nENV\n"),
            "Dockerfile:2:4: ENV requires at least one argument"
        );
        assert_eq!(
            e("FROM a\nONBUILD ONBUILD RUN x\n"),
            "Dockerfile:2:9: ONBUILD ONBUILD is not allowed"
        );
        assert!(e("FROM a\nENV A=1 B\n").contains("can't find = in \"B\""));
        assert!(e("").contains("no FROM"));
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            cmds("ARG V=1\nFROM --platform=linux/amd64 img:${V} As Build\n")[1],
            Command::From {
                image: "img:${V}".into(),
                alias: Some("build".into()),
                platform: Some("linux/amd64".into())
            }
        );
    }

    #[test]
    fn json_and_shell_forms() {
        let c = cmds("FROM a\nCMD [\"a\", \"b c\"]\nCMD echo hi\nENTRYPOINT [not json\nRUN [\"x\"]\nSHELL [\"/bin/bash\", \"-c\"]\n");
        assert_eq!(
            c[1],
            Command::Cmd(ShellOrExec::Exec(vec!["a".into(), "b c".into()]))
        );
        assert_eq!(c[2], Command::Cmd(ShellOrExec::Shell("echo hi".into())));
        assert_eq!(
            c[3],
            Command::Entrypoint(ShellOrExec::Shell("[not json".into()))
        );
        assert!(matches!(&c[4], Command::Run { cmd: ShellOrExec::Exec(a), .. } if a == &["x"]));
        assert_eq!(c[5], Command::Shell(vec!["/bin/bash".into(), "-c".into()]));
    }

    #[test]
    fn env_label_arg_lists() {
        let c = cmds("FROM a\nENV A=1 B=\"two words\" C=$A\nENV OLD some value here\nLABEL \"k 1\"=v x=y\nARG N\nARG M=3 O=\n");
        assert_eq!(
            c[1],
            Command::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "$A".into())
            ])
        );
        assert_eq!(
            c[2],
            Command::Env(vec![("OLD".into(), "some value here".into())])
        );
        assert_eq!(
            c[3],
            Command::Label(vec![
                ("\"k 1\"".into(), "v".into()),
                ("x".into(), "y".into())
            ])
        );
        assert_eq!(c[4], Command::Arg(vec![("N".into(), None)]));
        assert_eq!(
            c[5],
            Command::Arg(vec![
                ("M".into(), Some("3".into())),
                ("O".into(), Some(String::new()))
            ])
        );
    }

    #[test]
    fn copy_add_flags_and_sources() {
        let c = cmds("FROM a\nCOPY --from=build --chown=1:2 --chmod=0755 a b* /dst/\nADD [\"x y\", \"/z\"]\nCOPY --link <<EOF /f\nbody\nEOF\n");
        let Command::Copy(a) = &c[1] else { panic!() };
        assert_eq!(a.from.as_deref(), Some("build"));
        assert_eq!(a.chown.as_deref(), Some("1:2"));
        assert_eq!(a.chmod.as_deref(), Some("0755"));
        assert_eq!(a.srcs, vec!["a", "b*"]);
        assert_eq!(a.dest, "/dst/");
        let Command::Add(b) = &c[2] else { panic!() };
        assert_eq!(b.srcs, vec!["x y"]);
        let Command::Copy(h) = &c[3] else { panic!() };
        assert!(h.link);
        assert_eq!(h.srcs, vec!["<<EOF"]);
        assert_eq!(h.heredocs[0].body, "body\n");
        assert!(e("FROM a\nCOPY onlyone\n").contains("at least two"));
    }

    #[test]
    fn run_heredocs() {
        let c = cmds("FROM a\nRUN <<EOF\necho one\necho two\nEOF\nRUN cat <<A > /f\nx\nA\n");
        assert_eq!(
            c[1],
            Command::Run {
                cmd: ShellOrExec::Shell("echo one\necho two\n".into()),
                heredocs: vec![super::super::Heredoc {
                    name: "EOF".into(),
                    body: "echo one\necho two\n".into(),
                    expand: true
                }],
                flags: vec![]
            }
        );
        let Command::Run { cmd, .. } = &c[2] else {
            panic!()
        };
        assert_eq!(cmd, &ShellOrExec::Shell("cat <<A > /f\nx\nA\n".into()));
    }

    #[test]
    fn healthcheck_onbuild_and_the_rest() {
        let c = cmds("FROM a\nHEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]\nHEALTHCHECK NONE\nONBUILD RUN echo hi\nMAINTAINER me <m@x>\nSTOPSIGNAL SIGTERM\nEXPOSE 80/tcp 443\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\nWORKDIR /w x\nUSER 1:2\n");
        let Command::Healthcheck(h) = &c[1] else {
            panic!()
        };
        assert_eq!(h.interval.as_deref(), Some("5s"));
        assert_eq!(h.retries, Some(3));
        assert_eq!(h.test, Some(ShellOrExec::Exec(vec!["true".into()])));
        assert_eq!(c[2], Command::Healthcheck(Healthcheck::default()));
        let Command::OnBuild(i) = &c[3] else { panic!() };
        assert_eq!(i.text, "RUN echo hi");
        assert_eq!(c[4], Command::Maintainer("me <m@x>".into()));
        assert_eq!(c[5], Command::StopSignal("SIGTERM".into()));
        assert_eq!(c[6], Command::Expose(vec!["80/tcp".into(), "443".into()]));
        assert_eq!(c[7], Command::Volume(vec!["/a".into(), "/b".into()]));
        assert_eq!(c[8], Command::Volume(vec!["/c".into(), "/d".into()]));
        assert_eq!(c[9], Command::Workdir("/w x".into()));
        assert_eq!(c[10], Command::User("1:2".into()));
    }

    #[test]
    fn text_joins_continuations_and_keyword_case() {
        let d = p("from a\nrun echo a \\\n  b\n");
        assert_eq!(d.instructions[1].text, "RUN echo a   b");
        assert_eq!(d.instructions[1].pos, Pos { line: 2, col: 1 });
    }
}
