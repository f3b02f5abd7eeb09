//! Syntax tree -> typed instructions, grouped into stages. Checks what BuildKit checks when
//! it turns parser nodes into commands: argument counts, flags, JSON-only forms, names.

mod command_line;
mod copy;
mod display;
mod duration;
pub mod expand;
mod flags;
mod from;
mod healthcheck;
mod key_value;
mod metadata;
mod run;
pub mod run_mount;
mod signal;

pub use command_line::{CommandLine, InlineFile};
pub use copy::{Copy, InlineSource};
pub use duration::parse_go_duration;
pub use expand::Expander;
pub use from::From;
pub use healthcheck::Healthcheck;
pub use key_value::{ArgDecl, KeyValue};
pub use run::Run;
pub use run_mount::{Mount, MountType, Sharing};

use crate::error::{Error, ErrorKind, Result};
use crate::span::Span;
use crate::suggest::did_you_mean;
use crate::syntax::{Ast, Directive, Node, Token, Warning};
use serde::Serialize;

/// Every instruction keyword, upper case.
pub const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// One typed instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruction {
    pub command: Command,
    /// The whole instruction (all its lines, heredoc bodies included).
    pub span: Span,
    /// The keyword as written (`copy`, `COPY`).
    pub keyword: Token,
    /// The instruction's text, continuations joined.
    pub original: String,
    /// Comment lines directly above it.
    pub comments: Vec<String>,
}

/// What an instruction says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "instruction", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Command {
    From(From),
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell { shell: Vec<String> },
    Label { labels: Vec<KeyValue> },
    Maintainer { maintainer: Token },
    Expose { ports: Vec<Token> },
    Env { env: Vec<KeyValue> },
    Arg { args: Vec<ArgDecl> },
    Copy(Copy),
    Add(Copy),
    User { user: Token },
    Workdir { path: Token },
    Volume { volumes: Vec<Token> },
    StopSignal { signal: Token },
    Healthcheck(Healthcheck),
    Onbuild { trigger: String, expression: String },
}

impl Command {
    /// The upper-case instruction name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::From(_) => "FROM",
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Shell { .. } => "SHELL",
            Command::Label { .. } => "LABEL",
            Command::Maintainer { .. } => "MAINTAINER",
            Command::Expose { .. } => "EXPOSE",
            Command::Env { .. } => "ENV",
            Command::Arg { .. } => "ARG",
            Command::Copy(_) => "COPY",
            Command::Add(_) => "ADD",
            Command::User { .. } => "USER",
            Command::Workdir { .. } => "WORKDIR",
            Command::Volume { .. } => "VOLUME",
            Command::StopSignal { .. } => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Onbuild { .. } => "ONBUILD",
        }
    }
}

/// A build stage: its FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub index: usize,
    pub from: From,
    pub from_span: Span,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// The stage's name (lower case) or `None` when unnamed.
    pub fn name(&self) -> Option<&str> {
        self.from.name.as_ref().map(|t| t.value.as_str())
    }
}

/// A Dockerfile as typed instructions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    pub directives: Vec<Directive>,
    pub escape: char,
    /// ARG instructions before the first FROM (global scope).
    pub global_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<Warning>,
}

/// How many of `nodes` come before the next FROM: a stage's instructions are reserved
/// once instead of grown by copying.
fn stage_length(nodes: &[crate::syntax::Node]) -> usize {
    nodes
        .iter()
        .take_while(|n| !n.keyword.value.eq_ignore_ascii_case("from"))
        .count()
}

/// Turn a syntax tree into stages of typed instructions.
pub fn from_ast(ast: &Ast) -> Result<Dockerfile> {
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (k, node) in ast.nodes.iter().enumerate() {
        let ins = parse_instruction(node)?;
        match &ins.command {
            Command::From(from) => stages.push(Stage {
                index: stages.len(),
                from: from.clone(),
                from_span: ins.span,
                instructions: Vec::with_capacity(stage_length(&ast.nodes[k + 1..])),
            }),
            Command::Arg { .. } if stages.is_empty() => global_args.push(ins),
            _ => match stages.last_mut() {
                Some(stage) => stage.instructions.push(ins),
                None => {
                    return Err(Error::new(
                        ErrorKind::Instruction,
                        ins.keyword.span,
                        format!(
                            "{} comes before the first FROM: no build stage in current context",
                            ins.command.name()
                        ),
                    )
                    .with_hint("start the Dockerfile with FROM (only ARG may come before it)"))
                }
            },
        }
    }
    if stages.is_empty() {
        let span = ast.nodes.last().map_or_else(Span::default, |n| n.span);
        return Err(Error::new(
            ErrorKind::Instruction,
            span,
            "the Dockerfile has no FROM instruction",
        )
        .with_hint("add `FROM IMAGE` (or `FROM scratch`) before the build instructions"));
    }
    Ok(Dockerfile {
        directives: ast.directives.clone(),
        escape: ast.escape,
        global_args,
        stages,
        warnings: ast.warnings.clone(),
    })
}

/// Context handed to each instruction's parser.
pub(crate) struct Req<'a> {
    pub node: &'a Node,
    pub name: &'static str,
}

impl Req<'_> {
    pub fn args(&self) -> &[Token] {
        &self.node.args
    }

    pub fn err(&self, span: Span, msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Instruction, span, msg)
    }

    /// An error about the arguments as a whole.
    pub fn args_err(&self, msg: impl Into<String>) -> Error {
        self.err(self.node.args_span(), msg)
    }

    pub fn at_least_one(&self) -> Result<()> {
        if self.args().is_empty() {
            return Err(self
                .err(
                    self.node.keyword.span,
                    format!("{} requires at least one argument", self.name),
                )
                .with_hint(usage(self.name)));
        }
        Ok(())
    }

    pub fn exactly_one(&self) -> Result<&Token> {
        match self.args() {
            [one] => Ok(one),
            [] => Err(self
                .err(
                    self.node.keyword.span,
                    format!("{} requires exactly one argument", self.name),
                )
                .with_hint(usage(self.name))),
            _ => Err(self
                .args_err(format!("{} requires exactly one argument", self.name))
                .with_hint("quote a value that contains spaces")),
        }
    }

    pub fn flags(&self, spec: &[(&'static str, flags::FlagType)]) -> Result<flags::Flags> {
        flags::Flags::parse(self.name, &self.node.flags, spec)
    }
}

/// How an instruction is written, for hints about missing arguments.
fn usage(name: &str) -> String {
    match name {
        "ENV" => "write ENV NAME=VALUE".into(),
        "LABEL" => "write LABEL KEY=VALUE".into(),
        "ARG" => "write ARG NAME or ARG NAME=DEFAULT".into(),
        "EXPOSE" => "write EXPOSE PORT[/PROTOCOL], e.g. EXPOSE 80/tcp".into(),
        "VOLUME" => "write VOLUME /path (or VOLUME [\"/path\"])".into(),
        "HEALTHCHECK" => "write HEALTHCHECK CMD command, or HEALTHCHECK NONE".into(),
        "USER" => "write USER NAME[:GROUP] (or a numeric UID[:GID])".into(),
        "WORKDIR" => "write WORKDIR /path".into(),
        "STOPSIGNAL" => "write STOPSIGNAL SIGNAL, e.g. STOPSIGNAL SIGTERM".into(),
        "MAINTAINER" => {
            "write MAINTAINER NAME, or better LABEL org.opencontainers.image.authors=NAME".into()
        }
        other => format!("write `{other} VALUE`"),
    }
}

/// Parse one node into a typed instruction.
pub fn parse_instruction(node: &Node) -> Result<Instruction> {
    let upper = node.keyword.value.to_ascii_uppercase();
    if node.keyword.value.is_empty() {
        // Only white space after joining continued lines (`\` at the end of a blank line).
        return Err(Error::new(
            ErrorKind::Instruction,
            node.keyword.span,
            "continued lines that hold no instruction",
        )
        .with_hint("remove the trailing escape character or the blank continued lines"));
    }
    let Some(name) = INSTRUCTIONS.iter().find(|n| **n == upper) else {
        let mut e = Error::new(
            ErrorKind::Instruction,
            node.keyword.span,
            format!("unknown instruction: {}", node.keyword.value),
        );
        e.hint = Some(
            did_you_mean(&node.keyword.value, INSTRUCTIONS, false)
                .unwrap_or_else(|| "instructions are FROM, RUN, COPY, ADD, ENV, ARG, ... (see the Dockerfile reference)".to_string()),
        );
        return Err(e);
    };
    let req = Req { node, name };
    let command = match *name {
        "FROM" => Command::From(from::parse(&req)?),
        "RUN" => Command::Run(run::parse(&req)?),
        "CMD" => Command::Cmd(command_line::parse_cmd(&req, false)?),
        "ENTRYPOINT" => Command::Entrypoint(command_line::parse_cmd(&req, true)?),
        "COPY" => Command::Copy(copy::parse(&req, false)?),
        "ADD" => Command::Add(copy::parse(&req, true)?),
        "HEALTHCHECK" => Command::Healthcheck(healthcheck::parse(&req)?),
        "ENV" => Command::Env {
            env: key_value::parse_pairs(&req)?,
        },
        "LABEL" => Command::Label {
            labels: key_value::parse_pairs(&req)?,
        },
        "ARG" => Command::Arg {
            args: key_value::parse_args(&req)?,
        },
        _ => metadata::parse(&req)?,
    };
    Ok(Instruction {
        command,
        span: node.span,
        keyword: node.keyword.clone(),
        original: node.original.clone(),
        comments: node.comments.clone(),
    })
}
