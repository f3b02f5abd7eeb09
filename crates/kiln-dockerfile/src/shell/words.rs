//! Word splitting while a word is scanned.
//!
//! Each scan level (the whole word, and each operand of a `${V...}` reference)
//! keeps its own list of finished words, but the word being built lives in a
//! buffer shared by all levels, which every level clears when it starts and
//! empties when it ends. This mirrors BuildKit, where scanning the operand of
//! `${V:-w}` (or any other modifier) discards the unfinished word before it:
//! `a${V:-b}` splits into the single word `b`.

/// The finished words of one scan level.
#[derive(Debug, Default)]
pub(super) struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    /// An unquoted, unescaped character: whitespace ends the current word.
    pub(super) fn add_char(&mut self, buf: &mut String, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(buf, ch);
        }
    }

    /// A character that never splits (escaped).
    pub(super) fn add_raw_char(&mut self, buf: &mut String, ch: char) {
        buf.push(ch);
        self.in_word = true;
    }

    /// Text from an unquoted expansion: split on whitespace.
    pub(super) fn add_str(&mut self, buf: &mut String, text: &str) {
        for ch in text.chars() {
            self.add_char(buf, ch);
        }
    }

    /// Text that never splits (quoted strings, `<<` heredoc markers).
    pub(super) fn add_raw_str(&mut self, buf: &mut String, text: &str) {
        buf.push_str(text);
        self.in_word = true;
    }

    /// Ends this level: the last word, if any text is left in the buffer.
    pub(super) fn finish(mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
        }
        self.words
    }
}
