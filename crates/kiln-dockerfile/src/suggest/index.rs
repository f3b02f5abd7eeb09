//! [`closest`](super::closest) over a set of names that grows, without comparing the name
//! with every one of them: the names are kept in a trie walked with one row of the edit
//! distance table per level, and a branch is left as soon as no name below it can be
//! close enough. For the undefined-variable hints of a Dockerfile with thousands of
//! variables, where comparing each unknown name with each known one was quadratic.

/// Names for case-sensitive [`closest`](super::closest) lookups.
#[derive(Debug, Clone, Default)]
pub struct NameIndex {
    /// Node 0 is the root; children sorted by character.
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(char, u32)>,
    /// The name that ends here.
    word: Option<Box<str>>,
}

impl NameIndex {
    pub fn new() -> NameIndex {
        NameIndex {
            nodes: vec![Node::default()],
        }
    }

    pub fn insert(&mut self, name: &str) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0usize;
        for c in name.chars() {
            let children = &self.nodes[at].children;
            at = match children.binary_search_by_key(&c, |(ch, _)| *ch) {
                Ok(k) => children[k].1 as usize,
                Err(k) => {
                    let id = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[at].children.insert(k, (c, id as u32));
                    id
                }
            };
        }
        if self.nodes[at].word.is_none() {
            self.nodes[at].word = Some(name.into());
        }
    }

    /// What `closest(name, names in sorted order, true)` gives, with its distance: the
    /// first name (in byte order) at the smallest distance, if close enough.
    pub fn closest(&self, name: &str) -> Option<(usize, &str)> {
        if self.nodes.is_empty() {
            return None;
        }
        let target: Vec<char> = name.chars().collect();
        // Within distance 1 first, then 2, ...: the walk within a small distance leaves
        // most branches at once, and a typo is most often one edit away.
        (1..=super::limit_for(target.len())).find_map(|within| self.search(&target, within))
    }

    /// The first name (in byte order) at a distance from `target` in `1..=within`; with no
    /// name closer than `within`, the first at the smallest distance.
    fn search(&self, target: &[char], within: usize) -> Option<(usize, &str)> {
        let width = target.len() + 1;
        // Row j (at `rows[j * width..]`): the distances of target[..i] to the path's
        // first j characters. One buffer: no allocation per node.
        let mut rows: Vec<usize> = (0..width).collect();
        let mut path: Vec<char> = vec!['\0'];
        // lows[j]: the smallest number in row j, kept beside the rows.
        let mut lows: Vec<usize> = vec![0];
        // (node, depth, character), visited in preorder, children in character order.
        let mut stack: Vec<(u32, usize, char)> = Vec::new();
        // Below a row whose smallest number is `within` or more, a character the target
        // does not have makes every number of the next row larger (it matches nothing,
        // and no swap goes through it), and so every row under it: that whole branch is
        // too far, and is left without computing its rows.
        let has = Chars::of(target);
        let push_children = |stack: &mut Vec<(u32, usize, char)>, node: &Node, depth, low| {
            for (c, id) in node.children.iter().rev() {
                if low < within || has.contains(*c) {
                    stack.push((*id, depth + 1, *c));
                }
            }
        };
        push_children(&mut stack, &self.nodes[0], 0, 0);
        while let Some((id, j, c)) = stack.pop() {
            rows.truncate(j * width);
            path.truncate(j);
            path.push(c);
            lows.truncate(j);
            lows.push(push_row(target, &mut rows, &path));
            let node = &self.nodes[id as usize];
            let row = &rows[j * width..];
            if let (Some(word), d) = (&node.word, row[width - 1]) {
                // [`closest`](NameIndex::closest) searched the smaller distances in vain:
                // this is the smallest one, and preorder is byte order, so the first name
                // found is the answer.
                if d > 0 && d <= within {
                    return Some((d, word));
                }
            }
            // A row is at least the smaller of the two before it (minus one for a swap):
            // below a row over the bound whose parent row is at the bound or over, nothing
            // is close enough.
            if lows[j] <= within || lows[j - 1] < within {
                push_children(&mut stack, node, j, lows[j]);
            }
        }
        None
    }
}

/// The characters of a name: ASCII ones in a bit set, others in a list.
struct Chars<'a> {
    ascii: u128,
    all: &'a [char],
}

impl<'a> Chars<'a> {
    fn of(all: &'a [char]) -> Self {
        let ascii = all
            .iter()
            .filter(|c| c.is_ascii())
            .fold(0u128, |set, c| set | 1 << (*c as u32));
        Chars { ascii, all }
    }

    fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii & 1 << (c as u32) != 0
        } else {
            self.all.contains(&c)
        }
    }
}

/// Append the optimal-string-alignment row for the path's last character (depth
/// `path.len() - 1`) to `rows`, computed from the rows above it; gives its smallest number.
fn push_row(target: &[char], rows: &mut Vec<usize>, path: &[char]) -> usize {
    let width = target.len() + 1;
    let j = path.len() - 1;
    let b = path[j];
    let (prev, this) = ((j - 1) * width, j * width);
    rows.push(j);
    let mut low = j;
    for i in 1..width {
        let cost = usize::from(target[i - 1] != b);
        let mut v = (rows[prev + i - 1] + cost)
            .min(rows[prev + i] + 1)
            .min(rows[this + i - 1] + 1);
        if i > 1 && j > 1 && target[i - 1] == path[j - 1] && target[i - 2] == b {
            v = v.min(rows[(j - 2) * width + i - 2] + 1);
        }
        rows.push(v);
        low = low.min(v);
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names from a small alphabet, so that many are near each other.
    fn names(seed: &mut u64, n: usize) -> Vec<String> {
        names_of(seed, n, ['A', 'B', '_', 'é'])
    }

    /// Names of 1 to 9 characters from `alphabet`.
    fn names_of(seed: &mut u64, n: usize, alphabet: [char; 4]) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 1 + (*seed >> 60) as usize % 9;
            let s: String = (0..len)
                .map(|k| {
                    let x = (*seed >> (k * 5 + 3)) & 3;
                    alphabet[x as usize]
                })
                .collect();
            out.push(s);
        }
        out
    }

    #[test]
    fn the_index_finds_what_closest_finds() {
        let mut seed = 7;
        let mut set = std::collections::BTreeSet::new();
        let mut index = NameIndex::new();
        for round in 0..40 {
            for n in names(&mut seed, 25) {
                index.insert(&n);
                set.insert(n);
            }
            for q in names(&mut seed, 25) {
                let want = super::super::closest(&q, set.iter().map(String::as_str), true);
                let got = index.closest(&q).map(|(_, w)| w);
                assert_eq!(got, want, "round {round}, name {q:?}");
            }
        }
    }

    #[test]
    fn names_with_characters_the_defined_ones_lack_get_the_same_answer() {
        // Queries share only some characters with the names: the branches of characters
        // a query lacks are left early, which must not change the answer.
        let mut seed = 11;
        let mut set = std::collections::BTreeSet::new();
        let mut index = NameIndex::new();
        for round in 0..40 {
            for n in names_of(&mut seed, 25, ['A', 'B', '1', '2']) {
                index.insert(&n);
                set.insert(n);
            }
            for q in names_of(&mut seed, 25, ['A', 'C', '1', 'ü']) {
                let want = super::super::closest(&q, set.iter().map(String::as_str), true);
                let got = index.closest(&q).map(|(_, w)| w);
                assert_eq!(got, want, "round {round}, name {q:?}");
            }
        }
    }

    #[test]
    fn swaps_and_typos_are_found() {
        let mut index = NameIndex::new();
        for n in ["VERSION", "VERSOIN_X", "HOME", "APP_DIR"] {
            index.insert(n);
        }
        assert_eq!(index.closest("VERSOIN"), Some((1, "VERSION")));
        assert_eq!(index.closest("APP_DRI"), Some((1, "APP_DIR")));
        assert_eq!(index.closest("VERSION"), Some((3, "VERSOIN_X")));
        assert_eq!(index.closest("XYZ"), None);
        assert_eq!(NameIndex::default().closest("HOME"), None);
    }
}
