//! "Did you mean ...?" for misspelt names.

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely
/// typo. `case_sensitive = false` compares lower-cased.
pub fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> Option<&'a str> {
    let norm = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let target = norm(name);
    let limit = (target.chars().count() / 3).max(1) + usize::from(target.chars().count() > 6);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|c| (levenshtein(&target, &norm(c)), c))
        .filter(|(d, _)| *d > 0 && *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A hint text for [`closest`], e.g. "did you mean FROM?".
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> Option<String> {
    closest(name, candidates, case_sensitive).map(|c| format!("did you mean {c}?"))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let all = ["FROM", "RUN", "COPY", "ENTRYPOINT"];
        assert_eq!(closest("form", all, false), Some("FROM"));
        assert_eq!(closest("ENTRYPIONT", all, false), Some("ENTRYPOINT"));
        assert_eq!(closest("xyz", all, false), None);
        assert_eq!(closest("RUN", all, false), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
