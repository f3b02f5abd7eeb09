//! A small shell tokenizer for RUN commands: splits `&&`, `||`, `;`, `|`, `&` and newline
//! chains into simple commands made of words, with quotes removed and byte offsets kept.
//!
//! It is not a shell: it does not expand variables or run anything. It knows enough to
//! find the programs a RUN line starts and their arguments: quotes and escapes, comments,
//! redirections (whose targets are not arguments), `$(...)`, backticks and `<(...)` (whose
//! contents are parsed as nested commands), `sh -c '...'` scripts, leading `NAME=value`
//! assignments and the reserved words of `if`/`while`/`for`/`case`. Any input gives a
//! result; nesting is bounded.

/// Nested scripts (`$(...)`, `sh -c`) deeper than this are kept as plain words.
const MAX_DEPTH: usize = 8;

/// A word: its text with quotes and escapes removed, and where it was (byte offsets in the
/// parsed text, `end` exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// What follows a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    /// `&&`
    And,
    /// `||`
    Or,
    /// `;`, newline, `(`, `)` or the end.
    Seq,
    /// `|` (or `|&`): output goes to the next command.
    Pipe,
    /// `&`
    Background,
}

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// `NAME=value` words before the program.
    pub assigns: Vec<Word>,
    /// The program and its arguments (redirections removed).
    pub words: Vec<Word>,
    /// Redirection targets (`> file`, `2>/dev/null`, heredoc delimiters).
    pub redirects: Vec<Word>,
    pub sep: Sep,
    /// Standard input comes from the previous command through a pipe.
    pub piped_in: bool,
    /// Commands of the same pipeline share this number.
    pub pipeline: usize,
    /// Inside `$(...)`, backticks, `<(...)` or an `sh -c` script.
    pub nested: bool,
    pub start: usize,
    pub end: usize,
    /// Cache for [`Command::program_index`] and [`Command::program`]: the index and where
    /// the program's base name starts in its word.
    pub prog: std::cell::OnceCell<Option<(usize, usize)>>,
}

impl Command {
    /// Index in `words` of the program after wrappers such as `sudo`, `env`, `exec`,
    /// `nohup`, `time`, `nice`, `command`; `None` when there is none.
    pub fn program_index(&self) -> Option<usize> {
        self.program_at().map(|(i, _)| i)
    }

    fn program_at(&self) -> Option<(usize, usize)> {
        *self.prog.get_or_init(|| {
            let i = self.find_program()?;
            let word = &self.words.get(i)?.text;
            Some((i, word.len() - basename(word).len()))
        })
    }

    fn find_program(&self) -> Option<usize> {
        let mut i = 0;
        while let Some(w) = self.words.get(i) {
            match basename(&w.text) {
                "sudo" | "doas" => {
                    i += 1;
                    while let Some(a) = self.words.get(i) {
                        match a.text.as_str() {
                            "-u" | "-g" | "-C" | "-D" | "-h" | "-p" | "-r" | "-t" | "-U" => i += 2,
                            t if t.starts_with('-') => i += 1,
                            _ => break,
                        }
                    }
                }
                "env" => {
                    i += 1;
                    while let Some(a) = self.words.get(i) {
                        if a.text.starts_with('-') || is_assignment(&a.text) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                "nice" => {
                    i += 1;
                    if self.words.get(i).is_some_and(|a| a.text == "-n") {
                        i += 2;
                    } else if self.words.get(i).is_some_and(|a| a.text.starts_with('-')) {
                        i += 1;
                    }
                }
                "exec" | "nohup" | "time" | "command" | "builtin" => i += 1,
                _ => return Some(i),
            }
        }
        None
    }

    /// The program's name without its directory (`/usr/bin/apt-get` -> `apt-get`).
    pub fn program(&self) -> Option<&str> {
        let (i, base) = self.program_at()?;
        self.words.get(i)?.text.get(base..)
    }

    /// The words after the program.
    pub fn args(&self) -> &[Word] {
        match self.program_index() {
            Some(i) => self.words.get(i + 1..).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Is `word` (or `--flag=...`) among the arguments?
    pub fn has_arg(&self, names: &[&str]) -> bool {
        self.args().iter().any(|w| {
            names.iter().any(|n| {
                w.text == *n
                    || (n.starts_with("--")
                        && w.text.starts_with(n)
                        && w.text.as_bytes().get(n.len()) == Some(&b'='))
            })
        })
    }

    /// Does any short-option cluster (`-qy`) or long option contain `short` / `long`?
    pub fn has_flag(&self, short: &[char], long: &[&str]) -> bool {
        self.args().iter().any(|w| {
            let t = w.text.as_str();
            if let Some(l) = t.strip_prefix("--") {
                let name = l.split('=').next().unwrap_or("");
                long.contains(&name)
            } else if let Some(s) = t.strip_prefix('-') {
                !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphanumeric())
                    && s.chars().any(|c| short.contains(&c))
            } else {
                false
            }
        })
    }

    /// The first non-option argument (a subcommand such as `install`), with its index in
    /// [`Command::args`]. Options listed in `with_value` take the next word as their value.
    pub fn subcommand(&self, with_value: &[&str]) -> Option<(usize, &Word)> {
        let args = self.args();
        let mut i = 0;
        while let Some(w) = args.get(i) {
            if w.text.starts_with('-') {
                i += if with_value.contains(&w.text.as_str()) {
                    2
                } else {
                    1
                };
                continue;
            }
            return Some((i, w));
        }
        None
    }

    /// Non-option arguments after index `from` of [`Command::args`]; options in
    /// `with_value` skip their value.
    pub fn operands(&self, from: usize, with_value: &[&str]) -> Vec<&Word> {
        let args = self.args();
        let mut out = Vec::new();
        let mut i = from;
        while let Some(w) = args.get(i) {
            if w.text == "--" {
                out.extend(args.get(i + 1..).unwrap_or(&[]).iter());
                break;
            }
            if w.text.starts_with('-') && w.text.len() > 1 {
                i += if with_value.contains(&w.text.as_str()) {
                    2
                } else {
                    1
                };
                continue;
            }
            out.push(w);
            i += 1;
        }
        out
    }
}

/// A parsed script: its simple commands in order (nested ones after the command they
/// appear in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub commands: Vec<Command>,
}

impl Script {
    /// Commands of the given program (after wrappers).
    pub fn by_program<'a>(&'a self, names: &'a [&str]) -> impl Iterator<Item = &'a Command> {
        self.commands
            .iter()
            .filter(move |c| c.program().is_some_and(|p| names.contains(&p)))
    }

    /// Is there a `|` anywhere (outside nested scripts)?
    pub fn has_pipe(&self) -> bool {
        self.commands
            .iter()
            .any(|c| !c.nested && c.sep == Sep::Pipe)
    }
}

/// `/usr/bin/apt-get` -> `apt-get`.
pub fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// `NAME=value` / `NAME+=value`.
pub fn is_assignment(s: &str) -> bool {
    let Some(eq) = s.find('=') else { return false };
    let name = s[..eq].strip_suffix('+').unwrap_or(&s[..eq]);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Parse a script.
pub fn parse(text: &str) -> Script {
    parse_at(text, 0)
}

fn parse_at(text: &str, depth: usize) -> Script {
    let mut script = Script {
        commands: parser::scan(text),
    };
    expand_sh_c(&mut script, depth);
    script
}

/// Parse the scripts of `sh -c '...'` (and bash, ash, dash, zsh) as nested commands.
fn expand_sh_c(script: &mut Script, depth: usize) {
    if depth >= MAX_DEPTH {
        return;
    }
    let mut extra = Vec::new();
    for cmd in &script.commands {
        let Some(p) = cmd.program() else { continue };
        if !matches!(p, "sh" | "bash" | "ash" | "dash" | "zsh" | "su") {
            continue;
        }
        let args = cmd.args();
        let Some(ci) = args.iter().position(|w| {
            w.text.starts_with('-') && !w.text.starts_with("--") && w.text.ends_with('c')
        }) else {
            continue;
        };
        let Some(body) = args.get(ci + 1) else {
            continue;
        };
        let mut inner = parse_at(&body.text, depth + 1);
        let shift = |o: usize| (body.start + 1 + o).min(body.end.saturating_sub(1).max(body.start));
        for c in &mut inner.commands {
            c.nested = true;
            c.start = shift(c.start);
            c.end = shift(c.end).max(c.start);
            for w in c
                .words
                .iter_mut()
                .chain(c.assigns.iter_mut())
                .chain(c.redirects.iter_mut())
            {
                w.start = shift(w.start);
                w.end = shift(w.end).max(w.start);
            }
            c.pipeline = usize::MAX - c.pipeline;
            c.prog = Default::default();
        }
        extra.extend(inner.commands);
    }
    script.commands.extend(extra);
}

mod parser;
#[cfg(test)]
mod tests;
