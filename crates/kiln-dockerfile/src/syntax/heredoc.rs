//! Heredoc markers in RUN, COPY and ADD lines (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`).

use crate::shell::{ExpandError, Lexer};

/// A heredoc marker found in an instruction line, before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeredocMarker {
    pub name: String,
    pub fd: u32,
    pub expand: bool,
    pub chomp: bool,
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// Every heredoc marker in `line`, in order. Words are split as the shell would, keeping
/// quotes and escapes, so that `"<<EOF"` inside quotes is not a marker.
pub(crate) fn markers_in_line(line: &str) -> Result<Vec<HeredocMarker>, ExpandError> {
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    // A line the shell lexer cannot split (an open quote) simply has no heredocs.
    let words = lex.expand_words(line, &no_env()).unwrap_or_default();
    let mut out = Vec::new();
    for word in words {
        if let Some(m) = parse_marker(&word)? {
            out.push(m);
        }
    }
    Ok(out)
}

/// Parse one word as a heredoc marker: `[fd]<<[-]NAME` where NAME may be quoted (then the
/// body is not expanded). Returns `None` for words that are not markers.
pub fn parse_marker(word: &str) -> Result<Option<HeredocMarker>, ExpandError> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0c']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let mut lex = Lexer::new('\\');
    lex.skip_unset_env = true;
    let words = lex.expand_words(rest, &no_env())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    lex.raw_quotes = true;
    let raw = lex.expand_words(rest, &no_env())?;
    let [raw_name] = raw.as_slice() else {
        return Err(ExpandError {
            message: format!(
                "heredoc delimiter {rest:?} splits differently with and without quotes"
            ),
            offset: 0,
        });
    };
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(HeredocMarker {
        name: name.clone(),
        fd: word[..digits].parse().unwrap_or(0),
        expand: quotes(name) == quotes(raw_name),
        chomp,
    }))
}

/// Apply `<<-`: remove leading tabs from every line of a heredoc body.
pub fn chomp_tabs(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}
