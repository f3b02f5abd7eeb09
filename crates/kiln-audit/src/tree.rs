//! The image's file tree as its layers build it up, for what only the whole stack shows:
//! which file versions a later layer deleted or replaced (wasted space, and secrets that
//! are "gone" but still shipped), and what the final image holds (leftovers).

use std::collections::{BTreeMap, HashMap};

/// A version of a path: the layer that wrote it and its size (0 for non-files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub layer: usize,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct Tree {
    /// Visible paths (relative, no leading `/`).
    visible: BTreeMap<String, Seen>,
    /// (path, layer that wrote it) -> the layer that deleted or replaced it.
    hidden: HashMap<(String, usize), usize>,
    /// Bytes of hidden versions per path, with the layer of the first one.
    wasted: BTreeMap<String, (u64, usize)>,
}

impl Tree {
    /// Layer `layer` writes `path`.
    pub fn add(&mut self, layer: usize, path: &str, size: u64) {
        if let Some(old) = self.visible.insert(path.to_string(), Seen { layer, size }) {
            if old.layer != layer {
                self.hide(path, old, layer);
            }
        }
    }

    /// Layer `layer` deletes `path` and everything under it (a whiteout): what lower
    /// layers put there; the same layer's own entries stay (OCI image spec).
    pub fn delete(&mut self, layer: usize, path: &str) {
        if let Some(old) = self.visible.get(path).copied().filter(|s| s.layer < layer) {
            self.visible.remove(path);
            self.hide(path, old, layer);
        }
        self.clear_under(layer, path, |seen| seen.layer < layer);
    }

    /// Layer `layer` puts a non-directory at `path`: what lower layers had under it (a
    /// directory there) is gone.
    pub fn replace_dir(&mut self, layer: usize, path: &str) {
        self.clear_under(layer, path, |seen| seen.layer < layer);
    }

    /// Layer `layer` makes `dir` opaque: what lower layers put under it is gone.
    pub fn opaque(&mut self, layer: usize, dir: &str) {
        self.clear_under(layer, dir, |seen| seen.layer < layer);
    }

    fn clear_under(&mut self, layer: usize, dir: &str, hide: impl Fn(&Seen) -> bool) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let gone: Vec<(String, Seen)> = self
            .visible
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(_, s)| hide(s))
            .map(|(p, s)| (p.clone(), *s))
            .collect();
        for (p, s) in gone {
            self.visible.remove(&p);
            self.hide(&p, s, layer);
        }
    }

    fn hide(&mut self, path: &str, old: Seen, by: usize) {
        self.hidden.insert((path.to_string(), old.layer), by);
        if old.size > 0 {
            let w = self
                .wasted
                .entry(path.to_string())
                .or_insert((0, old.layer));
            w.0 += old.size;
        }
    }

    /// The layer that deleted or replaced the version of `path` that `layer` wrote.
    pub fn hidden_by(&self, path: &str, layer: usize) -> Option<usize> {
        self.hidden.get(&(path.to_string(), layer)).copied()
    }

    /// What the final image holds.
    pub fn visible(&self) -> impl Iterator<Item = (&str, Seen)> {
        self.visible.iter().map(|(p, s)| (p.as_str(), *s))
    }

    /// The version of `path` in the final image.
    pub fn get(&self, path: &str) -> Option<Seen> {
        self.visible.get(path).copied()
    }

    /// Paths with hidden versions: (path, bytes, layer of the first hidden version).
    pub fn wasted(&self) -> impl Iterator<Item = (&str, u64, usize)> {
        self.wasted.iter().map(|(p, (b, l))| (p.as_str(), *b, *l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_replacements_and_opaque_directories_hide_versions() {
        let mut t = Tree::default();
        t.add(0, "big", 50);
        t.add(0, "d/a", 5);
        t.add(0, "d/b", 7);
        t.add(0, "keep", 1);
        t.add(1, "keep", 2);
        t.delete(2, "big");
        t.opaque(2, "d");
        t.add(2, "d/c", 3);
        assert_eq!(t.hidden_by("big", 0), Some(2));
        assert_eq!(t.hidden_by("keep", 0), Some(1));
        assert_eq!(t.hidden_by("d/a", 0), Some(2));
        assert_eq!(t.hidden_by("d/c", 2), None);
        let wasted: u64 = t.wasted().map(|(_, b, _)| b).sum();
        assert_eq!(wasted, 50 + 5 + 7 + 1);
        let left: Vec<&str> = t.visible().map(|(p, _)| p).collect();
        assert_eq!(left, ["d/c", "keep"]);
        // A whiteout does not delete its own layer's file; a file over a directory hides
        // what the directory held.
        t.add(3, "same", 1);
        t.delete(3, "same");
        assert!(t.get("same").is_some());
        t.add(3, "dir/inner", 4);
        t.add(4, "dir", 0);
        t.replace_dir(4, "dir");
        assert_eq!(t.hidden_by("dir/inner", 3), Some(4));
    }
}
