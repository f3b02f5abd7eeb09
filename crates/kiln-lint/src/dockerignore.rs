//! `.dockerignore` patterns, with Docker's matching rules: one pattern a line, `#`
//! comments, `!` re-includes, a leading `/` is ignored, `*` and `?` do not cross `/`, `**`
//! matches any number of directories, `[a-z]` classes and `\` escapes; a path is excluded
//! when the last pattern matching it or one of its parent directories is not a `!` one.

/// One pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// Path segments, cleaned.
    segments: Vec<String>,
    /// `!pattern`: re-include.
    pub negate: bool,
    /// The line as written.
    pub text: String,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerignore {
    pub patterns: Vec<Pattern>,
}

/// `a/./b/../c/` -> `a/c`; leading `/` and `./` removed. `None` for the context root.
pub fn clean(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("/"))
    }
}

impl Dockerignore {
    pub fn parse(text: &str) -> Dockerignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let (negate, body) = match t.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, t),
            };
            let Some(cleaned) = clean(body) else { continue };
            patterns.push(Pattern {
                segments: cleaned.split('/').map(str::to_string).collect(),
                negate,
                text: t.to_string(),
            });
        }
        Dockerignore { patterns }
    }

    /// The pattern that excludes `path` (relative to the context), if it is excluded.
    pub fn excluded_by(&self, path: &str) -> Option<&Pattern> {
        let path = clean(path)?;
        let segs: Vec<&str> = path.split('/').collect();
        let mut verdict: Option<&Pattern> = None;
        for p in &self.patterns {
            // The path itself or one of its parent directories.
            let hit = (1..=segs.len()).any(|n| match_segments(&p.segments, &segs[..n]));
            if hit {
                verdict = if p.negate { None } else { Some(p) };
            }
        }
        verdict
    }
}

fn match_segments(pat: &[String], path: &[&str]) -> bool {
    // Iterative with memo-free backtracking limited by `**` count (bounded input sizes).
    fn go(pat: &[String], path: &[&str], budget: &mut usize) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        match pat.first() {
            None => path.is_empty(),
            Some(p) if p == "**" => (0..=path.len()).any(|k| go(&pat[1..], &path[k..], budget)),
            Some(p) => match path.first() {
                Some(s) => glob(p, s) && go(&pat[1..], &path[1..], budget),
                None => false,
            },
        }
    }
    let mut budget = 100_000;
    go(pat, path, &mut budget)
}

/// One path segment against a glob: `*`, `?`, `[...]`, `\x`.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic two-pointer matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class(&p, pi, n[ni]) {
                        if ok {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == n[ni] {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c => {
                    if c == n[ni] {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi.min(p.len())..].iter().all(|c| *c == '*')
}

/// Match `c` against the class starting at `p[at] == '['`: (matched, index after `]`), or
/// `None` when the class is not closed.
fn class(p: &[char], at: usize, c: char) -> Option<(bool, usize)> {
    let mut i = at + 1;
    let negate = matches!(p.get(i), Some('^' | '!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        let ch = p[i];
        if ch == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            let hi = *p.get(i + 2)?;
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*.md", "README.md"));
        assert!(!glob("*.md", "README.txt"));
        assert!(glob("a?c", "abc"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[!a-c]x", "bx"));
        assert!(glob("\\*", "*"));
        assert!(glob("*", ""));
        assert!(!glob("[", "x"));
        assert!(glob("[", "["));
    }

    #[test]
    fn patterns_with_negation_and_parents() {
        let d = Dockerignore::parse("# c\nnode_modules\n*.log\n!keep.log\n**/tmp\n/secret/\n");
        assert!(d.excluded_by("node_modules/x/y.js").is_some());
        assert!(d.excluded_by("./app.log").is_some());
        assert!(d.excluded_by("keep.log").is_none());
        assert!(d.excluded_by("a/b/tmp/x").is_some());
        assert!(d.excluded_by("secret/key").is_some());
        assert!(d.excluded_by("src/main.rs").is_none());
        assert!(d.excluded_by(".").is_none());
        let deep = Dockerignore::parse(&"**/".repeat(50));
        let path = "a/".repeat(200);
        let _ = deep.excluded_by(&path);
    }
}
