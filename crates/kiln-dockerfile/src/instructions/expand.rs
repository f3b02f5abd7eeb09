//! Which instructions and arguments are expanded with build args and environment, as
//! `docker build` does it. RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD
//! are never expanded by the builder (the shell in the container does it at run time);
//! `COPY --from` is not expanded (BuildKit refuses variables there).

use super::run_mount::parse_mount;
use super::{Command, Copy, KeyValue, Mount, Run};
use crate::error::{Error, ErrorKind, Result};
use crate::shell::{ExpandError, Expansion, Lexer, LookupEnv};
use crate::span::{Pos, Span};
use crate::syntax::Token;

/// Expands words against an environment and remembers which names were undefined.
pub struct Expander<'a> {
    pub lexer: Lexer,
    pub env: &'a dyn LookupEnv,
    /// Variables referenced but not defined, with where.
    pub unmatched: Vec<(String, Span)>,
}

impl std::fmt::Debug for Expander<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expander")
            .field("lexer", &self.lexer)
            .finish_non_exhaustive()
    }
}

impl<'a> Expander<'a> {
    pub fn new(escape: char, env: &'a dyn LookupEnv) -> Self {
        Expander {
            lexer: Lexer::new(escape),
            env,
            unmatched: Vec::new(),
        }
    }

    /// Expand one word.
    pub fn word(&mut self, tok: &Token) -> Result<Token> {
        let Expansion {
            word, unmatched, ..
        } = self
            .lexer
            .expand_word(&tok.value, self.env)
            .map_err(|e| expand_error(tok, &e))?;
        self.unmatched
            .extend(unmatched.into_iter().map(|n| (n, tok.span)));
        Ok(Token {
            value: word,
            span: tok.span,
        })
    }

    /// Expand and split into words (EXPOSE).
    pub fn words(&mut self, tok: &Token) -> Result<Vec<Token>> {
        // Record undefined names with a single-word pass; the split itself comes from
        // expand_words.
        self.word(tok)?;
        let words = self
            .lexer
            .expand_words(&tok.value, self.env)
            .map_err(|e| expand_error(tok, &e))?;
        Ok(words
            .into_iter()
            .map(|w| Token {
                value: w,
                span: tok.span,
            })
            .collect())
    }

    fn opt(&mut self, tok: &Option<Token>) -> Result<Option<Token>> {
        tok.as_ref().map(|t| self.word(t)).transpose()
    }

    fn all(&mut self, toks: &[Token]) -> Result<Vec<Token>> {
        toks.iter().map(|t| self.word(t)).collect()
    }

    fn pairs(&mut self, kvs: &[KeyValue]) -> Result<Vec<KeyValue>> {
        kvs.iter()
            .map(|kv| {
                Ok(KeyValue {
                    key: self.word(&kv.key)?,
                    value: self.word(&kv.value)?,
                    legacy: kv.legacy,
                })
            })
            .collect()
    }

    fn copy(&mut self, c: &Copy, add: bool) -> Result<Copy> {
        let mut out = c.clone();
        out.chown = self.opt(&c.chown)?;
        out.chmod = self.opt(&c.chmod)?;
        if add {
            out.checksum = self.opt(&c.checksum)?;
        }
        out.sources = self.all(&c.sources)?;
        out.dest = self.word(&c.dest)?;
        for file in out.inline.iter_mut().filter(|f| f.expand) {
            file.data = self.heredoc_body(&file.data, file.span)?;
            // Expanded once and for all: nothing is left to expand.
            file.expand = false;
        }
        Ok(out)
    }

    /// A COPY/ADD heredoc body with an unquoted delimiter: variables are expanded, quotes
    /// are kept, and `\` is the escape character whatever the escape directive says (as
    /// BuildKit does). `span` covers the body's lines.
    fn heredoc_body(&mut self, body: &str, span: Span) -> Result<String> {
        let mut lexer = Lexer::new('\\');
        lexer.skip_process_quotes = true;
        let Expansion {
            word, unmatched, ..
        } = lexer.expand_word(body, self.env).map_err(|e| {
            // Point at the line and column of the body the error is about.
            let before: String = body.chars().take(e.offset).collect();
            let line = span.start.line + before.matches('\n').count() as u32;
            let col = before.chars().rev().take_while(|c| *c != '\n').count() as u32 + 1;
            let at = Pos::new(line, col);
            Error::new(
                ErrorKind::Expansion,
                Span::new(at, Pos::new(line, col + 1)),
                e.message,
            )
        })?;
        self.unmatched
            .extend(unmatched.into_iter().map(|n| (n, span)));
        Ok(word)
    }

    /// Parse a RUN step's `--mount` flags, expanding each option value.
    pub fn mounts(&mut self, run: &Run) -> Result<Vec<Mount>> {
        run.mounts
            .iter()
            .map(|tok| {
                let mut expand = |v: &str| {
                    let t = Token {
                        value: v.to_string(),
                        span: tok.span,
                    };
                    self.word(&t).map(|t| t.value).map_err(|e| e.message)
                };
                parse_mount(&tok.value, &mut expand).map_err(|(msg, hint)| {
                    let mut e = Error::new(ErrorKind::Flag, tok.span, msg);
                    e.hint = hint;
                    e
                })
            })
            .collect()
    }

    /// The instruction with every argument Docker expands replaced by its expansion.
    /// ARG defaults are expanded by the stage walker, which knows the build args.
    pub fn command(&mut self, cmd: &Command) -> Result<Command> {
        Ok(match cmd {
            Command::Env { env } => Command::Env {
                env: self.pairs(env)?,
            },
            Command::Label { labels } => Command::Label {
                labels: self.pairs(labels)?,
            },
            Command::Copy(c) => Command::Copy(self.copy(c, false)?),
            Command::Add(c) => Command::Add(self.copy(c, true)?),
            Command::Workdir { path } => Command::Workdir {
                path: self.word(path)?,
            },
            Command::User { user } => Command::User {
                user: self.word(user)?,
            },
            Command::Volume { volumes } => Command::Volume {
                volumes: self.all(volumes)?,
            },
            Command::StopSignal { signal } => {
                let signal = self.word(signal)?;
                if !super::signal::is_signal(&signal.value) {
                    return Err(Error::new(
                        ErrorKind::Instruction,
                        signal.span,
                        format!("invalid signal: {}", signal.value),
                    )
                    .with_hint("use a signal name such as SIGTERM or SIGQUIT, or its number"));
                }
                Command::StopSignal { signal }
            }
            Command::Expose { ports } => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(self.words(p)?);
                }
                Command::Expose { ports: out }
            }
            other => other.clone(),
        })
    }
}

fn expand_error(tok: &Token, e: &ExpandError) -> Error {
    let mut span = tok.span;
    if span.start.line == span.end.line {
        span.start.col += e.offset as u32;
        span.end.col = span.end.col.max(span.start.col + 1);
    }
    Error::new(ErrorKind::Expansion, span, e.message.clone())
}
