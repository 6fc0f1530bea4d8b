//! The Dockerfile language: [`lexer`] turns the text into logical lines
//! (parser directives, comments, line continuations, heredoc bodies),
//! [`parser`] turns each line into an [`Instruction`], and [`expand`] does
//! the shell-like word splitting and `$VAR` expansion that instructions
//! apply at build time (when ARG and ENV values are known).
//!
//! Parsing never expands variables: the AST keeps the words as written so
//! that ARG/ENV scoping is the executor's business. Errors name the line
//! and column (`Dockerfile:3:5: unknown instruction "RUNN"`).

pub mod expand;
pub mod lexer;
pub mod parser;

pub use parser::parse;

/// A 1-based position in the Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{}:{}: {msg}", pos.line, pos.col)]
pub struct ParseError {
    pub file: String,
    pub pos: Pos,
    pub msg: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The `# escape=` directive (`\` by default, or `` ` ``).
    pub escape: char,
    /// The `# syntax=` directive, if any (recorded, not acted on).
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// One instruction, with where it starts and its text as written (the
/// continuation lines joined), which is what history and the cache see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub pos: Pos,
    pub text: String,
    pub cmd: Command,
}

/// Shell form (a string for `SHELL` + `-c`) or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    Shell(String),
    Exec(Vec<String>),
}

/// A heredoc (`<<EOF`, `<<-EOF`, `<<"EOF"`) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The body, with its final newline; leading tabs already stripped
    /// for `<<-`.
    pub body: String,
    /// False when the delimiter was quoted: the body is taken verbatim.
    pub expand: bool,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// ADD --checksum (recorded; checked for URLs).
    pub checksum: Option<String>,
    /// Source words as written (unexpanded); a heredoc source is `<<NAME`.
    pub srcs: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `None` for `HEALTHCHECK NONE`.
    pub test: Option<ShellOrExec>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<u32>,
}

/// The instructions, with their flags and arguments. Words are as
/// written; [`expand`] applies at build time where the reference says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From {
        image: String,
        alias: Option<String>,
        platform: Option<String>,
    },
    Run {
        cmd: ShellOrExec,
        heredocs: Vec<Heredoc>,
        /// `--network=`, `--mount=`, `--security=` as given.
        flags: Vec<(String, String)>,
    },
    Copy(CopyArgs),
    Add(CopyArgs),
    /// KEY=VALUE pairs (the legacy `ENV KEY VALUE` form is one pair).
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Cmd(ShellOrExec),
    Entrypoint(ShellOrExec),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Label(Vec<(String, String)>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    OnBuild(Box<Instruction>),
    Maintainer(String),
}

impl Command {
    /// The instruction keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::From { .. } => "FROM",
            Command::Run { .. } => "RUN",
            Command::Copy(_) => "COPY",
            Command::Add(_) => "ADD",
            Command::Env(_) => "ENV",
            Command::Arg(_) => "ARG",
            Command::Workdir(_) => "WORKDIR",
            Command::User(_) => "USER",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Expose(_) => "EXPOSE",
            Command::Volume(_) => "VOLUME",
            Command::Label(_) => "LABEL",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Shell(_) => "SHELL",
            Command::OnBuild(_) => "ONBUILD",
            Command::Maintainer(_) => "MAINTAINER",
        }
    }
}
