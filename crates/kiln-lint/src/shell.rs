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
    /// Cache for [`Command::program_index`].
    pub prog: std::cell::OnceCell<Option<usize>>,
}

impl Command {
    /// Index in `words` of the program after wrappers such as `sudo`, `env`, `exec`,
    /// `nohup`, `time`, `nice`, `command`; `None` when there is none.
    pub fn program_index(&self) -> Option<usize> {
        *self.prog.get_or_init(|| self.find_program())
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
        self.program_index()
            .and_then(|i| self.words.get(i))
            .map(|w| basename(&w.text))
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
    let mut p = Parser {
        chars: text.char_indices().collect(),
        len: text.len(),
        out: Vec::new(),
        pipeline: 0,
    };
    p.run(0, p.chars.len(), 0, false);
    let mut script = Script { commands: p.out };
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

struct Parser {
    chars: Vec<(usize, char)>,
    len: usize,
    out: Vec<Command>,
    pipeline: usize,
}

#[derive(Default)]
struct Builder {
    words: Vec<Word>,
    redirects: Vec<Word>,
    word: Option<Word>,
    redirect_next: bool,
    piped_in: bool,
}

impl Parser {
    fn off(&self, i: usize) -> usize {
        self.chars.get(i).map_or(self.len, |(o, _)| *o)
    }

    fn ch(&self, i: usize) -> Option<char> {
        self.chars.get(i).map(|(_, c)| *c)
    }

    /// Parse chars `from..to`.
    fn run(&mut self, from: usize, to: usize, depth: usize, nested: bool) {
        let mut b = Builder::default();
        let mut subs: Vec<(usize, usize)> = Vec::new();
        let mut i = from;
        while i < to {
            let Some(c) = self.ch(i) else { break };
            match c {
                ' ' | '\t' | '\r' => {
                    self.end_word(&mut b, i);
                    i += 1;
                }
                '\n' => {
                    self.end_word(&mut b, i);
                    self.end_command(&mut b, Sep::Seq, nested);
                    i += 1;
                }
                '#' if b.word.is_none() => {
                    while i < to && self.ch(i) != Some('\n') {
                        i += 1;
                    }
                }
                '\'' => {
                    self.start_word(&mut b, i);
                    i += 1;
                    while i < to {
                        match self.ch(i) {
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(ch) => {
                                push(&mut b, ch);
                                i += 1;
                            }
                            None => break,
                        }
                    }
                }
                '"' => {
                    self.start_word(&mut b, i);
                    i += 1;
                    while i < to {
                        match self.ch(i) {
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some('\\') => {
                                match self.ch(i + 1) {
                                    Some(n @ ('$' | '`' | '"' | '\\')) if i + 1 < to => {
                                        push(&mut b, n)
                                    }
                                    Some('\n') if i + 1 < to => {}
                                    Some(n) if i + 1 < to => {
                                        push(&mut b, '\\');
                                        push(&mut b, n);
                                    }
                                    _ => push(&mut b, '\\'),
                                }
                                i += 2;
                            }
                            Some('$') if self.ch(i + 1) == Some('(') => {
                                i = self.substitution(&mut b, &mut subs, i, to);
                            }
                            Some('`') => {
                                i = self.backtick(&mut b, &mut subs, i, to);
                            }
                            Some(ch) => {
                                push(&mut b, ch);
                                i += 1;
                            }
                            None => break,
                        }
                    }
                }
                '\\' => {
                    self.start_word(&mut b, i);
                    match self.ch(i + 1) {
                        Some('\n') if i + 1 < to => {}
                        Some(n) if i + 1 < to => push(&mut b, n),
                        _ => {}
                    }
                    i += 2;
                }
                '$' if self.ch(i + 1) == Some('(') => {
                    self.start_word(&mut b, i);
                    i = self.substitution(&mut b, &mut subs, i, to);
                }
                '$' if self.ch(i + 1) == Some('{') => {
                    self.start_word(&mut b, i);
                    let end = self.matching(i + 1, to, '{', '}');
                    for k in i..end {
                        if let Some(ch) = self.ch(k) {
                            push(&mut b, ch);
                        }
                    }
                    i = end;
                }
                '`' => {
                    self.start_word(&mut b, i);
                    i = self.backtick(&mut b, &mut subs, i, to);
                }
                ';' => {
                    self.end_word(&mut b, i);
                    self.end_command(&mut b, Sep::Seq, nested);
                    i += if self.ch(i + 1) == Some(';') { 2 } else { 1 };
                }
                '&' => {
                    self.end_word(&mut b, i);
                    match self.ch(i + 1) {
                        Some('&') => {
                            self.end_command(&mut b, Sep::And, nested);
                            i += 2;
                        }
                        Some('>') => {
                            b.redirect_next = true;
                            i += if self.ch(i + 2) == Some('>') { 3 } else { 2 };
                        }
                        _ => {
                            self.end_command(&mut b, Sep::Background, nested);
                            i += 1;
                        }
                    }
                }
                '|' => {
                    self.end_word(&mut b, i);
                    match self.ch(i + 1) {
                        Some('|') => {
                            self.end_command(&mut b, Sep::Or, nested);
                            i += 2;
                        }
                        Some('&') => {
                            self.end_command(&mut b, Sep::Pipe, nested);
                            i += 2;
                        }
                        _ => {
                            self.end_command(&mut b, Sep::Pipe, nested);
                            i += 1;
                        }
                    }
                }
                '(' | ')' => {
                    self.end_word(&mut b, i);
                    self.end_command(&mut b, Sep::Seq, nested);
                    i += 1;
                }
                '<' if self.ch(i + 1) == Some('(') => {
                    self.end_word(&mut b, i);
                    self.start_word(&mut b, i);
                    push(&mut b, '<');
                    i = self.substitution(&mut b, &mut subs, i + 1, to);
                    self.end_word(&mut b, i);
                }
                '<' | '>' => {
                    // A word of digits right before is the file descriptor, not an argument.
                    if b.word.as_ref().is_some_and(|w| {
                        !w.text.is_empty() && w.text.chars().all(|d| d.is_ascii_digit())
                    }) {
                        b.word = None;
                    } else {
                        self.end_word(&mut b, i);
                    }
                    i += 1;
                    while i < to && matches!(self.ch(i), Some('<' | '>' | '&' | '|' | '-')) {
                        i += 1;
                    }
                    // `2>&1`: the descriptor after `&` is the target.
                    b.redirect_next = true;
                }
                ch => {
                    self.start_word(&mut b, i);
                    push(&mut b, ch);
                    i += 1;
                }
            }
        }
        self.end_word(&mut b, to);
        self.end_command(&mut b, Sep::Seq, nested);
        if depth < MAX_DEPTH {
            for (s, e) in subs {
                self.run(s, e, depth + 1, true);
            }
        }
    }

    /// `$(...)` at `i` (or `(...)` of `<(...)` when `chars[i]` is `(`): add its text to
    /// the word, remember the inside for nested parsing, return the index after it.
    fn substitution(
        &self,
        b: &mut Builder,
        subs: &mut Vec<(usize, usize)>,
        i: usize,
        to: usize,
    ) -> usize {
        let open = if self.ch(i) == Some('(') { i } else { i + 1 };
        let end = self.matching(open, to, '(', ')');
        for k in i..end {
            if let Some(ch) = self.ch(k) {
                push(b, ch);
            }
        }
        let inner_end = if self.ch(end.saturating_sub(1)) == Some(')') && end > open + 1 {
            end - 1
        } else {
            end
        };
        let inner_start = if self.ch(open + 1) == Some('(') {
            open + 2
        } else {
            open + 1
        };
        if inner_start < inner_end {
            subs.push((inner_start, inner_end));
        }
        end
    }

    fn backtick(
        &self,
        b: &mut Builder,
        subs: &mut Vec<(usize, usize)>,
        i: usize,
        to: usize,
    ) -> usize {
        let mut k = i + 1;
        while k < to {
            match self.ch(k) {
                Some('\\') => k += 2,
                Some('`') => break,
                Some(_) => k += 1,
                None => break,
            }
        }
        let k = k.min(to);
        for j in i..(k + 1).min(to) {
            if let Some(ch) = self.ch(j) {
                push(b, ch);
            }
        }
        if i + 1 < k {
            subs.push((i + 1, k));
        }
        (k + 1).min(to.max(i + 1))
    }

    /// Index just after the `close` matching the `open` at `at` (quotes respected), or
    /// `to` when unbalanced.
    fn matching(&self, at: usize, to: usize, open: char, close: char) -> usize {
        let mut depth = 0usize;
        let mut k = at;
        while k < to {
            match self.ch(k) {
                Some('\\') => {
                    k += 2;
                    continue;
                }
                Some('\'') if open == '(' => {
                    k += 1;
                    while k < to && self.ch(k) != Some('\'') {
                        k += 1;
                    }
                }
                Some('"') if open == '(' => {
                    k += 1;
                    while k < to && self.ch(k) != Some('"') {
                        if self.ch(k) == Some('\\') {
                            k += 1;
                        }
                        k += 1;
                    }
                }
                Some(c) if c == open => depth += 1,
                Some(c) if c == close => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return (k + 1).min(to);
                    }
                }
                Some(_) => {}
                None => break,
            }
            k += 1;
        }
        to
    }

    fn start_word(&self, b: &mut Builder, i: usize) {
        if b.word.is_none() {
            let o = self.off(i);
            b.word = Some(Word {
                text: String::new(),
                start: o,
                end: o,
            });
        }
    }

    fn end_word(&self, b: &mut Builder, i: usize) {
        if let Some(mut w) = b.word.take() {
            w.end = self.off(i).max(w.start);
            if b.redirect_next {
                b.redirect_next = false;
                b.redirects.push(w);
            } else {
                b.words.push(w);
            }
        }
    }

    fn end_command(&mut self, b: &mut Builder, sep: Sep, nested: bool) {
        let piped_in = b.piped_in;
        let mut words = std::mem::take(&mut b.words);
        let redirects = std::mem::take(&mut b.redirects);
        b.redirect_next = false;
        b.piped_in = sep == Sep::Pipe;
        let start = words
            .first()
            .map(|w| w.start)
            .or(redirects.first().map(|w| w.start));
        let end = words.last().map(|w| w.end).unwrap_or(0);
        let n_assign = words.iter().take_while(|w| is_assignment(&w.text)).count();
        let assigns: Vec<Word> = words.drain(..n_assign).collect();
        // Reserved words that start or end compound commands.
        while let Some(first) = words.first() {
            match first.text.as_str() {
                "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!" | "{" => {
                    words.remove(0);
                }
                "fi" | "done" | "esac" | "}" | "for" | "case" | "in" | "select" | "function" => {
                    words.clear();
                }
                _ => break,
            }
        }
        let Some(start) = start else {
            if sep != Sep::Pipe {
                self.pipeline += 1;
            }
            return;
        };
        if words.is_empty() && assigns.is_empty() {
            if sep != Sep::Pipe {
                self.pipeline += 1;
            }
            return;
        }
        self.out.push(Command {
            assigns,
            words,
            redirects,
            sep,
            piped_in,
            pipeline: self.pipeline,
            nested,
            start,
            end: end.max(start),
            prog: Default::default(),
        });
        if sep != Sep::Pipe {
            self.pipeline += 1;
        }
    }
}

fn push(b: &mut Builder, c: char) {
    if let Some(w) = b.word.as_mut() {
        w.text.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progs(s: &str) -> Vec<String> {
        parse(s)
            .commands
            .iter()
            .map(|c| {
                c.words
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn splits_chains_and_removes_quotes() {
        assert_eq!(
            progs("apt-get update && apt-get install -y 'a b' \"c\"d; echo x | sh"),
            vec![
                "apt-get update",
                "apt-get install -y a b cd",
                "echo x",
                "sh"
            ]
        );
    }

    #[test]
    fn redirects_and_assignments_are_not_arguments() {
        let s = parse("DEBIAN_FRONTEND=noninteractive apt-get install x >/dev/null 2>&1 < in");
        let c = &s.commands[0];
        assert_eq!(c.assigns[0].text, "DEBIAN_FRONTEND=noninteractive");
        assert_eq!(
            c.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(),
            vec!["apt-get", "install", "x"]
        );
        assert_eq!(c.redirects.len(), 3);
    }

    #[test]
    fn nested_scripts_and_compound_words() {
        let p = progs(
            "if true; then sh -c \"$(curl -fsSL https://x)\"; fi; for i in 1 2; do echo $i; done",
        );
        assert!(p.contains(&"curl -fsSL https://x".to_string()), "{p:?}");
        assert!(p.contains(&"true".to_string()));
        assert!(p.contains(&"echo $i".to_string()));
        assert!(!p
            .iter()
            .any(|c| c.starts_with("fi") || c.starts_with("for")));
        let p = progs("bash -c 'apt-get update && apt-get install -y x'");
        assert!(p.contains(&"apt-get install -y x".to_string()), "{p:?}");
    }

    #[test]
    fn pipes_are_marked() {
        let s = parse("curl -sL x | sudo bash -");
        assert_eq!(s.commands[0].sep, Sep::Pipe);
        assert!(s.commands[1].piped_in);
        assert_eq!(s.commands[1].program(), Some("bash"));
        assert_eq!(s.commands[0].pipeline, s.commands[1].pipeline);
        assert!(s.has_pipe());
        assert!(!parse("a || b").has_pipe());
    }

    #[test]
    fn offsets_point_at_words() {
        let text = "echo  'hi there' x";
        let s = parse(text);
        let w = &s.commands[0].words[1];
        assert_eq!(&text[w.start..w.end], "'hi there'");
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let inputs = [
            "",
            "\\",
            "'",
            "\"",
            "$(",
            "$((",
            "`",
            "${",
            "<(",
            "2>",
            "&>",
            "|",
            "|&",
            ";;",
            "((((",
            "))))",
            "\"$(\"",
            "a\\\nb",
            "é$(ü`ö",
            "$($($($($($($($($($(x))))))))))",
            "sh -c",
            "sh -c '",
            "<<",
            "x<<-",
            "\"\\",
            "'\\'",
            "${a${b${c",
            "`\\",
            "a &",
            "a & & b",
        ];
        for s in inputs {
            let _ = parse(s);
        }
        let deep = "$(".repeat(5000);
        let _ = parse(&deep);
        let many = "sh -c \"".repeat(200);
        let _ = parse(&many);
        // Every byte position of a mixed string.
        let mixed = "a'b\"c$(d`e\\f|g&h;i<j>k(l)m#n\n${o}é";
        for (i, _) in mixed.char_indices() {
            let _ = parse(&mixed[i..]);
            let _ = parse(&mixed[..i]);
        }
    }
}
