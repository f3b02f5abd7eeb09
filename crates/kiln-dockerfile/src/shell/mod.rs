//! Shell-word expansion with Docker's rules (not a real shell).
//!
//! This follows the observable behaviour of BuildKit's Dockerfile word lexer on
//! Unix: quotes are removed, the escape character (`\` or `` ` ``) escapes the
//! next character, and `$NAME` / `${NAME...}` references are expanded from an
//! environment. Supported forms:
//!
//! | form | value |
//! | --- | --- |
//! | `$V`, `${V}` | value of `V`, empty when unset |
//! | `${V:-w}` / `${V-w}` | `w` when `V` is unset or empty / unset |
//! | `${V:+w}` / `${V+w}` | `w` when `V` is set and non-empty / set |
//! | `${V:?m}` / `${V?m}` | error `V: m` when `V` is unset or empty / unset |
//! | `${V#p}` / `${V##p}` | remove the shortest / longest prefix matching `p` |
//! | `${V%p}` / `${V%%p}` | remove the shortest / longest suffix matching `p` |
//! | `${V/p/r}` / `${V//p/r}` | replace the first / every match of `p` with `r` |
//!
//! Patterns know `*` (any run of characters except newline), `?` (one
//! character except newline) and `\*`, `\?`, `\\` for the literal characters;
//! every other character, `[` and `]` included, matches itself.
//!
//! Positional and special parameters (`$1`, `$999`, `$@`, `$*`, `$#`, `$?`,
//! `$-`, `$$`, `$!`, `$0`) are looked up like any other name and so are
//! normally empty.

mod env;
mod lex;
mod pattern;
mod unicode;
mod words;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

/// Variable lookup. Last definition wins for slices of pairs (as Docker's env lists).
pub trait LookupEnv {
    /// The value of `name`, or `None` when it is not defined.
    fn lookup(&self, name: &str) -> Option<String>;
}

/// Options of the expander, like the fields of BuildKit's `shell.Lex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character: `\` by default, `` ` `` with `# escape=``.
    pub escape: char,
    /// Keep quote characters in the output (quoted text is still protected
    /// from word splitting).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written (`$V`, `${V}`,
    /// `${V:-w}`...) instead of expanding them; the operand is still expanded.
    pub skip_unset_env: bool,
    /// Treat `'` and `"` as ordinary characters.
    pub skip_process_quotes: bool,
}

/// Result of expanding a word: the text and which variable names were found /
/// not found (BuildKit's `ProcessWordWithMatches`), for cache keys and the
/// undefined-variable lint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expansion {
    /// The expanded word.
    pub word: String,
    /// Names that were looked up and defined.
    pub matched: BTreeSet<String>,
    /// Names that were looked up and not defined.
    pub unmatched: BTreeSet<String>,
}

/// An expansion error: message as a user should read it, and the char offset
/// into the input word of the construct the error is about (the opening quote
/// of an unterminated string, the `$` of a `${...}` reference, the modifier
/// of an unsupported `${V<modifier>...}`, the start of an invalid pattern).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpandError {
    /// What went wrong and what to do about it.
    pub message: String,
    /// Offset in chars (not bytes) into the input word.
    pub offset: usize,
}

impl ExpandError {
    pub(crate) fn new(message: impl Into<String>, offset: usize) -> Self {
        ExpandError {
            message: message.into(),
            offset,
        }
    }
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// A lexer with the given escape character (`\` or `` ` ``) and all
    /// options off.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// Expand one word (BuildKit's `ProcessWord`): quotes removed, variables
    /// expanded, no splitting.
    pub fn expand_word(&self, word: &str, env: &dyn LookupEnv) -> Result<Expansion, ExpandError> {
        // Most words have nothing to expand: no variable, quote, escape or `<`. The
        // expander would copy them character by character; the result is the word, less
        // a byte order mark at the start (which the scanner skips).
        if !word.contains(['$', '<', '\'', '"', self.escape]) {
            return Ok(Expansion {
                word: word.strip_prefix('\u{feff}').unwrap_or(word).to_string(),
                matched: BTreeSet::new(),
                unmatched: BTreeSet::new(),
            });
        }
        let mut expander = lex::Expander::new(self, env, word);
        let (text, _) = expander.run()?;
        let (matched, unmatched) = expander.into_names();
        Ok(Expansion {
            word: text,
            matched,
            unmatched,
        })
    }

    /// Expand and split into words (BuildKit's `ProcessWords`): the results of
    /// unquoted variable expansions are split on whitespace, quoted and escaped
    /// text is kept together, and empty words are dropped.
    pub fn expand_words(
        &self,
        word: &str,
        env: &dyn LookupEnv,
    ) -> Result<Vec<String>, ExpandError> {
        let mut expander = lex::Expander::new(self, env, word);
        let (_, words) = expander.run()?;
        Ok(words)
    }
}
