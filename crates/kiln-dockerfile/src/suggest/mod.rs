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
    closest_within(name, candidates, case_sensitive, usize::MAX)
}

/// [`closest_with_distance`] among the candidates at most `max` edits away (for a caller
/// that already has a candidate at `max + 1`).
pub fn closest_within<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
    max: usize,
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
    let limit = limit_for(len).min(max);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        // The distance is at least the difference in length: skip those too long or too
        // short before computing it (lower-casing keeps the length of ASCII text).
        .filter(|c| !(case_sensitive || c.is_ascii()) || c.chars().count().abs_diff(len) <= limit)
        .map(|c| {
            let d = if case_sensitive {
                distance_within(&target, c, limit)
            } else {
                distance_within(&target, &norm(c), limit)
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

/// The edit distance between `a` and `b`, counting a swap of two neighbouring characters
/// as one edit (optimal string alignment, so that `FORM` is one typo away from `FROM`),
/// when it is at most `max`; some number over `max` otherwise (the table stops at the
/// first rows that are all over it).
fn distance_within(a: &str, b: &str, max: usize) -> usize {
    if a.is_ascii() && b.is_ascii() {
        // Bytes are characters: no decoding into vectors of chars.
        return osa(a.as_bytes(), b.as_bytes(), max);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    osa(&a, &b, max)
}

/// Optimal string alignment distance between two sequences, when it is at most `max`
/// (some number over `max` otherwise).
fn osa<T: PartialEq>(a: &[T], b: &[T], max: usize) -> usize {
    // Three rows (two before the current one, for swaps); on the stack for names of up to
    // 63 characters: this runs for every candidate of every hint.
    const STACK: usize = 64;
    let w = b.len() + 1;
    let mut small = [0usize; 3 * STACK];
    let mut large = Vec::new();
    let rows: &mut [usize] = if w <= STACK {
        &mut small[..3 * w]
    } else {
        large.resize(3 * w, 0);
        &mut large
    };
    let row = |i: usize| (i % 3) * w;
    for (j, cell) in rows[..w].iter_mut().enumerate() {
        *cell = j;
    }
    // Rows before the last are checked against `max` only two at a time: a swap reaches
    // back two rows.
    let mut low_before = 0;
    for i in 1..=a.len() {
        let (two, up, this) = (row(i.wrapping_sub(2)), row(i - 1), row(i));
        rows[this] = i;
        let mut low = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[up + j - 1] + cost)
                .min(rows[up + j] + 1)
                .min(rows[this + j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[two + j - 2] + 1);
            }
            rows[this + j] = v;
            low = low.min(v);
        }
        if low > max && low_before > max {
            return max.saturating_add(1);
        }
        low_before = low;
    }
    rows[row(a.len()) + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levenshtein(a: &str, b: &str) -> usize {
        distance_within(a, b, usize::MAX)
    }

    #[test]
    fn distance_is_the_same_for_ascii_and_other_text() {
        assert_eq!(levenshtein("FORM", "FROM"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("ünïcode", "ünicöde"), 2);
        assert_eq!(levenshtein("", "abc"), 3);
    }

    /// The whole table, as the textbook writes it: what the three-row version must give.
    fn osa_table(a: &[u8], b: &[u8]) -> usize {
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

    #[test]
    fn rolling_rows_give_the_whole_tables_distance() {
        let mut seed = 3u64;
        let mut word = |max: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 33) as usize % max;
            (0..len)
                .map(|k| b"abAB_"[((seed >> (k % 30 + 2)) % 5) as usize])
                .collect::<Vec<u8>>()
        };
        for round in 0..2000 {
            // Mostly short names; some past the 63 characters kept on the stack.
            let max = if round % 10 == 0 { 90 } else { 12 };
            let (a, b) = (word(max), word(max));
            let d = osa_table(&a, &b);
            assert_eq!(osa(&a, &b, usize::MAX), d, "{a:?} {b:?}");
            // Bounded: exact within the bound, over it otherwise.
            for max in 0..4 {
                let got = osa(&a, &b, max);
                assert!(
                    if d <= max { got == d } else { got > max },
                    "{a:?} {b:?} {max}"
                );
            }
        }
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
