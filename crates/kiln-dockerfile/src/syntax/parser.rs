//! The line loop: physical lines -> instructions (continuations joined, comments dropped,
//! directives read, heredoc bodies attached).

use super::args::{split_args, ArgStyle};
use super::directives::DirectiveParser;
use super::heredoc::markers_in_line;
use super::logical_line::LogicalLine;
use super::node::{Ast, Heredoc, Node, Warning};
use super::split::split_command;
use super::text::{trim_continuation, trim_newline};
use crate::error::{Error, ErrorKind, Result};
use crate::span::{Pos, Span};

/// ONBUILD may wrap one instruction; deeper chains are rejected later, and the parser stops
/// here so that hostile input cannot recurse without bound.
const MAX_NESTING: usize = 8;

/// Parse Dockerfile bytes. They must be UTF-8 (a leading byte-order mark is ignored).
pub fn parse_bytes(bytes: &[u8]) -> Result<Ast> {
    match std::str::from_utf8(bytes) {
        Ok(s) => parse(s),
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() as u32 + 1;
            let line_start = before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let col = String::from_utf8_lossy(&before[line_start..])
                .chars()
                .count() as u32
                + 1;
            Err(Error::new(
                ErrorKind::Input,
                Span::new(Pos::new(line, col), Pos::new(line, col + 1)),
                format!(
                    "the Dockerfile is not valid UTF-8 (byte {})",
                    e.valid_up_to()
                ),
            )
            .with_hint("save the file as UTF-8"))
        }
    }
}

/// Parse a Dockerfile.
pub fn parse(source: &str) -> Result<Ast> {
    if source.is_empty() {
        return Err(Error::new(
            ErrorKind::Input,
            Span::lines(1, 1),
            "the Dockerfile cannot be empty",
        )
        .with_hint("a Dockerfile needs at least a FROM instruction; is this the right file?"));
    }
    let src = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut lines = Lines {
        lines: src.split_inclusive('\n').collect(),
        next: 0,
    };
    let mut directives = DirectiveParser::default();
    let mut escape = '\\';
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    while let Some((line_no, raw)) = lines.next_line() {
        let raw = trim_newline(raw);
        let trimmed = raw.trim_start();
        let indent = raw[..raw.len() - trimmed.len()].chars().count() as u32;
        let comment = trimmed.strip_prefix('#');
        if let Some(c) = comment {
            match c.trim() {
                "" => comments.clear(),
                c => comments.push(c.to_string()),
            }
        }
        if let Some(d) = directives.line(trimmed, line_no)? {
            if d.name == "escape" {
                escape = d.value.chars().next().unwrap_or('\\');
            }
            comments.pop();
        }
        let content = if comment.is_some() { "" } else { trimmed };
        let (content, more) = trim_continuation(content, escape);
        if !more && content.is_empty() {
            continue;
        }
        let mut logical = LogicalLine::default();
        logical.push(content, line_no, indent + 1);
        let mut last_line = line_no;
        if more {
            let empty_continuation;
            (last_line, empty_continuation) = lines.continuation(&mut logical, line_no, escape);
            if empty_continuation {
                warnings.push(Warning {
                    message: format!("Empty continuation line found in: {}", logical.text.trim()),
                    span: Span::lines(line_no, last_line),
                });
            }
        }
        let mut node = node_from_line(&logical, 0, logical.text.len(), escape, 0)?;
        node.comments = std::mem::take(&mut comments);
        if can_contain_heredoc(&node) && logical.text.contains("<<") {
            last_line = lines.heredocs(&mut node, &logical, line_no, last_line)?;
        }
        let end_col = lines
            .lines
            .get(last_line as usize - 1)
            .map_or(1, |l| trim_newline(l).chars().count() as u32 + 1);
        node.span = Span::new(node.keyword.span.start, Pos::new(last_line, end_col));
        nodes.push(node);
    }
    if nodes.is_empty() {
        let last = lines.lines.len().max(1) as u32;
        return Err(Error::new(
            ErrorKind::Input,
            Span::lines(last, last),
            "file with no instructions",
        )
        .with_hint("a Dockerfile needs at least a FROM instruction"));
    }
    Ok(Ast {
        directives: directives.found,
        escape,
        nodes,
        warnings,
    })
}

/// The physical lines (newlines kept) and the index of the next one to read.
struct Lines<'a> {
    lines: Vec<&'a str>,
    next: usize,
}

impl<'a> Lines<'a> {
    /// The next line and its 1-based number.
    fn next_line(&mut self) -> Option<(u32, &'a str)> {
        let line = self.lines.get(self.next)?;
        self.next += 1;
        Some((self.next as u32, line))
    }

    /// The continuation lines of `logical` (which starts on `first`), joined to it; comment
    /// lines in between are dropped. The number of the last line read, and whether an
    /// empty line was among them.
    fn continuation(&mut self, logical: &mut LogicalLine, first: u32, escape: char) -> (u32, bool) {
        let mut last_line = first;
        let mut empty_continuation = false;
        while let Some((line_no, raw)) = self.next_line() {
            let raw = trim_newline(raw);
            last_line = line_no;
            let t = raw.trim_start();
            if t.starts_with('#') {
                continue;
            }
            if t.is_empty() {
                empty_continuation = true;
                continue;
            }
            let (content, more) = trim_continuation(raw, escape);
            logical.push(content, last_line, 1);
            if !more {
                break;
            }
        }
        (last_line, empty_continuation)
    }

    /// The bodies of the heredocs `logical` opens (lines `first..=last_line`), attached to
    /// `node`; the number of the last line read.
    fn heredocs(
        &mut self,
        node: &mut Node,
        logical: &LogicalLine,
        first: u32,
        mut last_line: u32,
    ) -> Result<u32> {
        let markers = markers_in_line(&logical.text)
            .map_err(|e| Error::new(ErrorKind::Syntax, Span::lines(first, last_line), e.message))?;
        for m in markers {
            let body_first = self.next as u32 + 1;
            let mut content = String::new();
            let mut terminated = false;
            while let Some((line_no, raw)) = self.next_line() {
                last_line = line_no;
                let mut candidate = trim_newline(raw);
                if m.chomp {
                    candidate = candidate.trim_start_matches('\t');
                }
                if candidate == m.name {
                    terminated = true;
                    break;
                }
                content.push_str(raw);
            }
            if !terminated {
                return Err(unterminated(&m.name, m.chomp, first, last_line));
            }
            node.heredocs.push(Heredoc {
                name: m.name,
                fd: m.fd,
                expand: m.expand,
                chomp: m.chomp,
                content,
                span: Span::lines(body_first, last_line),
            });
        }
        Ok(last_line)
    }
}

fn unterminated(name: &str, chomp: bool, first: u32, last_line: u32) -> Error {
    Error::new(
        ErrorKind::Syntax,
        Span::lines(first, last_line),
        format!("unterminated heredoc: no line `{name}` ends it"),
    )
    .with_hint(format!(
        "end the heredoc with a line holding only `{name}`{}",
        if chomp { " (leading tabs allowed)" } else { "" }
    ))
}

/// Build the node for `logical.text[from..to]`.
fn node_from_line(
    logical: &LogicalLine,
    from: usize,
    to: usize,
    escape: char,
    depth: usize,
) -> Result<Node> {
    let split = split_command(logical, from, to, escape);
    let lower = split.keyword.value.to_ascii_lowercase();
    let style = ArgStyle::for_keyword(&lower);
    let (args_from, args_to) = split.args;
    let mut node = Node {
        keyword: split.keyword,
        flags: split.flags,
        args: Vec::new(),
        json: false,
        child: None,
        heredocs: Vec::new(),
        original: logical.text[from..to].to_string(),
        span: logical.span(from, to),
        comments: Vec::new(),
    };
    if style == ArgStyle::SubCommand {
        if args_from < args_to {
            if depth >= MAX_NESTING {
                return Err(Error::new(
                    ErrorKind::Instruction,
                    logical.span(args_from, args_to),
                    "ONBUILD instructions are nested too deeply",
                )
                .with_hint("ONBUILD takes one ordinary instruction"));
            }
            let child = node_from_line(logical, args_from, args_to, escape, depth + 1)?;
            node.child = Some(Box::new(child));
        }
        return Ok(node);
    }
    let args = split_args(
        style,
        &node.keyword.value,
        logical,
        args_from,
        args_to,
        escape,
    )?;
    node.args = args.tokens;
    node.json = args.json;
    Ok(node)
}

/// RUN, COPY and ADD in shell form (also under ONBUILD) may carry heredocs.
fn can_contain_heredoc(node: &Node) -> bool {
    let node = node.child.as_deref().unwrap_or(node);
    matches!(node.name().as_str(), "run" | "copy" | "add") && !node.json
}
