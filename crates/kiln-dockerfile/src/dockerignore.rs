//! `.dockerignore` with Docker's rules: one pattern a line, `#` comments, patterns cleaned
//! like paths and relative to the context root, `*` and `?` within one path element, `**`
//! across any number of elements, `[...]` classes, `\` escapes, and `!` exceptions. The last
//! matching pattern decides; a pattern that matches a directory excludes everything in it.

use regex::Regex;

/// An error in a `.dockerignore` file, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: {message}")]
pub struct IgnoreError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// `prefix/**`: the prefix and everything below it.
    Prefix(String),
    /// `**/suffix`.
    Suffix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    /// Number of path elements in the pattern.
    depth: usize,
    matcher: Matcher,
}

/// A compiled set of `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    has_exclusions: bool,
}

impl Ignore {
    /// Parse the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let mut p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let invert = p.starts_with('!');
            if invert {
                p = p[1..].trim();
            }
            let mut cleaned = if p.is_empty() {
                String::new()
            } else {
                clean(p)
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            lines.push((
                i + 1,
                if invert {
                    format!("!{cleaned}")
                } else {
                    cleaned
                },
            ));
        }
        Ignore::from_patterns(lines)
    }

    /// Compile patterns already split into lines: (line number, pattern).
    pub fn from_patterns(lines: Vec<(usize, String)>) -> Result<Ignore, IgnoreError> {
        let mut ig = Ignore::default();
        for (line, p) in lines {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let p = clean(p);
            let (exclusion, body) = match p.strip_prefix('!') {
                Some("") => {
                    return Err(IgnoreError {
                        line,
                        message: "illegal exclusion pattern: \"!\"".into(),
                    })
                }
                Some(b) => (true, b.to_string()),
                None => (false, p.clone()),
            };
            let matcher = compile(&body).map_err(|message| IgnoreError { line, message })?;
            ig.has_exclusions |= exclusion;
            ig.patterns.push(Pattern {
                depth: body.split('/').count(),
                text: body,
                exclusion,
                matcher,
            });
        }
        Ok(ig)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Are there `!` patterns (so an excluded directory may still hold included files)?
    pub fn has_exclusions(&self) -> bool {
        self.has_exclusions
    }

    /// Is `path` (relative to the context root, `/`-separated) excluded? A pattern counts if
    /// it matches the path or one of its parent directories.
    pub fn excludes(&self, path: &str) -> bool {
        self.excluded_by(path).is_some()
    }

    /// The pattern that excludes `path` (the last matching one, when it is not a `!`
    /// exception), as written after cleaning; `None` when the path is kept.
    pub fn excluded_by(&self, path: &str) -> Option<&str> {
        let path = clean(path.trim_start_matches('/'));
        if path == "." || path.is_empty() {
            return None;
        }
        let parents: Vec<&str> = path.split('/').collect();
        let mut decided: Option<&Pattern> = None;
        for p in &self.patterns {
            let matched = decided.is_some_and(|d| !d.exclusion);
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(&path);
            if !hit && parents.len() > 1 {
                for i in 1..parents.len() {
                    if p.matches(&parents[..i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                decided = Some(p);
            }
        }
        decided.filter(|d| !d.exclusion).map(|d| d.text.as_str())
    }

    /// The patterns as written (cleaned), `!` included, for messages.
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.patterns.iter().map(|p| {
            if p.exclusion {
                format!("!{}", p.text)
            } else {
                p.text.clone()
            }
        })
    }

    /// Could a path under excluded directory `dir` be re-included by a `!` pattern?
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.patterns.iter().any(|p| {
            p.exclusion
                && (p.text.starts_with("**")
                    || p.text.contains(['*', '?', '['])
                    || p.text.starts_with(&format!("{dir}/"))
                    || p.depth == 1)
        })
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(s) => path == s,
            Matcher::Prefix(s) => path.starts_with(s.as_str()),
            Matcher::Suffix(s) => {
                path.ends_with(s.as_str()) || (s.starts_with('/') && path == &s[1..])
            }
            Matcher::Regex(r) => r.is_match(path),
        }
    }
}

/// Translate a pattern the way Docker's pattern matcher does: plain text matches exactly,
/// `x/**` is a prefix, `**/x` a suffix, anything else a regular expression.
fn compile(pattern: &str) -> Result<Matcher, String> {
    check_classes(pattern)?;
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    #[derive(PartialEq)]
    enum T {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut ty = T::Exact;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let first = i == 0;
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if ty == T::Exact {
                        ty = T::Prefix;
                    } else {
                        re.push_str(".*");
                        ty = T::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    ty = T::Regex;
                }
                if first {
                    ty = T::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                ty = T::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                ty = T::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.get(i) {
                Some(n) => {
                    i += 1;
                    re.push_str(&regex::escape(&n.to_string()));
                    ty = T::Regex;
                }
                None => re.push_str("\\\\"),
            },
            '[' | ']' => {
                re.push(c);
                ty = T::Regex;
            }
            '^' => re.push_str("\\^"),
            c => re.push(c),
        }
    }
    Ok(match ty {
        T::Exact => Matcher::Exact(pattern.to_string()),
        T::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        T::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        T::Regex => {
            re.push('$');
            // Go's `[!x]` and `[^x]` both negate in filepath.Match, but the matcher hands
            // classes to the regexp engine as written; keep that.
            Matcher::Regex(Regex::new(&re).map_err(|e| format!("bad pattern {pattern:?}: {e}"))?)
        }
    })
}

/// Reject unterminated character classes, as Go's `filepath.Match(pattern, ".")` does.
fn check_classes(pattern: &str) -> Result<(), String> {
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ => {}
        }
    }
    if in_class {
        return Err(format!(
            "syntax error in pattern {pattern:?}: unterminated '['"
        ));
    }
    Ok(())
}

/// Lexical path cleaning like Go's `filepath.Clean` for `/`-separated paths.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn docker_pattern_rules() {
        let i = ig("# comment\n*.md\n!README.md\ntemp?\n/build\n**/*.log\nnode_modules/**\n");
        assert!(i.excludes("a.md"));
        assert!(!i.excludes("README.md"));
        assert!(!i.excludes("docs/a.md"), "* does not cross /");
        assert!(i.excludes("temp1"));
        assert!(!i.excludes("temp12"));
        assert!(i.excludes("build"));
        assert!(
            i.excludes("build/x/y"),
            "a matched directory excludes its contents"
        );
        assert!(i.excludes("x.log"));
        assert!(i.excludes("a/b/c.log"));
        assert!(i.excludes("node_modules/x"));
        assert!(!i.excludes("src/main.rs"));
    }

    #[test]
    fn last_match_wins_and_exceptions_reinclude() {
        let i = ig("docs\n!docs/keep.md\n");
        assert!(i.excludes("docs/a.md"));
        assert!(!i.excludes("docs/keep.md"));
        assert!(i.has_exclusions());
        let i = ig("!a\na\n");
        assert!(i.excludes("a"));
    }

    #[test]
    fn cleaning_and_errors() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean(""), ".");
        assert!(Ignore::parse("[abc\n").is_err());
        assert!(Ignore::parse("!\n").is_err());
        let i = ig("a/[bc]/d\nx\\*y\n");
        assert!(i.excludes("a/b/d"));
        assert!(!i.excludes("a/e/d"));
        assert!(i.excludes("x*y"));
        assert!(!i.excludes("xzy"));
    }
}
