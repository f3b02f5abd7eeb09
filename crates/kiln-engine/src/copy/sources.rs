//! Which files a COPY/ADD source names: exact paths, wildcards anywhere in the path
//! (matched like Go's `filepath.Match` against whole relative paths), `.dockerignore`d
//! context files hidden, a top-level symlink followed inside its tree.

use super::CopyError;
use crate::context::dockerignore::{clean, Ignore};
use kiln_layer::{Kind, Root};

/// A tree COPY reads from.
pub struct SourceTree<'a> {
    pub root: &'a Root,
    /// `.dockerignore` of the build context (not used for stages and images).
    pub ignore: Option<&'a Ignore>,
    /// For messages: "the build context", "stage builder", "image debian:12".
    pub label: String,
    /// Copies without `--chown` keep the owners of this tree (stages and images, as
    /// BuildKit does); the build context's owners are not kept (files become 0:0).
    pub keep_owners: bool,
}

impl std::fmt::Debug for SourceTree<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTree")
            .field("label", &self.label)
            .finish()
    }
}

impl SourceTree<'_> {
    /// Is this path (relative, cleaned) hidden by `.dockerignore`?
    pub fn ignored(&self, rel: &str) -> bool {
        self.ignore.is_some_and(|i| i.excludes(rel))
    }
}

/// Does the path contain glob characters?
pub fn has_wildcards(p: &str) -> bool {
    let mut escaped = false;
    for c in p.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '*' | '?' | '[' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

/// `src` as a clean path relative to a tree's root (`.` for the root); `..` stops there.
fn relative(src: &str) -> String {
    let rel = clean(src.trim_start_matches('/'));
    let rel = rel.trim_start_matches("../").to_string();
    if rel == ".." {
        ".".to_string()
    } else {
        rel
    }
}

/// The relative path `src` names in `tree`, taken as written (no pattern, as a bind
/// mount's source); an error when `.dockerignore` excludes it or it does not exist.
pub fn literal(tree: &SourceTree<'_>, src: &str) -> Result<String, CopyError> {
    let rel = relative(src);
    if rel != "." && tree.ignored(&rel) {
        return Err(CopyError::Excluded {
            path: src.to_string(),
            tree: tree.label.clone(),
        });
    }
    match tree
        .root
        .lstat(&rel)
        .map_err(|e| CopyError::layer(&tree.label, src, e))?
    {
        Some(_) => Ok(rel),
        None => Err(CopyError::NotFound {
            path: src.to_string(),
            tree: tree.label.clone(),
        }),
    }
}

/// The relative paths `src` names in `tree` (empty when a wildcard matches nothing;
/// an error when an exact path does not exist).
pub fn resolve(tree: &SourceTree<'_>, src: &str) -> Result<Vec<String>, CopyError> {
    let rel = relative(src);
    if !has_wildcards(&rel) {
        return literal(tree, src).map(|rel| vec![rel]);
    }
    let pattern: Vec<&str> = rel.split('/').collect();
    let mut out = Vec::new();
    walk_matches(tree, "", &pattern, &mut out)?;
    Ok(out)
}

/// Depth-first over directories whose path so far matches the pattern's leading elements.
fn walk_matches(
    tree: &SourceTree<'_>,
    dir: &str,
    pattern: &[&str],
    out: &mut Vec<String>,
) -> Result<(), CopyError> {
    let Some((first, rest)) = pattern.split_first() else {
        return Ok(());
    };
    let entries = tree
        .root
        .read_dir(if dir.is_empty() { "." } else { dir })
        .map_err(|e| CopyError::layer(&tree.label, dir, e))?;
    for (name, meta) in entries {
        let name = name.to_string_lossy().into_owned();
        if !glob_match(first, &name) {
            continue;
        }
        let path = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        if tree.ignored(&path) {
            continue;
        }
        if rest.is_empty() {
            out.push(path);
        } else if meta.kind == Kind::Dir {
            walk_matches(tree, &path, rest, out)?;
        }
    }
    Ok(())
}

/// Go's `filepath.Match` for one path element: `*`, `?`, `[...]` (with `^`/`!` negation and
/// ranges), `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' if n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, len)) = class(&p[pi..], n[ni]) {
                        if matched {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    }
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() => {}
                c if c == n[ni] && c != '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) if n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Match one character against a `[...]` class at the start of `p`: (matched, class length).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let mut lo = p[i];
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        let mut hi = lo;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|x| *x != ']') {
            hi = p[i + 2];
            if hi == '\\' {
                hi = *p.get(i + 3)?;
                i += 1;
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_glob_rules() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txtx"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("[!a-c]x", "dx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(has_wildcards("a/*.go") && !has_wildcards("a\\*b") && !has_wildcards("plain"));
    }
}
