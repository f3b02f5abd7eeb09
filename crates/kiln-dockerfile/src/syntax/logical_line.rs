//! An instruction's text with its continuation lines joined, and the map from byte offsets
//! in that text back to source positions.

use super::text::CharIndex;
use crate::span::{Pos, Span};

#[derive(Debug, Clone, Copy)]
struct Piece {
    /// Byte offset of the piece in the joined text.
    offset: usize,
    line: u32,
    /// Column (in characters) where the piece starts on its source line.
    col: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LogicalLine {
    pub text: String,
    pieces: Vec<Piece>,
    /// Characters per block of `text`: a column costs O(1), however long the line.
    chars: CharIndex,
}

impl LogicalLine {
    /// Append `s`, which starts at `line`:`col` in the source.
    pub fn push(&mut self, s: &str, line: u32, col: u32) {
        self.pieces.push(Piece {
            offset: self.text.len(),
            line,
            col,
        });
        self.text.push_str(s);
        self.chars.update(&self.text);
    }

    /// The source position of byte `offset` of the joined text.
    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let idx = self
            .pieces
            .partition_point(|p| p.offset <= offset)
            .saturating_sub(1);
        let Some(piece) = self.pieces.get(idx) else {
            return Pos::new(1, 1);
        };
        let chars = self.chars.count(&self.text, piece.offset, offset);
        Pos::new(piece.line, piece.col + chars)
    }

    /// The span of bytes `start..end` of the joined text.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let start_pos = self.pos(start);
        // The end is the position after the last character, on the last character's line.
        let end_pos = if end > start {
            let last = self.pos(end - 1);
            Pos::new(last.line, last.col + 1)
        } else {
            start_pos
        };
        Span::new(start_pos, end_pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_back_to_their_source_lines() {
        let mut l = LogicalLine::default();
        l.push("RUN a ", 3, 1);
        l.push("  é b", 4, 1);
        assert_eq!(l.pos(0), Pos::new(3, 1));
        assert_eq!(l.pos(4), Pos::new(3, 5));
        assert_eq!(l.pos(6), Pos::new(4, 1));
        // 'b' comes after a two-byte character
        let b = l.text.find('b').unwrap_or_default();
        assert_eq!(l.pos(b), Pos::new(4, 5));
        assert_eq!(l.span(0, 3), Span::new(Pos::new(3, 1), Pos::new(3, 4)));
    }
}
