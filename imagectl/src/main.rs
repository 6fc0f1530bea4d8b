//! imagectl: parse args, run the verb, map errors to one line and exit 1.

use clap::Parser;
use imagectl::cli::{Cli, Command};
use imagectl::commands::{self, Ctx};
use imagectl::store::Store;

fn main() {
    let cli = Cli::parse();
    let ctx = Ctx {
        root: cli.root.unwrap_or_else(Store::default_root),
    };
    let r = match cli.command {
        Command::Pull(a) => commands::pull::run(&ctx, a),
        Command::Push(a) => commands::push::run(&ctx, a),
        Command::Login(a) => commands::login::run(&ctx, a),
        Command::Logout(a) => commands::logout::run(&ctx, a),
        Command::Search(a) => commands::search::run(&ctx, a),
        Command::Tag(a) => commands::tag::run(&ctx, a),
        Command::Images(a) => commands::images::run(&ctx, a),
        Command::Inspect(a) => commands::inspect::run(&ctx, a),
        Command::History(a) => commands::history::run(&ctx, a),
        Command::Rmi(a) => commands::rmi::run(&ctx, a),
        Command::Gc(a) => commands::gc::run(&ctx, a),
        Command::Unpack(a) => commands::unpack::run(&ctx, a),
        Command::Save(a) => commands::save::run(&ctx, a),
        Command::Load(a) => commands::load::run(&ctx, a),
        Command::Export(a) => commands::export::run(&ctx, a),
        Command::Import(a) => commands::import::run(&ctx, a),
        Command::Commit(a) => commands::commit::run(&ctx, a),
        Command::Diff(a) => commands::diff::run(&ctx, a),
        Command::Build(a) => commands::build::run(&ctx, a),
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line: the chain joined, outermost first.
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("imagectl: {}", dedup(msg).join(": "));
            std::process::exit(1);
        }
    }
}

/// anyhow chains often repeat the source's text in the outer message.
fn dedup(msgs: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in msgs {
        if out.last().is_some_and(|prev| prev.ends_with(&m)) {
            continue;
        }
        out.push(m);
    }
    out
}
