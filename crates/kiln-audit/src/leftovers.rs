//! What the final image carries for nothing: package manager caches and lists, temp
//! files, and file versions that later layers deleted or replaced (wasted space, as dive
//! counts it: they are in the layers every pull downloads, but not in the image's tree).

use crate::checks::{self, Check};
use crate::tree::Tree;

/// Where package managers leave caches and lists (relative path prefixes).
const CACHES: &[(&str, &str)] = &[
    ("var/lib/apt/lists/", "apt package lists"),
    ("var/cache/apt/", "apt's package cache"),
    ("var/cache/apk/", "apk's package cache"),
    ("var/cache/dnf/", "dnf's cache"),
    ("var/cache/yum/", "yum's cache"),
    ("root/.cache/pip/", "pip's cache"),
    ("root/.npm/", "npm's cache"),
    ("usr/local/share/.cache/yarn/", "yarn's cache"),
    ("root/.cache/yarn/", "yarn's cache"),
];

const TEMP: &[&str] = &["tmp/", "var/tmp/"];

/// Smallest wasted file reported on its own (the total is always in the summary).
pub const MIN_WASTE: u64 = 1 << 20;

/// A leftover: what, where, how many bytes, and the layer that added most of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub check: &'static Check,
    pub message: String,
    pub path: String,
    pub bytes: u64,
    pub layer: usize,
    /// For wasted space: the layer that hid the file.
    pub hidden_by: Option<usize>,
}

/// The leftovers of the final tree.
pub fn find(tree: &Tree) -> Vec<Leftover> {
    let mut out = Vec::new();
    for (prefix, what) in CACHES {
        if let Some((bytes, files, layer)) = sum_under(tree, &[prefix]) {
            out.push(Leftover {
                check: &checks::PACKAGE_LEFTOVERS,
                message: format!("{what}: {files} files, {bytes} bytes left in the image"),
                path: format!("/{}", prefix.trim_end_matches('/')),
                bytes,
                layer,
                hidden_by: None,
            });
        }
    }
    if let Some((bytes, files, layer)) = sum_under(tree, TEMP) {
        out.push(Leftover {
            check: &checks::TEMP_FILES,
            message: format!("temporary files: {files} files, {bytes} bytes in /tmp and /var/tmp"),
            path: "/tmp".into(),
            bytes,
            layer,
            hidden_by: None,
        });
    }
    for (path, bytes, layer) in tree.wasted() {
        if bytes >= MIN_WASTE {
            out.push(Leftover {
                check: &checks::WASTED_SPACE,
                message: format!(
                    "/{path}: {bytes} bytes in a layer, deleted or replaced by a later one"
                ),
                path: format!("/{path}"),
                bytes,
                layer,
                hidden_by: tree.hidden_by(path, layer),
            });
        }
    }
    out
}

/// Bytes and files under the prefixes, and the layer that added the most bytes; `None`
/// when there are no file bytes.
fn sum_under(tree: &Tree, prefixes: &[&str]) -> Option<(u64, usize, usize)> {
    let mut per_layer: Vec<u64> = Vec::new();
    let (mut bytes, mut files) = (0u64, 0usize);
    for (p, seen) in tree.visible() {
        if seen.size == 0 || !prefixes.iter().any(|pre| p.starts_with(pre)) {
            continue;
        }
        bytes += seen.size;
        files += 1;
        if per_layer.len() <= seen.layer {
            per_layer.resize(seen.layer + 1, 0);
        }
        per_layer[seen.layer] += seen.size;
    }
    let layer = per_layer
        .iter()
        .enumerate()
        .max_by_key(|(_, b)| **b)
        .map(|(i, _)| i)?;
    (bytes > 0).then_some((bytes, files, layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_temp_files_and_waste() {
        let mut t = Tree::default();
        t.add(1, "var/lib/apt/lists/deb.debian.org_Packages", 900);
        t.add(1, "var/lib/apt/lists/lock", 0);
        t.add(2, "tmp/build.log", 10);
        t.add(1, "big", 2 << 20);
        t.delete(3, "big");
        let found = find(&t);
        let ids: Vec<&str> = found.iter().map(|l| l.check.id).collect();
        assert_eq!(ids, ["KA030", "KA031", "KA032"]);
        assert_eq!((found[0].bytes, found[0].layer), (900, 1));
        assert_eq!((found[2].layer, found[2].hidden_by), (1, Some(3)));
        assert!(find(&Tree::default()).is_empty());
    }
}
