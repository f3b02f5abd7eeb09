//! The scanner: quotes, escapes and `$` references, one character at a time.

use std::collections::BTreeSet;

use super::pattern::{self, BadEscape};
use super::unicode::{is_digit, is_letter};
use super::words::Words;
use super::{ExpandError, Lexer, LookupEnv};

/// A cursor over the characters of the input word.
#[derive(Debug)]
struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn new(word: &str) -> Self {
        let chars: Vec<char> = word.chars().collect();
        // Like Go's text scanner, ignore a byte order mark at the very start.
        let pos = usize::from(chars.first() == Some(&'\u{FEFF}'));
        Scanner { chars, pos }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += 1;
        Some(ch)
    }
}

/// One expansion of one word.
pub(super) struct Expander<'a> {
    lexer: &'a Lexer,
    env: &'a dyn LookupEnv,
    sc: Scanner,
    /// The word being built, shared by all scan levels (see [`Words`]).
    word_buf: String,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
    /// How many `${...}` references enclose the scanner.
    depth: usize,
}

/// The deepest nesting of `${...}` references accepted. BuildKit has no
/// limit; this one keeps the recursive scanner well within a thread's stack.
pub(super) const MAX_NESTING: usize = 100;

/// Names of special parameters that a single character makes.
fn is_special_param(ch: char) -> bool {
    matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// Whitespace kept after a `<<` heredoc marker.
fn is_heredoc_space(ch: char) -> bool {
    matches!(ch, '\t' | '\r' | ' ')
}

fn missing_brace(dollar: usize) -> ExpandError {
    ExpandError::new(
        "unexpected end of input: missing closing '}' of '${': close the variable reference with '}' (escape '$' to write it literally)",
        dollar,
    )
}

fn missing_quote(quote: char, open: usize) -> ExpandError {
    let shown = if quote == '"' { "'\"'" } else { "\"'\"" };
    ExpandError::new(
        format!("unexpected end of input: missing closing quote {shown}: add the closing quote or escape the opening one"),
        open,
    )
}

fn unsupported_modifier(name: &str, modifier: &str, offset: usize) -> ExpandError {
    ExpandError::new(
        format!(
            "bad substitution: unsupported modifier '{modifier}' in '${{{name}{modifier}...}}': use one of :- - :+ + :? ? # ## % %% / //"
        ),
        offset,
    )
}

fn bad_pattern(pattern: &str, err: BadEscape, offset: usize) -> ExpandError {
    let what = match err.0 {
        Some(c) => format!("'\\{c}' is not a valid escape"),
        None => "'\\' at the end escapes nothing".to_owned(),
    };
    ExpandError::new(
        format!("invalid pattern '{pattern}' in substitution: {what}; only \\*, \\?, \\\\, \\}} and \\/ may be escaped"),
        offset,
    )
}

impl<'a> Expander<'a> {
    pub(super) fn new(lexer: &'a Lexer, env: &'a dyn LookupEnv, word: &str) -> Self {
        Expander {
            lexer,
            env,
            sc: Scanner::new(word),
            word_buf: String::new(),
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
            depth: 0,
        }
    }

    /// Expands the whole word: the text and its split words.
    pub(super) fn run(&mut self) -> Result<(String, Vec<String>), ExpandError> {
        self.scan_until(None, self.lexer.raw_escapes)
    }

    /// The defined and undefined names looked up so far.
    pub(super) fn into_names(self) -> (BTreeSet<String>, BTreeSet<String>) {
        (self.matched, self.unmatched)
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        let value = self.env.lookup(name);
        let set = if value.is_some() {
            &mut self.matched
        } else {
            &mut self.unmatched
        };
        if !set.contains(name) {
            set.insert(name.to_owned());
        }
        value
    }

    /// Scans up to and including `stop` (or to the end of input when `None`).
    /// `raw_escapes` keeps escape characters at this level (BuildKit turns it
    /// on for patterns and replacements and off for other operands).
    fn scan_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        self.word_buf.clear();
        let mut words = Words::default();
        let quotes = !self.lexer.skip_process_quotes;

        while let Some(ch) = self.sc.peek() {
            if stop == Some(ch) {
                self.sc.next();
                return Ok((result, words.finish(&mut self.word_buf)));
            }
            match ch {
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    words.add_str(&mut self.word_buf, &text);
                    continue;
                }
                '<' => {
                    let text = self.possible_heredoc();
                    result.push_str(&text);
                    words.add_raw_str(&mut self.word_buf, &text);
                    continue;
                }
                '\'' | '"' if quotes => {
                    let text = if ch == '\'' {
                        self.single_quote()?
                    } else {
                        self.double_quote(raw_escapes)?
                    };
                    result.push_str(&text);
                    words.add_raw_str(&mut self.word_buf, &text);
                    continue;
                }
                _ => {}
            }
            self.sc.next();
            if ch == self.lexer.escape {
                if raw_escapes {
                    words.add_raw_char(&mut self.word_buf, ch);
                    result.push(ch);
                }
                // The escape character at the very end is dropped.
                let Some(escaped) = self.sc.next() else {
                    break;
                };
                words.add_raw_char(&mut self.word_buf, escaped);
                result.push(escaped);
            } else {
                words.add_char(&mut self.word_buf, ch);
                result.push(ch);
            }
        }
        match stop {
            // Callers report what is missing; this only signals the end.
            Some(c) => Err(ExpandError::new(
                format!("unexpected end of input: missing '{c}'"),
                self.sc.pos,
            )),
            None => Ok((result, words.finish(&mut self.word_buf))),
        }
    }

    /// `'...'`: everything literal up to the next `'`.
    fn single_quote(&mut self) -> Result<String, ExpandError> {
        let open = self.sc.pos;
        let raw = self.lexer.raw_quotes;
        let mut out = String::new();
        self.sc.next();
        if raw {
            out.push('\'');
        }
        loop {
            match self.sc.next() {
                None => return Err(missing_quote('\'', open)),
                Some('\'') => {
                    if raw {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// `"..."`: `$` references expand; the escape character escapes only
    /// `"`, `$` and itself and is kept literally before anything else.
    fn double_quote(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        let open = self.sc.pos;
        let raw = self.lexer.raw_quotes;
        let escape = self.lexer.escape;
        let mut out = String::new();
        self.sc.next();
        if raw {
            out.push('"');
        }
        loop {
            match self.sc.peek() {
                None => return Err(missing_quote('"', open)),
                Some('"') => {
                    self.sc.next();
                    if raw {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let text = self.dollar()?;
                    out.push_str(&text);
                }
                Some(mut ch) => {
                    self.sc.next();
                    if ch == escape {
                        if raw_escapes {
                            out.push(ch);
                        }
                        match self.sc.peek() {
                            // An escape right before the end: the end
                            // reports the missing quote next round.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == escape => {
                                self.sc.next();
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    /// `<` or `<<` plus the blanks after it, kept together as one piece.
    fn possible_heredoc(&mut self) -> String {
        self.sc.next();
        if self.sc.peek() != Some('<') {
            return "<".to_owned();
        }
        self.sc.next();
        let mut out = "<<".to_owned();
        while let Some(c) = self.sc.peek().filter(|&c| is_heredoc_space(c)) {
            out.push(c);
            self.sc.next();
        }
        out
    }

    /// A variable name: a run of digits (positional parameter), one special
    /// parameter character, or letters, digits and `_`. Empty when none.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.sc.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(d) = self.sc.peek().filter(|&c| is_digit(c)) {
                    name.push(d);
                    self.sc.next();
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.sc.next();
                return ch.to_string();
            }
            if !is_letter(ch) && !is_digit(ch) && ch != '_' {
                break;
            }
            name.push(ch);
            self.sc.next();
        }
        name
    }

    /// A `$` reference, with the scanner on the `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        let start = self.sc.pos;
        self.sc.next();
        if self.sc.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.sc.next();
        if self.depth >= MAX_NESTING {
            return Err(ExpandError::new(
                format!("too many nested '${{...}}' references (more than {MAX_NESTING}): simplify the word"),
                start,
            ));
        }
        self.depth += 1;
        let result = self.braced(start);
        self.depth -= 1;
        result
    }

    /// A `${...}` reference, with the scanner after the `{`.
    fn braced(&mut self, start: usize) -> Result<String, ExpandError> {
        match self.sc.peek() {
            None => return Err(missing_brace(start)),
            Some('}') => {
                return Err(ExpandError::new(
                    "bad substitution: ${} is empty: put a variable name between the braces, or escape '$' to write it literally",
                    start,
                ))
            }
            Some(c @ ('{' | ':')) => {
                return Err(ExpandError::new(
                    format!("bad substitution: '{c}' after '${{': a variable name must follow '${{'"),
                    start,
                ))
            }
            Some(_) => {}
        }
        let name = self.name();
        let op_pos = self.sc.pos;
        match self.sc.next() {
            None => Err(missing_brace(start)),
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(op @ (':' | '+' | '-' | '?' | '#' | '%')) => {
                self.modifier(&name, op, start, op_pos)
            }
            Some('/') => self.substitute(&name, start),
            Some(other) => Err(unsupported_modifier(&name, &other.to_string(), op_pos)),
        }
    }

    /// Scans an operand that ends with `stop`; an error found at the end of
    /// input becomes `at_end` (the outer construct is what is unclosed).
    fn operand(
        &mut self,
        stop: char,
        raw_escapes: bool,
        at_end: impl FnOnce() -> ExpandError,
    ) -> Result<String, ExpandError> {
        match self.scan_until(Some(stop), raw_escapes) {
            Ok((text, _)) => Ok(text),
            Err(_) if self.sc.peek().is_none() => Err(at_end()),
            Err(err) => Err(err),
        }
    }

    /// `${V<op>word}` after the operator character `first`.
    fn modifier(
        &mut self,
        name: &str,
        first: char,
        start: usize,
        op_pos: usize,
    ) -> Result<String, ExpandError> {
        let mut op = first;
        let mut spelled = first.to_string();
        let null_is_unset = first == ':';
        if null_is_unset {
            op = self.sc.next().ok_or_else(|| missing_brace(start))?;
            spelled.push(op);
        }
        let is_trim = op == '#' || op == '%';
        if null_is_unset && is_trim {
            return Err(ExpandError::new(
                format!("bad substitution: '{spelled}' is not supported in '${{{name}{spelled}...}}': remove the ':' (use '{op}' or '{op}{op}')"),
                op_pos,
            ));
        }
        let word = self.operand('}', is_trim, || missing_brace(start))?;
        let value = self.lookup(name);
        if self.lexer.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{spelled}{word}}}"));
        }
        let unset_or_null = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' => Ok(if unset_or_null {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset_or_null { String::new() } else { word }),
            '?' => match value {
                Some(v) if !unset_or_null => Ok(v),
                _ => {
                    let message = if !word.is_empty() {
                        word
                    } else if value.is_none() {
                        "is not allowed to be unset".to_owned()
                    } else {
                        "is not allowed to be empty".to_owned()
                    };
                    Err(ExpandError::new(format!("{name}: {message}"), start))
                }
            },
            '#' | '%' => {
                let (pattern, greedy) = match word.strip_prefix(op) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                let value = value.unwrap_or_default();
                let trimmed = if op == '%' {
                    pattern::trim_suffix(pattern, &value, greedy)
                } else {
                    pattern::trim_prefix(pattern, &value, greedy)
                };
                trimmed.map_err(|e| bad_pattern(pattern, e, op_pos + 1))
            }
            _ => Err(unsupported_modifier(name, &spelled, op_pos)),
        }
    }

    /// `${V/pattern/replacement}` and `${V//pattern/replacement}`, with the
    /// scanner after the first `/`.
    fn substitute(&mut self, name: &str, start: usize) -> Result<String, ExpandError> {
        let all = self.sc.peek() == Some('/');
        if all {
            self.sc.next();
        }
        let pattern_pos = self.sc.pos;
        let pattern = self.operand('/', true, || {
            ExpandError::new(
                format!("unexpected end of input: missing '/' after the pattern in '${{{name}/pattern/replacement}}'"),
                start,
            )
        })?;
        let replacement = self.operand('}', true, || missing_brace(start))?;
        let value = self.lookup(name);
        if self.lexer.skip_unset_env && value.is_none() {
            // BuildKit writes `//` back as a single `/`.
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        pattern::replace(&pattern, &value.unwrap_or_default(), &replacement, all)
            .map_err(|e| bad_pattern(&pattern, e, pattern_pos))
    }
}
