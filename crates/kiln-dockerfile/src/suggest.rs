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

/// Edit distance counting a swap of two neighbouring characters as one edit (optimal string
/// alignment), so that `FORM` is one typo away from `FROM`.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j - 1] + cost)
                .min(d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
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
