//! Small text helpers shared by the parser and by tools that map text back to positions.

/// The line without its line ending (`\n`, `\r\n`).
pub fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// Remove a trailing escape character (followed only by spaces and tabs) that continues the
/// instruction on the next line. A doubled escape character at the end does not continue,
/// except when it is the whole line. Returns the text and whether the line continues.
pub fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, false);
    };
    if before.is_empty() || !before.ends_with(escape) {
        (before, true)
    } else {
        (line, false)
    }
}

/// Characters in `text[from..to]` (byte offsets), tolerating offsets inside a character.
pub fn count_chars(text: &str, from: usize, to: usize) -> u32 {
    let bytes = text.as_bytes();
    let to = to.min(bytes.len());
    let from = from.min(to);
    starts(&bytes[from..to])
}

/// Bytes that start a character (everything but UTF-8 continuation bytes).
fn starts(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count() as u32
}

const BLOCK: usize = 64;

/// The characters before every 64-byte block of a text, so that [`CharIndex::count`]
/// looks at no more than two partial blocks. Counting from the start of a line for each
/// token made positions quadratic in the length of a line.
#[derive(Debug, Clone, Default)]
pub struct CharIndex {
    /// `before[k]`: characters in `text[..k * BLOCK]`.
    before: Vec<u32>,
}

impl CharIndex {
    pub fn new(text: &str) -> Self {
        let mut index = CharIndex::default();
        index.update(text);
        index
    }

    /// Index the blocks completed since the last call (`text` only grows between calls).
    pub fn update(&mut self, text: &str) {
        let bytes = text.as_bytes();
        if self.before.is_empty() {
            self.before.push(0);
        }
        while self.before.len() * BLOCK <= bytes.len() {
            let k = self.before.len() - 1;
            let next = self.before[k] + starts(&bytes[k * BLOCK..(k + 1) * BLOCK]);
            self.before.push(next);
        }
    }

    /// Characters in `text[..offset]`.
    fn before(&self, bytes: &[u8], offset: usize) -> u32 {
        let k = (offset / BLOCK).min(self.before.len().saturating_sub(1));
        let at = self.before.get(k).copied().unwrap_or(0);
        at + starts(&bytes[(k * BLOCK).min(offset)..offset])
    }

    /// What [`count_chars`] gives for the indexed `text`, in O(1).
    pub fn count(&self, text: &str, from: usize, to: usize) -> u32 {
        let bytes = text.as_bytes();
        let to = to.min(bytes.len());
        let from = from.min(to);
        self.before(bytes, to) - self.before(bytes, from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_index_counts_like_count_chars() {
        let text: String = (0..200)
            .map(|i| if i % 7 == 0 { "é€x" } else { "ab" })
            .collect();
        let index = CharIndex::new(&text);
        for from in (0..=text.len() + 2).step_by(5) {
            for to in (from..=text.len() + 2).step_by(3) {
                assert_eq!(
                    index.count(&text, from, to),
                    count_chars(&text, from, to),
                    "{from}..{to}"
                );
            }
        }
        // An index of a shorter prefix is still right, only slower.
        let stale = CharIndex::new(&text[..100]);
        assert_eq!(stale.count(&text, 3, 300), count_chars(&text, 3, 300));
        assert_eq!(
            CharIndex::default().count(&text, 0, 50),
            count_chars(&text, 0, 50)
        );
    }
}
