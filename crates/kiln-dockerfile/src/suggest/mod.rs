//! "Did you mean ...?" for misspelt names.

mod index;

pub use index::NameIndex;

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely
/// typo. `case_sensitive = false` compares lower-cased.
pub fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> Option<&'a str> {
    closest_with_distance(name, candidates, case_sensitive).map(|(_, c)| c)
}

/// [`closest`] and its edit distance; the first of the candidates at the smallest one.
pub fn closest_with_distance<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> Option<(usize, &'a str)> {
    let norm = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let target = norm(name);
    let len = target.chars().count();
    let limit = limit_for(len);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        // The distance is at least the difference in length: skip those too long or too
        // short before computing it (lower-casing keeps the length of ASCII text).
        .filter(|c| !(case_sensitive || c.is_ascii()) || c.chars().count().abs_diff(len) <= limit)
        .map(|c| {
            let d = if case_sensitive {
                levenshtein(&target, c)
            } else {
                levenshtein(&target, &norm(c))
            };
            (d, c)
        })
        .filter(|(d, _)| *d > 0 && *d <= limit)
        .min_by_key(|(d, _)| *d)
}

/// The largest edit distance that still counts as a typo of a name of `len` characters.
fn limit_for(len: usize) -> usize {
    (len / 3).max(1) + usize::from(len > 6)
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
    if a.is_ascii() && b.is_ascii() {
        // Bytes are characters: no decoding into vectors of chars.
        return osa(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    osa(&a, &b)
}

/// Optimal string alignment distance between two sequences.
fn osa<T: PartialEq>(a: &[T], b: &[T]) -> usize {
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
    fn distance_is_the_same_for_ascii_and_other_text() {
        assert_eq!(levenshtein("FORM", "FROM"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("ünïcode", "ünicöde"), 2);
        assert_eq!(levenshtein("", "abc"), 3);
    }

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
