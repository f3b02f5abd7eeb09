//! Per-instruction argument splitting, as BuildKit's line parsers do it: JSON arrays (exec
//! form) or plain strings, whitespace-separated lists, `key=value` pairs.

use super::logical_line::LogicalLine;
use super::node::Token;
use super::split::is_sep;
use crate::error::{Error, ErrorKind, Result};

/// How an instruction's arguments are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgStyle {
    /// JSON array, else the whole text as one string (RUN, CMD, ENTRYPOINT, SHELL).
    MaybeJson,
    /// JSON array, else whitespace-separated words (ADD, COPY, VOLUME).
    MaybeJsonToList,
    /// Whitespace-separated words (FROM, EXPOSE).
    Words,
    /// The whole text as one string (USER, WORKDIR, MAINTAINER, STOPSIGNAL).
    String,
    /// `k=v ...` or legacy `k v` (ENV, LABEL): (key, value, separator) triples.
    NameVal,
    /// Quote-aware words (ARG).
    NameOrNameVal,
    /// A type word, then MaybeJson (HEALTHCHECK).
    Health,
    /// Another instruction (ONBUILD).
    SubCommand,
    /// Unknown instruction: kept for the later stage to reject.
    Ignore,
}

impl ArgStyle {
    pub fn for_keyword(lower: &str) -> ArgStyle {
        match lower {
            "add" | "copy" | "volume" => ArgStyle::MaybeJsonToList,
            "arg" => ArgStyle::NameOrNameVal,
            "cmd" | "entrypoint" | "run" | "shell" => ArgStyle::MaybeJson,
            "env" | "label" => ArgStyle::NameVal,
            "expose" | "from" => ArgStyle::Words,
            "healthcheck" => ArgStyle::Health,
            "maintainer" | "stopsignal" | "user" | "workdir" => ArgStyle::String,
            "onbuild" => ArgStyle::SubCommand,
            _ => ArgStyle::Ignore,
        }
    }
}

/// Arguments of one instruction.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub tokens: Vec<Token>,
    pub json: bool,
}

/// Split `line.text[from..to]` (already trimmed) as `style` says. SubCommand is handled by
/// the caller.
pub(crate) fn split_args(
    style: ArgStyle,
    keyword: &str,
    line: &LogicalLine,
    from: usize,
    to: usize,
    escape: char,
) -> Result<Args> {
    let cx = Cx { line, escape };
    match style {
        ArgStyle::MaybeJson => cx.maybe_json(from, to),
        ArgStyle::MaybeJsonToList => match cx.json(from, to)? {
            Some(args) => Ok(args),
            None => Ok(cx.whitespace_words(from, to)),
        },
        ArgStyle::Words => Ok(cx.whitespace_words(from, to)),
        ArgStyle::String => Ok(cx.string(from, to)),
        ArgStyle::NameVal => cx.name_val(keyword, from, to),
        ArgStyle::NameOrNameVal => Ok(Args {
            tokens: cx
                .words(from, to)
                .into_iter()
                .map(|(w, s, e)| cx.token(w, s, e))
                .collect(),
            json: false,
        }),
        ArgStyle::Health => cx.health(from, to),
        ArgStyle::SubCommand | ArgStyle::Ignore => Ok(Args {
            tokens: vec![cx.token(String::new(), from, to)],
            json: false,
        }),
    }
}

struct Cx<'a> {
    line: &'a LogicalLine,
    escape: char,
}

impl Cx<'_> {
    fn text(&self, from: usize, to: usize) -> &str {
        &self.line.text[from..to]
    }

    fn token(&self, value: String, from: usize, to: usize) -> Token {
        Token {
            value,
            span: self.line.span(from, to),
        }
    }

    fn string(&self, from: usize, to: usize) -> Args {
        let mut args = Args::default();
        if from < to {
            args.tokens
                .push(self.token(self.text(from, to).to_string(), from, to));
        }
        args
    }

    fn maybe_json(&self, from: usize, to: usize) -> Result<Args> {
        if from >= to {
            return Ok(Args::default());
        }
        Ok(match self.json(from, to)? {
            Some(args) => args,
            None => self.string(from, to),
        })
    }

    /// A JSON array of strings; `None` when the text is not a JSON array at all (then the
    /// caller falls back to the shell form); an error when it is an array of non-strings.
    fn json(&self, from: usize, to: usize) -> Result<Option<Args>> {
        let text = self.text(from, to);
        let trimmed = text.trim_start();
        if !trimmed.starts_with('[') {
            return Ok(None);
        }
        let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(trimmed) else {
            return Ok(None);
        };
        let mut args = Args {
            tokens: Vec::with_capacity(items.len()),
            json: true,
        };
        for item in items {
            let serde_json::Value::String(s) = item else {
                return Err(Error::new(
                    ErrorKind::Syntax,
                    self.line.span(from, to),
                    "when using JSON array syntax, arrays must be comprised of strings only",
                )
                .with_hint("quote every element, e.g. [\"echo\", \"1\"], or drop the brackets for the shell form"));
            };
            args.tokens.push(self.token(s, from, to));
        }
        Ok(Some(args))
    }

    fn whitespace_words(&self, from: usize, to: usize) -> Args {
        let text = self.text(from, to);
        let mut args = Args::default();
        let mut start = None;
        for (i, c) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
        {
            match (is_sep(c), start) {
                (true, Some(s)) => {
                    args.tokens
                        .push(self.token(text[s..i].to_string(), from + s, from + i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        args
    }

    /// Quote-aware words: quotes and escapes are kept in the words, white space outside
    /// quotes separates them. Returns (word, start, end).
    fn words(&self, from: usize, to: usize) -> Vec<(String, usize, usize)> {
        let text = self.text(from, to);
        let mut words = Vec::new();
        let mut word = String::new();
        let mut start = 0;
        let mut in_word = false;
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                } else if c == self.escape && q != '\'' {
                    match chars.next() {
                        Some((_, n)) => {
                            word.push(c);
                            word.push(n);
                        }
                        None => quote = None,
                    }
                    continue;
                }
                word.push(c);
                continue;
            }
            if !in_word {
                if c.is_whitespace() {
                    continue;
                }
                in_word = true;
                start = i;
            }
            if c.is_whitespace() {
                if blank_ok || !word.is_empty() {
                    words.push((std::mem::take(&mut word), from + start, from + i));
                }
                in_word = false;
                blank_ok = false;
                continue;
            }
            if c == '\'' || c == '"' {
                quote = Some(c);
                blank_ok = true;
            }
            if c == self.escape {
                if chars.peek().is_none() {
                    continue;
                }
                word.push(c);
                if let Some((_, n)) = chars.next() {
                    word.push(n);
                }
                continue;
            }
            word.push(c);
        }
        if (in_word || quote.is_some()) && (blank_ok || !word.is_empty()) {
            words.push((word, from + start, to));
        }
        words
    }

    fn name_val(&self, keyword: &str, from: usize, to: usize) -> Result<Args> {
        let words = self.words(from, to);
        let mut args = Args::default();
        let Some(first) = words.first() else {
            return Ok(args);
        };
        if !first.0.contains('=') {
            // Legacy form `ENV key the rest of the line`.
            let text = self.text(from, to);
            let Some(sep) = text.find(is_sep) else {
                return Err(Error::new(
                    ErrorKind::Instruction,
                    self.line.span(from, to),
                    format!("{keyword} must have two arguments"),
                )
                .with_hint(format!(
                    "write `{keyword} {}=value` (or `{keyword} {} value`)",
                    text, text
                )));
            };
            let after = &text[sep..];
            let value_start = from + sep + (after.len() - after.trim_start_matches(is_sep).len());
            args.tokens
                .push(self.token(text[..sep].to_string(), from, from + sep));
            args.tokens
                .push(self.token(self.text(value_start, to).to_string(), value_start, to));
            args.tokens.push(self.token(String::new(), to, to));
            return Ok(args);
        }
        for (word, s, e) in words {
            let Some((k, v)) = word.split_once('=') else {
                return Err(Error::new(
                    ErrorKind::Instruction,
                    self.line.span(s, e),
                    format!(
                        "Syntax error - can't find = in {}. Must be of the form: name=value",
                        super::dump::go_quote(&word)
                    ),
                )
                .with_hint("quote values that contain spaces: name=\"a b\""));
            };
            let eq = s + k.len();
            args.tokens.push(self.token(k.to_string(), s, eq));
            args.tokens.push(self.token(v.to_string(), eq + 1, e));
            args.tokens.push(self.token("=".to_string(), eq, eq + 1));
        }
        Ok(args)
    }

    fn health(&self, from: usize, to: usize) -> Result<Args> {
        let text = self.text(from, to);
        let sep = text.find(char::is_whitespace).unwrap_or(text.len());
        if sep == 0 {
            return Ok(Args::default());
        }
        let rest = &text[sep..];
        let next = from + sep + (rest.len() - rest.trim_start().len());
        let mut args = self.maybe_json(next, to)?;
        args.tokens
            .insert(0, self.token(text[..sep].to_string(), from, from + sep));
        Ok(args)
    }
}
