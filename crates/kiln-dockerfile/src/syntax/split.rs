//! Splitting an instruction line into keyword, builder flags (`--x=y` before the arguments)
//! and the rest, the way BuildKit's parser does.

use super::logical_line::LogicalLine;
use super::node::Token;

/// The parts of one instruction line. Offsets are byte offsets into the joined text.
#[derive(Debug)]
pub(crate) struct SplitLine {
    pub keyword: Token,
    pub flags: Vec<Token>,
    /// Start and end of the arguments (white space trimmed).
    pub args: (usize, usize),
}

/// White space in BuildKit's `[\t\v\f\r ]+` separator.
pub(crate) fn is_sep(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Split the text `line.text[from..to]` (an instruction, or ONBUILD's sub-instruction).
pub(crate) fn split_command(line: &LogicalLine, from: usize, to: usize, escape: char) -> SplitLine {
    let text = &line.text[from..to];
    let start = from + (text.len() - text.trim_start().len());
    // All white space (a line continued only by blank text): empty, not reversed.
    let end = (from + text.trim_end().len()).max(start);
    let body = &line.text[start..end];
    let (kw_end, rest_start) = match body.find(is_sep) {
        Some(i) => {
            let after = &body[i..];
            (
                start + i,
                start + i + (after.len() - after.trim_start_matches(is_sep).len()),
            )
        }
        None => (end, end),
    };
    let keyword = Token {
        value: line.text[start..kw_end].to_string(),
        span: line.span(start, kw_end),
    };
    let (flags, args_start) = extract_flags(line, rest_start, end, escape);
    let args_text = &line.text[args_start..end];
    let args_start = args_start + (args_text.len() - args_text.trim_start().len());
    SplitLine {
        keyword,
        flags,
        args: (args_start, end),
    }
}

#[derive(PartialEq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Read `--flag` words from `line.text[from..to]`; returns them and where the arguments start.
/// A word `--` ends the flags; quotes group, the escape character takes the next character.
fn extract_flags(line: &LogicalLine, from: usize, to: usize, escape: char) -> (Vec<Token>, usize) {
    let text = &line.text[from..to];
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut word_start = 0;
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut chars = text.char_indices().peekable();
    let finish = |word: &str, start: usize, end: usize, blank_ok: bool, flags: &mut Vec<Token>| {
        if word != "--" && (blank_ok || !word.is_empty()) {
            flags.push(Token {
                value: word.to_string(),
                span: line.span(from + start, from + end),
            });
        }
    };
    while let Some((i, c)) = chars.next() {
        match phase {
            Phase::Spaces => {
                if c.is_whitespace() {
                    continue;
                }
                let next_dash = matches!(chars.peek(), Some((_, '-')));
                if c != '-' || !next_dash {
                    return (flags, from + i);
                }
                phase = Phase::Word;
                word_start = i;
                word.push(c);
            }
            Phase::Word => {
                if c.is_whitespace() {
                    if word == "--" {
                        return (flags, from + i);
                    }
                    finish(&word, word_start, i, blank_ok, &mut flags);
                    word.clear();
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                } else if c == escape {
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    }
                } else {
                    word.push(c);
                }
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                } else if c == escape {
                    match chars.next() {
                        Some((_, n)) => word.push(n),
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(c);
                }
            }
        }
    }
    if phase != Phase::Spaces {
        finish(&word, word_start, text.len(), blank_ok, &mut flags);
    }
    (flags, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (String, Vec<String>, String) {
        let mut l = LogicalLine::default();
        l.push(s, 1, 1);
        let r = split_command(&l, 0, s.len(), '\\');
        (
            r.keyword.value,
            r.flags.into_iter().map(|t| t.value).collect(),
            l.text[r.args.0..r.args.1].to_string(),
        )
    }

    /// Found by the `dockerfile` fuzz target: `__`, then ` \`, ` `, ` \`, ` ` made a logical
    /// line of white space only, and splitting it sliced `text[1..0]`.
    #[test]
    fn a_line_of_white_space_only_does_not_panic() {
        assert_eq!(split(" "), (String::new(), vec![], String::new()));
        assert_eq!(split(" \t "), (String::new(), vec![], String::new()));
        let err = crate::syntax::parse_bytes(b"FROM scratch\n \\\n \n \\\n ")
            .and_then(|ast| crate::instructions::from_ast(&ast).map(|_| ()))
            .expect_err("an instruction without a name is rejected");
        assert_eq!(err.message, "continued lines that hold no instruction");
        assert_eq!(err.span.start.line, 4);
    }

    #[test]
    fn flags_and_arguments() {
        assert_eq!(
            split("COPY foo /tmp/"),
            ("COPY".into(), vec![], "foo /tmp/".into())
        );
        assert_eq!(
            split("  COPY --user=me --doit=true foo /tmp/  "),
            (
                "COPY".into(),
                vec!["--user=me".into(), "--doit=true".into()],
                "foo /tmp/".into()
            )
        );
        assert_eq!(
            split("COPY -- foo /x"),
            ("COPY".into(), vec![], "foo /x".into())
        );
        assert_eq!(
            split("CMD --doit -- [ ]"),
            ("CMD".into(), vec!["--doit".into()], "[ ]".into())
        );
        assert_eq!(
            split(r#"RUN --mount="type=bind,a b" \x ls"#),
            (
                "RUN".into(),
                vec!["--mount=type=bind,a b".into()],
                r"\x ls".into()
            )
        );
        assert_eq!(
            split("RUN --x"),
            ("RUN".into(), vec!["--x".into()], "".into())
        );
        assert_eq!(split("FROM"), ("FROM".into(), vec![], "".into()));
        assert_eq!(split("RUN -x"), ("RUN".into(), vec![], "-x".into()));
    }
}
