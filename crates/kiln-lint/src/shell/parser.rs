//! The scanner behind [`super::parse`]: words, separators, quotes, substitutions.

use super::*;

/// Scan `text` into simple commands.
pub(super) fn scan(text: &str) -> Vec<Command> {
    // ASCII text (the usual case) is read by byte: no table of characters to build.
    let chars: Option<Vec<(usize, char)>> =
        (!text.is_ascii()).then(|| text.char_indices().collect());
    let count = chars.as_ref().map_or(text.len(), Vec::len);
    let mut p = Parser {
        chars,
        bytes: text.as_bytes(),
        len: text.len(),
        out: Vec::new(),
        pipeline: 0,
    };
    p.run(0, count, 0, false);
    p.out
}

/// Positions are character indexes; [`Parser::off`] gives their byte offsets.
struct Parser<'a> {
    /// The characters and their byte offsets, for text that is not all ASCII.
    chars: Option<Vec<(usize, char)>>,
    /// The text, read by byte when it is all ASCII.
    bytes: &'a [u8],
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

impl Parser<'_> {
    fn off(&self, i: usize) -> usize {
        match &self.chars {
            Some(chars) => chars.get(i).map_or(self.len, |(o, _)| *o),
            None => i.min(self.len),
        }
    }

    fn ch(&self, i: usize) -> Option<char> {
        match &self.chars {
            Some(chars) => chars.get(i).map(|(_, c)| *c),
            None => self.bytes.get(i).map(|b| char::from(*b)),
        }
    }

    /// Parse chars `from..to`.
    fn run(&mut self, from: usize, to: usize, depth: usize, nested: bool) {
        let mut b = Builder::default();
        let mut subs: Vec<(usize, usize)> = Vec::new();
        let mut i = from;
        while i < to {
            let Some(c) = self.ch(i) else { break };
            i = match c {
                ' ' | '\t' | '\r' => {
                    self.end_word(&mut b, i);
                    i + 1
                }
                '\n' | '(' | ')' => {
                    self.end_word(&mut b, i);
                    self.end_command(&mut b, Sep::Seq, nested);
                    i + 1
                }
                '#' if b.word.is_none() => self.comment_end(i, to),
                '\'' | '"' => self.quoted(&mut b, &mut subs, i, to, c),
                '\\' => {
                    self.start_word(&mut b, i);
                    match self.ch(i + 1) {
                        Some('\n') if i + 1 < to => {}
                        Some(n) if i + 1 < to => push(&mut b, n),
                        _ => {}
                    }
                    i + 2
                }
                '$' if self.ch(i + 1) == Some('(') => {
                    self.start_word(&mut b, i);
                    self.substitution(&mut b, &mut subs, i, to)
                }
                '$' if self.ch(i + 1) == Some('{') => self.braced_variable(&mut b, i, to),
                '`' => {
                    self.start_word(&mut b, i);
                    self.backtick(&mut b, &mut subs, i, to)
                }
                ';' | '&' | '|' => self.operator(&mut b, i, nested),
                '<' if self.ch(i + 1) == Some('(') => {
                    self.end_word(&mut b, i);
                    self.start_word(&mut b, i);
                    push(&mut b, '<');
                    let end = self.substitution(&mut b, &mut subs, i + 1, to);
                    self.end_word(&mut b, end);
                    end
                }
                '<' | '>' => self.redirect(&mut b, i, to),
                ch => {
                    self.start_word(&mut b, i);
                    push(&mut b, ch);
                    i + 1
                }
            };
        }
        self.end_word(&mut b, to);
        self.end_command(&mut b, Sep::Seq, nested);
        if depth < MAX_DEPTH {
            for (s, e) in subs {
                self.run(s, e, depth + 1, true);
            }
        }
    }

    /// A comment at `i`: the index of the newline that ends it (or `to`).
    fn comment_end(&self, mut i: usize, to: usize) -> usize {
        while i < to && self.ch(i) != Some('\n') {
            i += 1;
        }
        i
    }

    /// A quoted string at `i` (`'...'`, or `"..."` with its escapes resolved and its
    /// substitutions remembered): its text added to the word; the index after it.
    fn quoted(
        &self,
        b: &mut Builder,
        subs: &mut Vec<(usize, usize)>,
        mut i: usize,
        to: usize,
        quote: char,
    ) -> usize {
        let double = quote == '"';
        self.start_word(b, i);
        i += 1;
        while i < to {
            match self.ch(i) {
                Some(q) if q == quote => return i + 1,
                Some('\\') if double => {
                    match self.ch(i + 1) {
                        Some(n @ ('$' | '`' | '"' | '\\')) if i + 1 < to => push(b, n),
                        Some('\n') if i + 1 < to => {}
                        Some(n) if i + 1 < to => {
                            push(b, '\\');
                            push(b, n);
                        }
                        _ => push(b, '\\'),
                    }
                    i += 2;
                }
                Some('$') if double && self.ch(i + 1) == Some('(') => {
                    i = self.substitution(b, subs, i, to);
                }
                Some('`') if double => {
                    i = self.backtick(b, subs, i, to);
                }
                Some(ch) => {
                    push(b, ch);
                    i += 1;
                }
                None => break,
            }
        }
        i
    }

    /// `${...}` at `i`, kept as it is in the word; the index after it.
    fn braced_variable(&self, b: &mut Builder, i: usize, to: usize) -> usize {
        self.start_word(b, i);
        let end = self.matching(i + 1, to, '{', '}');
        for k in i..end {
            if let Some(ch) = self.ch(k) {
                push(b, ch);
            }
        }
        end
    }

    /// `;`, `;;`, `&&`, `&`, `&>`, `&>>`, `||`, `|&`, `|` at `i`: the word and maybe the
    /// command end; the index after the operator.
    fn operator(&mut self, b: &mut Builder, i: usize, nested: bool) -> usize {
        self.end_word(b, i);
        let (sep, len) = match (self.ch(i), self.ch(i + 1)) {
            (Some(';'), Some(';')) => (Sep::Seq, 2),
            (Some(';'), _) => (Sep::Seq, 1),
            (Some('&'), Some('&')) => (Sep::And, 2),
            (Some('&'), Some('>')) => {
                b.redirect_next = true;
                return i + if self.ch(i + 2) == Some('>') { 3 } else { 2 };
            }
            (Some('&'), _) => (Sep::Background, 1),
            (Some('|'), Some('|')) => (Sep::Or, 2),
            (Some('|'), Some('&')) => (Sep::Pipe, 2),
            _ => (Sep::Pipe, 1),
        };
        self.end_command(b, sep, nested);
        i + len
    }

    /// A redirection operator at `i`: a word of digits right before is the file
    /// descriptor, not an argument, and the next word is the target; the index after it.
    fn redirect(&self, b: &mut Builder, mut i: usize, to: usize) -> usize {
        if b.word
            .as_ref()
            .is_some_and(|w| !w.text.is_empty() && w.text.chars().all(|d| d.is_ascii_digit()))
        {
            b.word = None;
        } else {
            self.end_word(b, i);
        }
        i += 1;
        while i < to && matches!(self.ch(i), Some('<' | '>' | '&' | '|' | '-')) {
            i += 1;
        }
        // `2>&1`: the descriptor after `&` is the target.
        b.redirect_next = true;
        i
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
                // Most words fit: one allocation instead of growing from 8 bytes.
                text: String::with_capacity(16),
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
        // Copied out at their final length (the builder's vectors keep their room for the
        // next command): a script's commands are all kept, with thousands of words.
        let mut words: Vec<Word> = b.words.drain(..).collect();
        let redirects: Vec<Word> = b.redirects.drain(..).collect();
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
