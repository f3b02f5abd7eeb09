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
    // Count bytes that start a character (everything but UTF-8 continuation bytes).
    bytes[from..to]
        .iter()
        .filter(|b| (**b & 0xC0) != 0x80)
        .count() as u32
}
