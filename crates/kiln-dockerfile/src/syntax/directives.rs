//! Parser directives: `# syntax=`, `# escape=`, `# check=`. They are only recognised before
//! the first instruction, comment or blank line that is not itself a directive; names are
//! case-insensitive and each may appear once.

use super::node::Directive;
use crate::error::{Error, ErrorKind, Result};
use crate::span::Span;

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

#[derive(Debug, Default)]
pub(crate) struct DirectiveParser {
    done: bool,
    pub found: Vec<Directive>,
}

impl DirectiveParser {
    /// Look at one source line (line ending removed, leading white space already trimmed for
    /// lines that start an instruction). Returns the directive it holds, if any.
    pub fn line(&mut self, text: &str, line_no: u32) -> Result<Option<&Directive>> {
        if self.done {
            return Ok(None);
        }
        let Some((name, value, col)) = split_directive(text) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        let span = Span::new(
            crate::span::Pos::new(line_no, 1),
            crate::span::Pos::new(line_no, text.chars().count() as u32 + 1),
        );
        if self.found.iter().any(|d| d.name == name) {
            return Err(Error::new(
                ErrorKind::Directive,
                span,
                format!("only one {name} parser directive can be used"),
            )
            .with_hint(format!("remove the second `# {name}=` line")));
        }
        if name == "escape" && value != "\\" && value != "`" {
            let mut span = span;
            span.start.col = col;
            return Err(Error::new(
                ErrorKind::Directive,
                span,
                format!("invalid escape token '{value}' does not match ` or \\"),
            )
            .with_hint("use `# escape=\\` (the default) or `# escape=`` (backtick)"));
        }
        self.found.push(Directive {
            name,
            value: value.to_string(),
            span,
        });
        Ok(self.found.last())
    }
}

/// Split `# name = value` into name, value and the value's 1-based column.
fn split_directive(text: &str) -> Option<(&str, &str, u32)> {
    let rest = text.strip_prefix('#')?;
    let rest = rest.trim_start();
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    let after = after.trim_start_matches(is_re_space).strip_prefix('=')?;
    let trimmed = after.trim_start_matches(is_re_space);
    let (start, value) = if trimmed.trim_end_matches(is_re_space).is_empty() {
        // `\s*=\s*(.+?)\s*$` still matches white space alone: the value is its last
        // character (so `# escape= ` is an invalid escape token, as in BuildKit).
        let last = after.chars().last()?;
        let start = after.len() - last.len_utf8();
        (start, &after[start..])
    } else {
        let start = after.len() - trimmed.len();
        (start, trimmed.trim_end_matches(is_re_space))
    };
    let value_offset = text.len() - after.len() + start;
    let col = text[..value_offset].chars().count() as u32 + 1;
    Some((name, value, col))
}

/// White space as RE2's `\s` knows it.
fn is_re_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_forms() {
        assert_eq!(split_directive("# escape=`"), Some(("escape", "`", 10)));
        assert_eq!(
            split_directive("#SYNTAX = a b  "),
            Some(("SYNTAX", "a b", 11))
        );
        assert_eq!(split_directive("# escape"), None);
        assert_eq!(split_directive("# escape="), None);
        assert_eq!(split_directive("# escape=  \t"), Some(("escape", "\t", 12)));
        assert_eq!(split_directive("# 1x=y"), None);
        assert_eq!(split_directive("escape=`"), None);
    }

    #[test]
    fn repeated_and_late_directives() {
        let mut p = DirectiveParser::default();
        assert!(p.line("# escape=`", 1).is_ok());
        let err = p.line("# ESCAPE=\\", 2).err().map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some("only one escape parser directive can be used")
        );
        let mut p = DirectiveParser::default();
        assert!(matches!(p.line("# hello", 1), Ok(None)));
        assert!(matches!(p.line("# escape=`", 2), Ok(None)));
        assert!(p.found.is_empty());
    }
}
