//! The raw syntax tree: one [`Node`] per instruction, arguments as BuildKit's parser splits
//! them, every piece with its source span.

use crate::span::Span;
use serde::Serialize;

/// A piece of text from the Dockerfile and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    pub value: String,
    pub span: Span,
}

/// A heredoc attached to an instruction (`<<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The file descriptor prefix (`3<<EOF`), 0 when absent.
    pub fd: u32,
    /// False when the delimiter was quoted: no variable expansion in the body.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body lines.
    pub chomp: bool,
    /// The body as written, every line with its line ending; not yet chomped.
    pub content: String,
    /// Lines of the body and the terminator.
    pub span: Span,
}

impl Heredoc {
    /// The body with `<<-` applied (leading tabs removed from every line).
    pub fn body(&self) -> String {
        if self.chomp {
            super::heredoc::chomp_tabs(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// One instruction as the parser sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The instruction keyword as written (`FROM`, `run`, ...).
    pub keyword: Token,
    /// Builder flags before the arguments (`--from=x`), escapes and quotes removed.
    pub flags: Vec<Token>,
    /// Arguments, split as BuildKit's line parser for this instruction splits them.
    /// ENV and LABEL give (key, value, separator) triples.
    pub args: Vec<Token>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The instruction ONBUILD wraps.
    pub child: Option<Box<Node>>,
    pub heredocs: Vec<Heredoc>,
    /// The instruction's text with continuations joined.
    pub original: String,
    /// The whole instruction: first to last line (including heredoc bodies).
    pub span: Span,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

impl Node {
    /// The lower-case instruction name.
    pub fn name(&self) -> String {
        self.keyword.value.to_ascii_lowercase()
    }

    /// The span of the arguments (or of the keyword when there are none).
    pub fn args_span(&self) -> Span {
        match (self.args.first(), self.args.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => self.keyword.span,
        }
    }
}

/// A warning found while parsing (the file is still accepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub message: String,
    pub span: Span,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ast {
    pub directives: Vec<Directive>,
    pub escape: char,
    pub nodes: Vec<Node>,
    pub warnings: Vec<Warning>,
}

impl Ast {
    /// The value of a parser directive (`syntax`, `escape`, `check`), if given.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }
}

/// A parser directive such as `# syntax=docker/dockerfile:1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// Lower-case name.
    pub name: String,
    pub value: String,
    pub span: Span,
}
