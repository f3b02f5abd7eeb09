//! Mapping byte offsets in an instruction's joined text (continuations removed) or in a
//! heredoc body back to line and column in the Dockerfile.

use kiln_dockerfile::syntax::text::{trim_continuation, trim_newline, CharIndex};
use kiln_dockerfile::{Pos, Span};

#[derive(Debug, Clone)]
struct Piece {
    offset: usize,
    line: u32,
    col: u32,
}

/// Offsets in some text -> source positions.
#[derive(Debug, Clone)]
pub(crate) struct TextMap {
    pieces: Vec<Piece>,
    text_len: usize,
    text: String,
    /// Characters per block of `text`: a column costs O(1), however long the line.
    chars: CharIndex,
}

impl TextMap {
    /// Everything maps to `at` (used when the source cannot be followed).
    pub fn fixed(text: &str, at: Pos) -> TextMap {
        TextMap {
            pieces: vec![Piece {
                offset: 0,
                line: at.line,
                col: at.col,
            }],
            text_len: text.len(),
            text: String::new(),
            chars: CharIndex::default(),
        }
    }

    /// Follow `text` (an instruction's argument text, continuations joined) through the
    /// source lines from `start`, the way the parser joined them. Falls back to
    /// [`TextMap::fixed`] when the source does not give back `text`.
    pub fn joined(lines: &[&str], start: Pos, text: &str, escape: char) -> TextMap {
        let mut pieces = Vec::new();
        let mut joined = String::new();
        let mut idx = start.line.saturating_sub(1) as usize;
        let Some(first) = lines.get(idx) else {
            return TextMap::fixed(text, start);
        };
        let first = trim_newline(first);
        let skip = start.col.saturating_sub(1) as usize;
        let Some((byte, _)) = first.char_indices().nth(skip) else {
            return TextMap::fixed(text, start);
        };
        let (content, mut more) = trim_continuation(&first[byte..], escape);
        pieces.push(Piece {
            offset: 0,
            line: start.line,
            col: start.col,
        });
        joined.push_str(content);
        while more && joined.len() < text.len() {
            idx += 1;
            let Some(raw) = lines.get(idx) else { break };
            let raw = trim_newline(raw);
            let t = raw.trim_start();
            if t.starts_with('#') || t.is_empty() {
                continue;
            }
            let (content, m) = trim_continuation(raw, escape);
            pieces.push(Piece {
                offset: joined.len(),
                line: idx as u32 + 1,
                col: 1,
            });
            joined.push_str(content);
            more = m;
        }
        if !joined.starts_with(text) {
            return TextMap::fixed(text, start);
        }
        TextMap {
            pieces,
            text_len: text.len(),
            chars: CharIndex::new(&joined),
            text: joined,
        }
    }

    /// Positions in a heredoc body that starts at column 1 of `first_line`.
    pub fn body(body: &str, first_line: u32) -> TextMap {
        let mut pieces = vec![Piece {
            offset: 0,
            line: first_line,
            col: 1,
        }];
        let mut line = first_line;
        for (i, b) in body.bytes().enumerate() {
            if b == b'\n' {
                line = line.saturating_add(1);
                pieces.push(Piece {
                    offset: i + 1,
                    line,
                    col: 1,
                });
            }
        }
        TextMap {
            pieces,
            text_len: body.len(),
            text: body.to_string(),
            chars: CharIndex::new(body),
        }
    }

    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text_len);
        let idx = self
            .pieces
            .partition_point(|p| p.offset <= offset)
            .saturating_sub(1);
        let Some(p) = self.pieces.get(idx) else {
            return Pos::new(1, 1);
        };
        let chars = if self.text.is_empty() {
            0
        } else {
            self.chars.count(&self.text, p.offset, offset)
        };
        Pos::new(p.line, p.col.saturating_add(chars))
    }

    /// The span of bytes `start..end`.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let s = self.pos(start);
        if end <= start || self.text.is_empty() {
            return Span::new(s, Pos::new(s.line, s.col.saturating_add(1)));
        }
        let last = self.pos(end - 1);
        Span::new(s, Pos::new(last.line, last.col.saturating_add(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_continuations_and_skips_comment_lines() {
        let src = "FROM a\nRUN apt-get update \\\n# note\n    && apt-get install -y x\n";
        let lines: Vec<&str> = src.split_inclusive('\n').collect();
        let text = "apt-get update     && apt-get install -y x";
        let m = TextMap::joined(&lines, Pos::new(2, 5), text, '\\');
        assert_eq!(m.pos(0), Pos::new(2, 5));
        let off = text.find("&&").unwrap_or_default();
        assert_eq!(m.pos(off), Pos::new(4, 5));
        let x = text.rfind('x').unwrap_or_default();
        assert_eq!(
            m.span(x, x + 1),
            Span::new(Pos::new(4, 27), Pos::new(4, 28))
        );
    }

    #[test]
    fn mismatch_falls_back_to_the_start() {
        let lines = vec!["RUN a\n"];
        let m = TextMap::joined(&lines, Pos::new(1, 5), "zzz", '\\');
        assert_eq!(m.pos(2), Pos::new(1, 5));
        let m = TextMap::joined(&lines, Pos::new(9, 5), "a", '\\');
        assert_eq!(m.pos(0), Pos::new(9, 5));
    }

    #[test]
    fn body_lines() {
        let m = TextMap::body("a\nbb c\n", 3);
        assert_eq!(m.pos(5), Pos::new(4, 4));
    }
}
