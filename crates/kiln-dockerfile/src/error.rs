//! Diagnostics: every error carries where it happened and, where one helps, a hint.

use crate::span::Span;
use serde::Serialize;

/// What stage of the front end rejected the input. Stable names, used in JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The bytes are not a Dockerfile at all (encoding, empty file).
    Input,
    /// A parser directive (`# escape=`, `# syntax=`, `# check=`).
    Directive,
    /// Line structure: continuations, heredocs, JSON arrays.
    Syntax,
    /// An instruction's arguments.
    Instruction,
    /// An instruction flag (`--from`, `--mount`, ...).
    Flag,
    /// Variable expansion (`${V:?}`, bad substitutions, quotes).
    Expansion,
    /// Stage references, names and `--target`.
    Stage,
}

/// A front-end error: message, where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, span: Span, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            span,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Render like a compiler diagnostic: the message, `file:line:col`, the source line with
    /// a caret under the span, and the hint.
    pub fn render(&self, file: &str, source: &str) -> String {
        render(
            "error",
            &self.message,
            self.span,
            self.hint.as_deref(),
            file,
            source,
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Render a located message (`level` is "error" or "warning").
pub fn render(
    level: &str,
    message: &str,
    span: Span,
    hint: Option<&str>,
    file: &str,
    source: &str,
) -> String {
    render_in(level, message, span, hint, file, &SourceLines::new(source))
}

/// A source split into lines once, to render many diagnostics against it: finding line n
/// costs O(1) instead of a scan from the start of the file.
#[derive(Debug, Clone)]
pub struct SourceLines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> SourceLines<'a> {
    pub fn new(source: &'a str) -> Self {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        SourceLines {
            lines: source.split('\n').collect(),
        }
    }

    /// Line `n` (1-based) without its line ending.
    pub fn line(&self, n: u32) -> Option<&'a str> {
        let line = self.lines.get(n.checked_sub(1)? as usize)?;
        Some(line.trim_end_matches(['\r', '\n']))
    }
}

/// [`render`] against a source already split into lines.
pub fn render_in(
    level: &str,
    message: &str,
    span: Span,
    hint: Option<&str>,
    file: &str,
    source: &SourceLines<'_>,
) -> String {
    let mut out = format!("{level}: {message}\n");
    if span.start.line == 0 {
        // Not about a place in the file (e.g. a command-line value).
        if let Some(hint) = hint {
            out.push_str(&format!(" = hint: {hint}\n"));
        }
        return out;
    }
    let line_no = span.start.line;
    let gutter = line_no.to_string().len();
    let pad = " ".repeat(gutter);
    out.push_str(&format!(
        "{pad}--> {file}:{}:{}\n",
        line_no,
        span.start.col.max(1)
    ));
    if let Some(text) = source.line(line_no) {
        let text = text.replace('\t', " ");
        let width = text.chars().count();
        let start = (span.start.col.max(1) as usize - 1).min(width);
        let end = if span.end.line == span.start.line && span.end.col > span.start.col {
            (span.end.col as usize - 1).min(width)
        } else {
            width
        };
        let carets = end.saturating_sub(start).max(1);
        out.push_str(&format!("{pad} |\n"));
        out.push_str(&format!("{line_no} | {text}\n"));
        out.push_str(&format!(
            "{pad} | {}{}\n",
            " ".repeat(start),
            "^".repeat(carets)
        ));
    }
    if let Some(hint) = hint {
        out.push_str(&format!("{pad} = hint: {hint}\n"));
    }
    out
}
