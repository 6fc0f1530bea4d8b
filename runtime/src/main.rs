//! The `berth` binary: parse arguments, set up logging, run the command, map
//! errors to one line on stderr (and the log) and a non-zero exit code.

use std::io::Write;

use clap::Parser;

use berth::cli::{Cli, Command};
use berth::commands::{self, Globals};

fn init_logging(cli: &Cli) {
    let out: Box<dyn Write + Send> = match &cli.log {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("berth: open log {}: {e}", path.display());
                Box::new(std::io::stderr())
            }
        },
        None => Box::new(std::io::stderr()),
    };
    let sub = berth::logging::LogrusSubscriber::new(out, cli.log_format, cli.debug);
    let _ = tracing::subscriber::set_global_default(sub);
}

fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    let g = Globals {
        root: cli.root.clone(),
        systemd_cgroup: cli.systemd_cgroup,
    };
    match &cli.command {
        Some(Command::Create(a)) => commands::create::run(&g, a),
        Some(Command::Start(a)) => commands::start::run(&g, a),
        Some(Command::State(a)) => commands::state::run(&g, a),
        Some(Command::Kill(a)) => commands::kill::run(&g, a),
        Some(Command::Delete(a)) => commands::delete::run(&g, a),
        Some(Command::Run(a)) => commands::run::run(&g, a),
        Some(Command::List(a)) => commands::list::run(&g, a),
        Some(Command::Spec(a)) => commands::spec::run(a),
        Some(Command::Features(_)) => commands::features::run(),
        Some(Command::Update(a)) => commands::update::run(&g, a),
        Some(Command::Pause(a)) => commands::pause::pause(&g, a),
        Some(Command::Resume(a)) => commands::pause::resume(&g, a),
        Some(Command::Ps(a)) => commands::ps::run(&g, a),
        Some(Command::Events(a)) => commands::events::run(&g, a),
        Some(Command::Exec(a)) => commands::exec::run(&g, a),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(0)
        }
    }
}

fn main() {
    let cli = Cli::parse();
    if cli.version {
        println!(
            "berth version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            berth::spec::OCI_VERSION
        );
        return;
    }
    init_logging(&cli);
    match dispatch(&cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = e.to_string();
            if cli.log.is_some() {
                tracing::error!("{msg}");
            }
            eprintln!("berth: {msg}");
            std::process::exit(1);
        }
    }
}
