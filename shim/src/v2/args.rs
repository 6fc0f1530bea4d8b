//! The shim's command line as containerd writes it: Go `flag` style
//! (`-name value`, `--name value`, `-name=value`), flags before the verb.
//! containerd 1.6 runs `start` with `-namespace -address -publish-binary
//! -id [-debug]` and `delete` with `-bundle` as well; the daemon `start`
//! spawns gets the same flags and no verb.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    #[error("flag provided but not defined: -{0}")]
    Unknown(String),
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    #[error("unknown command {0:?} (want start, delete or none)")]
    Verb(String),
    #[error("shim namespace cannot be empty")]
    NoNamespace,
    #[error("shim id cannot be empty")]
    NoId,
}

/// What containerd asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Start a daemon (or find one) and print its address.
    Start,
    /// Clean up after a dead shim; print a DeleteResponse.
    Delete,
    /// Be the daemon: serve the Task API.
    Serve,
    /// Print the version.
    Version,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub namespace: String,
    /// containerd's gRPC socket.
    pub address: String,
    pub publish_binary: String,
    pub id: String,
    pub bundle: Option<String>,
    pub debug: bool,
}

/// Value-taking flags; every other known flag is a bool.
const VALUED: &[&str] = &["namespace", "address", "publish-binary", "id", "bundle"];
const BOOLS: &[&str] = &["debug", "v", "version"];

/// Parses argv without the program name.
pub fn parse(args: &[String]) -> Result<(Flags, Verb), ArgsError> {
    let mut f = Flags::default();
    let mut version = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            break;
        };
        if body.is_empty() {
            // A lone "-" or "--" ends the flags, as in Go.
            i += 1;
            break;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if BOOLS.contains(&name) {
            let on = inline.as_deref().is_none_or(|v| v == "true" || v == "1");
            match name {
                "debug" => f.debug = on,
                _ => version = on,
            }
            i += 1;
            continue;
        }
        if !VALUED.contains(&name) {
            return Err(ArgsError::Unknown(name.to_string()));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| ArgsError::MissingValue(name.to_string()))?
            }
        };
        match name {
            "namespace" => f.namespace = value,
            "address" => f.address = value,
            "publish-binary" => f.publish_binary = value,
            "id" => f.id = value,
            _ => f.bundle = Some(value),
        }
        i += 1;
    }
    if version {
        return Ok((f, Verb::Version));
    }
    let verb = match args.get(i).map(String::as_str) {
        None => Verb::Serve,
        Some("start") => Verb::Start,
        Some("delete") => Verb::Delete,
        Some(other) => return Err(ArgsError::Verb(other.to_string())),
    };
    if f.namespace.is_empty() {
        return Err(ArgsError::NoNamespace);
    }
    if f.id.is_empty() {
        return Err(ArgsError::NoId);
    }
    Ok((f, verb))
}

/// The daemon's argv: the same flags, no verb.
pub fn daemon_args(f: &Flags) -> Vec<String> {
    let mut a = vec![
        "-namespace".to_string(),
        f.namespace.clone(),
        "-id".to_string(),
        f.id.clone(),
        "-address".to_string(),
        f.address.clone(),
        "-publish-binary".to_string(),
        f.publish_binary.clone(),
    ];
    if f.debug {
        a.push("-debug".to_string());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn containerd_16_start_line_parses() {
        let (f, v) = parse(&argv(
            "-namespace k8s.io -address /run/containerd/containerd.sock -publish-binary /usr/bin/containerd -id c1 -debug start",
        ))
        .unwrap();
        assert_eq!(v, Verb::Start);
        assert_eq!(f.namespace, "k8s.io");
        assert_eq!(f.address, "/run/containerd/containerd.sock");
        assert_eq!(f.publish_binary, "/usr/bin/containerd");
        assert_eq!(f.id, "c1");
        assert!(f.debug);
    }

    #[test]
    fn delete_takes_the_bundle_and_go_spellings_work() {
        let (f, v) = parse(&argv("--namespace=ns -id=c2 -bundle /b delete")).unwrap();
        assert_eq!(v, Verb::Delete);
        assert_eq!(f.bundle.as_deref(), Some("/b"));
        assert_eq!(f.id, "c2");
    }

    #[test]
    fn no_verb_is_the_daemon_and_daemon_args_round_trip() {
        let f = Flags {
            namespace: "n".into(),
            address: "/a".into(),
            publish_binary: "/p".into(),
            id: "i".into(),
            bundle: None,
            debug: true,
        };
        assert_eq!(parse(&daemon_args(&f)).unwrap(), (f, Verb::Serve));
    }

    #[test]
    fn bad_lines_are_refused() {
        assert_eq!(
            parse(&argv("-namespace n -id i -bogus x start")),
            Err(ArgsError::Unknown("bogus".into()))
        );
        assert_eq!(
            parse(&argv("-namespace n -id")),
            Err(ArgsError::MissingValue("id".into()))
        );
        assert_eq!(
            parse(&argv("-namespace n -id i run")),
            Err(ArgsError::Verb("run".into()))
        );
        assert_eq!(parse(&argv("-id i start")), Err(ArgsError::NoNamespace));
        assert_eq!(parse(&argv("-v")).unwrap().1, Verb::Version);
    }
}
