//! Command lines of RUN, CMD, ENTRYPOINT and HEALTHCHECK: exec form (JSON array) or shell
//! form (run through SHELL), with heredoc files.

use super::Req;
use crate::error::Result;
use crate::span::Span;
use serde::Serialize;

/// A heredoc attached to a command (`RUN <<EOF`): its body becomes a file or the script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineFile {
    pub name: String,
    /// The body as written (not chomped).
    pub data: String,
    /// `<<-`: strip leading tabs from each line.
    pub chomp: bool,
    /// False when the delimiter was quoted: the body is used verbatim.
    pub expand: bool,
    pub fd: u32,
}

impl InlineFile {
    /// The body with `<<-` applied.
    pub fn body(&self) -> String {
        if self.chomp {
            crate::syntax::heredoc::chomp_tabs(&self.data)
        } else {
            self.data.clone()
        }
    }
}

/// A command in exec or shell form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandLine {
    /// Exec form: the argv. Shell form: one element, the command text.
    /// `None` for `ENTRYPOINT []` (which resets the entrypoint).
    pub args: Option<Vec<String>>,
    /// Shell form: run as `SHELL + [args[0]]`.
    pub shell_form: bool,
    pub files: Vec<InlineFile>,
    pub span: Span,
}

/// Build the command line of a RUN/CMD/ENTRYPOINT node. `empty_as_none`: `[]` means reset.
pub(crate) fn command_line(
    req: &Req<'_>,
    args: &[crate::syntax::Token],
    empty_as_none: bool,
) -> CommandLine {
    let node = req.node;
    let files = node
        .heredocs
        .iter()
        .map(|h| InlineFile {
            name: h.name.clone(),
            data: h.content.clone(),
            chomp: h.chomp,
            expand: h.expand,
            fd: h.fd,
        })
        .collect();
    let values: Vec<String> = if node.json || args.is_empty() {
        args.iter().map(|t| t.value.clone()).collect()
    } else {
        vec![args
            .iter()
            .map(|t| t.value.as_str())
            .collect::<Vec<_>>()
            .join(" ")]
    };
    let span = match (args.first(), args.last()) {
        (Some(a), Some(b)) => a.span.to(b.span),
        _ => node.keyword.span,
    };
    CommandLine {
        args: if empty_as_none && values.is_empty() {
            None
        } else {
            Some(values)
        },
        shell_form: !node.json,
        files,
        span,
    }
}

/// CMD and ENTRYPOINT: no flags.
pub(crate) fn parse_cmd(req: &Req<'_>, empty_as_none: bool) -> Result<CommandLine> {
    req.flags(&[])?;
    Ok(command_line(req, req.args(), empty_as_none))
}
