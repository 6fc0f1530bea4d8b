//! berth's command line, flag for flag with runc so containerd, podman,
//! CRI-O and people can drive it unchanged. [`oci`] holds the verbs the OCI
//! runtime spec's lifecycle defines, [`extras`] runc's additions.

pub mod extras;
pub mod oci;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "An OCI container runtime, a drop-in for runc",
    disable_version_flag = true
)]
pub struct Cli {
    /// Root directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = "/run/berth")]
    pub root: PathBuf,
    /// Write log lines to this file instead of stderr.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log line format (json: logrus-style {"level","msg","time"}).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver (not supported yet: errors clearly).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (before the verb, as in runc).
    #[arg(long, default_value = "auto")]
    pub rootless: String,
    /// Accepted and ignored, as runc does (containerd may still pass it).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Create(oci::Create),
    Start(oci::Start),
    State(oci::State),
    Kill(oci::Kill),
    Delete(oci::Delete),
    Run(extras::Run),
    List(extras::List),
    Spec(extras::Spec),
    Features(extras::Features),
    Update(Box<extras::Update>),
    Pause(extras::Pause),
    Resume(extras::Pause),
    Ps(extras::Ps),
    Events(extras::Events),
    Exec(Box<extras::Exec>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn containerd_create_line() {
        let c = parse(&[
            "--root",
            "/run/containerd/runc/k8s.io",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "--console-socket",
            "/tmp/s",
            "--no-pivot",
            "--no-new-keyring",
            "abc",
        ]);
        assert_eq!(c.log_format, LogFormat::Json);
        let Some(Command::Create(cr)) = c.command else {
            panic!()
        };
        assert_eq!(cr.id, "abc");
        assert!(cr.opts.no_pivot && cr.opts.no_new_keyring);
        assert_eq!(cr.opts.bundle, PathBuf::from("/b"));
    }

    #[test]
    fn global_flags_after_verb_and_criu_ignored() {
        let c = parse(&["--criu", "/usr/sbin/criu", "kill", "--all", "abc", "9"]);
        let Some(Command::Kill(k)) = c.command else {
            panic!()
        };
        assert!(k.all);
        assert_eq!(k.signal, "9");
    }

    #[test]
    fn run_detach_keep_and_preserve_fds() {
        let c = parse(&[
            "run",
            "-d",
            "--keep",
            "--preserve-fds",
            "2",
            "-b",
            "/b",
            "x",
        ]);
        let Some(Command::Run(r)) = c.command else {
            panic!()
        };
        assert!(r.detach && r.keep);
        assert_eq!(r.create.opts.preserve_fds, 2);
    }

    #[test]
    fn spec_rootless_is_the_verbs_flag() {
        let c = parse(&["--rootless", "true", "spec", "--rootless"]);
        assert_eq!(c.rootless, "true");
        let Some(Command::Spec(s)) = c.command else {
            panic!()
        };
        assert!(s.rootless);
    }

    #[test]
    fn list_formats() {
        let c = parse(&["list", "--format", "json", "-q"]);
        let Some(Command::List(l)) = c.command else {
            panic!()
        };
        assert!(l.quiet);
    }
}
