//! The argv of a RUN step, with BuildKit's treatment of heredocs:
//! - `RUN <<EOF` whose body starts with `#!`: the body becomes the read-only file
//!   `/dev/pipes/EOF` (mode 0755) and the shell runs that file;
//! - `RUN <<EOF` otherwise: the body is the shell's script (`sh -c BODY`);
//! - any other command with heredocs (`RUN python3 <<EOF`, `RUN cat <<A >a <<B`): the line and
//!   the bodies with their delimiters are given to the shell, which reads the heredocs itself.

use super::error::BuildError;
use crate::config::{apply, ImageConfig};
use kiln_dockerfile::instructions::CommandLine;
use kiln_dockerfile::syntax::heredoc::parse_marker;
use kiln_sandbox::{InlineScript, INLINE_SCRIPT_DIR};

/// What the sandbox runs for a RUN command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunCommand {
    pub argv: Vec<String>,
    pub script: Option<InlineScript>,
}

impl RunCommand {
    /// The command as history shows it (`RUN` + argv joined by spaces, as BuildKit).
    pub fn history(&self) -> String {
        format!("RUN {}", self.argv.join(" "))
    }
}

pub(crate) fn run_command(cfg: &ImageConfig, line: &CommandLine) -> Result<RunCommand, BuildError> {
    let empty = || BuildError::step(line.span, "RUN has no command").with_hint("write RUN COMMAND");
    if line.files.is_empty() {
        let argv = apply::argv(cfg, line)
            .filter(|a| !a.is_empty())
            .ok_or_else(empty)?;
        return Ok(RunCommand { argv, script: None });
    }
    let text = match line.args.as_deref() {
        Some([text]) if line.shell_form => text,
        _ => {
            return Err(
                BuildError::step(line.span, "a RUN with heredocs must be in shell form").with_hint(
                    "write RUN <<EOF ... EOF, or RUN COMMAND <<EOF ... EOF, without [ ]",
                ),
            )
        }
    };
    let whole = matches!(parse_marker(text.trim()), Ok(Some(_)));
    let (script_text, script) = match (&line.files[..], whole) {
        ([file], true) => {
            let body = file.body();
            if body.starts_with("#!") {
                let path = format!("{INLINE_SCRIPT_DIR}/{}", file.name);
                let script = InlineScript {
                    name: file.name.clone(),
                    data: body.into_bytes(),
                };
                (path, Some(script))
            } else {
                (body, None)
            }
        }
        _ => {
            let mut full = text.clone();
            for f in &line.files {
                full.push('\n');
                full.push_str(&f.data);
                full.push_str(&f.name);
            }
            (full, None)
        }
    };
    if script.as_ref().is_some_and(|s| s.name.contains('/')) {
        return Err(BuildError::step(
            line.span,
            "a heredoc script's delimiter must not contain '/'",
        )
        .with_hint("use a plain word like EOF as the delimiter"));
    }
    let mut argv = apply::shell(cfg);
    argv.push(script_text);
    Ok(RunCommand { argv, script })
}
