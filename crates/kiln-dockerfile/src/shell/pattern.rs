//! Shell patterns of `${V#p}`, `${V%p}` and `${V/p/r}`.
//!
//! BuildKit turns a pattern into a Go regular expression: `*` becomes `.*`
//! (lazy `.*?` for the shortest-match forms), `?` becomes `.`, `\*`, `\?` and
//! `\\` stand for those characters, `\}` and `\/` for `}` and `/`, and every
//! other character is literal (bracket expressions are not supported). Go's
//! `.` does not match a newline. Matching is leftmost-first, as with a
//! backtracking matcher that tries the preferred length of each `*` first.
//!
//! This module implements that matcher directly: a backtracking search with a
//! visited set over (pattern position, text position), so it runs in
//! O(pattern length × text length) time and never needs a regex engine.

use super::unicode::{is_digit, is_letter};

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    /// Exactly this character.
    Lit(char),
    /// Any one character except newline.
    Any,
    /// Any run of characters without newline.
    Star,
}

/// A compiled pattern.
#[derive(Debug)]
struct Pattern {
    elems: Vec<Elem>,
    /// Whether `*` prefers the longest run (else the shortest).
    greedy: bool,
}

/// Why a pattern is invalid: the character after a `\` that may not be
/// escaped (`None` when the `\` ends the pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadEscape(pub(super) Option<char>);

impl Pattern {
    fn parse(src: &str, greedy: bool) -> Result<Self, BadEscape> {
        let mut chars = src.chars().peekable();
        // Go's text scanner skips a byte order mark at the start of its input.
        if chars.peek() == Some(&'\u{FEFF}') {
            chars.next();
        }
        let mut elems = Vec::new();
        while let Some(ch) = chars.next() {
            match ch {
                '*' => elems.push(Elem::Star),
                '?' => elems.push(Elem::Any),
                '\\' => {
                    // `\}` and `\/` only protect the delimiter of `${...}`;
                    // the character itself is taken literally next round.
                    if matches!(chars.peek(), Some('}' | '/')) {
                        continue;
                    }
                    match chars.next() {
                        Some(c @ ('*' | '?' | '\\')) => elems.push(Elem::Lit(c)),
                        other => return Err(BadEscape(other)),
                    }
                }
                c => elems.push(Elem::Lit(c)),
            }
        }
        Ok(Pattern { elems, greedy })
    }

    /// The end of the preferred match starting exactly at `start`, if any.
    /// `visited` marks (element, position) states already known to fail; it
    /// may be shared between calls on the same text.
    fn match_at(&self, text: &[char], start: usize, visited: &mut Visited) -> Option<usize> {
        let mut stack = vec![(0usize, start)];
        while let Some((pi, si)) = stack.pop() {
            if !visited.insert(pi, si) {
                continue;
            }
            let Some(elem) = self.elems.get(pi) else {
                return Some(si);
            };
            let here = text.get(si).copied();
            match *elem {
                Elem::Lit(c) => {
                    if here == Some(c) {
                        stack.push((pi + 1, si + 1));
                    }
                }
                Elem::Any => {
                    if here.is_some_and(|c| c != '\n') {
                        stack.push((pi + 1, si + 1));
                    }
                }
                Elem::Star => {
                    let can_take = here.is_some_and(|c| c != '\n');
                    // The alternative pushed last is tried first.
                    if self.greedy {
                        stack.push((pi + 1, si));
                        if can_take {
                            stack.push((pi, si + 1));
                        }
                    } else {
                        if can_take {
                            stack.push((pi, si + 1));
                        }
                        stack.push((pi + 1, si));
                    }
                }
            }
        }
        None
    }

    /// The leftmost-first match at or after `from`, as `(start, end)`.
    fn find(&self, text: &[char], from: usize) -> Option<(usize, usize)> {
        let mut visited = Visited::new(self.elems.len() + 1, text.len() + 1);
        (from..=text.len()).find_map(|start| {
            self.match_at(text, start, &mut visited)
                .map(|end| (start, end))
        })
    }

    /// The end of the preferred match anchored at the start of `text`.
    fn match_prefix(&self, text: &[char]) -> Option<usize> {
        let mut visited = Visited::new(self.elems.len() + 1, text.len() + 1);
        self.match_at(text, 0, &mut visited)
    }
}

/// A bit set over (pattern element, text position) states.
#[derive(Debug)]
struct Visited {
    width: usize,
    bits: Vec<u64>,
}

impl Visited {
    fn new(rows: usize, width: usize) -> Self {
        let len = rows.saturating_mul(width).div_ceil(64);
        Visited {
            width,
            bits: vec![0; len],
        }
    }

    /// Marks a state; false when it was already marked.
    fn insert(&mut self, row: usize, col: usize) -> bool {
        let idx = row * self.width + col;
        match self.bits.get_mut(idx / 64) {
            Some(word) => {
                let mask = 1u64 << (idx % 64);
                let fresh = *word & mask == 0;
                *word |= mask;
                fresh
            }
            None => false,
        }
    }
}

/// `${V#p}` / `${V##p}`: `value` without the shortest (longest when
/// `greedy`) prefix matching `pattern`.
pub(super) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, BadEscape> {
    let pat = Pattern::parse(pattern, greedy)?;
    let text: Vec<char> = value.chars().collect();
    Ok(match pat.match_prefix(&text) {
        Some(end) => text.get(end..).unwrap_or_default().iter().collect(),
        None => value.to_owned(),
    })
}

/// `${V%p}` / `${V%%p}`: `value` without the shortest (longest when
/// `greedy`) suffix matching `pattern`. Like BuildKit, this reverses both the
/// pattern (keeping `\x` pairs in order) and the value and trims a prefix.
pub(super) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, BadEscape> {
    let reversed: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern while keeping each escape pair `\x` as `\x`.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut pieces: Vec<&[char]> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let len = if chars.get(i) == Some(&'\\') && i + 1 < chars.len() {
            2
        } else {
            1
        };
        pieces.push(chars.get(i..i + len).unwrap_or_default());
        i += len;
    }
    pieces.iter().rev().flat_map(|p| p.iter()).collect()
}

/// `${V/p/r}` (first match) and `${V//p/r}` (every match). For every match,
/// like Go's `Regexp.ReplaceAllString`, `$0` / `${0}` in the replacement stand
/// for the matched text, `$$` for `$`, and other `$name` references for
/// nothing; a single replacement is inserted literally.
pub(super) fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
) -> Result<String, BadEscape> {
    let pat = Pattern::parse(pattern, true)?;
    let text: Vec<char> = value.chars().collect();
    let slice = |from: usize, to: usize| -> String {
        text.get(from..to).unwrap_or_default().iter().collect()
    };
    if !all {
        return Ok(match pat.find(&text, 0) {
            Some((start, end)) => {
                let mut out = slice(0, start);
                out.push_str(replacement);
                out.push_str(&slice(end, text.len()));
                out
            }
            None => value.to_owned(),
        });
    }
    let mut out = String::with_capacity(value.len());
    let mut last_end = 0;
    let mut search = 0;
    while search <= text.len() {
        let Some((start, end)) = pat.find(&text, search) else {
            break;
        };
        out.push_str(&slice(last_end, start));
        // No replacement for an empty match right after the previous match.
        if end > last_end || start == 0 {
            expand_template(&mut out, replacement, &slice(start, end));
        }
        last_end = end;
        search = if search + 1 > end { search + 1 } else { end };
    }
    out.push_str(&slice(last_end, text.len()));
    Ok(out)
}

/// Appends `template` to `out` with Go's `Regexp.Expand` rules for a regular
/// expression without groups: `$0` and `${0}` are the whole match.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(idx) = rest.find('$') {
        out.push_str(rest.get(..idx).unwrap_or_default());
        rest = rest.get(idx + 1..).unwrap_or_default();
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match template_ref(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// Parses `name` or `{name}` at the start of `s` (name: letters, digits, `_`),
/// returning the name and what follows.
fn template_ref(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|&c| is_letter(c) || is_digit(c) || c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = body.get(..len)?;
    let after = body.get(len..)?;
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn reverse_pattern_keeps_escape_pairs() {
        assert_eq!(reverse_pattern(r"a\*c"), r"c\*a");
        assert_eq!(reverse_pattern(r"\\\ab"), r"b\a\\");
        assert_eq!(reverse_pattern(r"ab\"), r"\ba");
        assert_eq!(reverse_pattern("가\\나다"), "다\\나가");
    }

    #[test]
    fn bad_escapes() {
        assert_eq!(Pattern::parse("\\", true).err(), Some(BadEscape(None)));
        assert_eq!(
            Pattern::parse("\\x", true).err(),
            Some(BadEscape(Some('x')))
        );
        assert!(Pattern::parse(r"\\\", true).is_err());
        assert!(Pattern::parse(r"\}\/\*\?\\", true).is_ok());
    }

    #[test]
    fn template_refs() {
        let mut out = String::new();
        expand_template(&mut out, "<$0|${0}|$$|$1|$x|${|$>", "M");
        assert_eq!(out, "<M|M|$|||${|$>");
    }

    #[test]
    fn no_exponential_blowup() {
        let value = "a".repeat(2000);
        let pattern = "*a*a*a*a*a*a*a*a*b";
        assert_eq!(trim_prefix(pattern, &value, true), Ok(value.clone()));
        assert_eq!(replace(pattern, &value, "x", true), Ok(value));
    }
}
