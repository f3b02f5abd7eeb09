//! The part of a COPY/ADD cache key that comes from the build context: every file the
//! sources name (after `.dockerignore`), with its name, type, mode, size, link target and
//! content digest. Modification times are left out, as BuildKit does, so a `touch` alone
//! keeps the cache; owners are left out when the copy does not keep them (the build
//! context), so checkouts owned by different users on other machines give the same keys
//! (registry caches rely on that).

use super::key::KeyBuilder;
use crate::context::stat_cache::StatCache;
use crate::copy::sources::{self, SourceTree};
use kiln_layer::{Kind, Metadata};

/// Why the inputs could not be hashed; the step then runs (and reports the real error).
#[derive(Debug)]
pub struct Unhashable(pub String);

/// Add the context files `srcs` name to `key`.
pub fn add_context_sources(
    key: &mut KeyBuilder,
    tree: &SourceTree<'_>,
    srcs: &[String],
    stat: &StatCache,
) -> Result<(), Unhashable> {
    for src in srcs {
        key.field("source", src.as_bytes());
        let matched = sources::resolve(tree, src).map_err(|e| Unhashable(e.to_string()))?;
        for rel in matched {
            add_top(key, tree, &rel, stat)?;
        }
    }
    Ok(())
}

/// A source path: a symlink is followed (as COPY does) and its target recorded too.
fn add_top(
    key: &mut KeyBuilder,
    tree: &SourceTree<'_>,
    rel: &str,
    stat: &StatCache,
) -> Result<(), Unhashable> {
    let err = |e: &dyn std::fmt::Display| Unhashable(format!("{rel}: {e}"));
    let lmeta = tree
        .root
        .lstat(rel)
        .map_err(|e| err(&e))?
        .ok_or_else(|| Unhashable(format!("{rel} vanished")))?;
    if lmeta.kind == Kind::Symlink {
        let target = tree.root.read_link(rel).map_err(|e| err(&e))?;
        key.field("top-link", target.as_os_str().as_encoded_bytes());
    }
    let meta = tree
        .root
        .stat_follow(rel)
        .map_err(|e| err(&e))?
        .ok_or_else(|| Unhashable(format!("{rel} is a dangling link")))?;
    add_entry(key, tree, rel, &meta, stat)
}

fn add_entry(
    key: &mut KeyBuilder,
    tree: &SourceTree<'_>,
    rel: &str,
    meta: &Metadata,
    stat: &StatCache,
) -> Result<(), Unhashable> {
    let err = |e: &dyn std::fmt::Display| Unhashable(format!("{rel}: {e}"));
    key.field("path", rel.as_bytes());
    let owner = if tree.keep_owners {
        format!(" {}:{}", meta.uid, meta.gid)
    } else {
        String::new()
    };
    key.field(
        "meta",
        format!("{} {:o}{owner} {}", meta.kind.name(), meta.mode, meta.size).as_bytes(),
    );
    match meta.kind {
        Kind::File => {
            let d = stat.digest(tree.root, rel, meta).map_err(|e| err(&e))?;
            key.field("sha256", d.hex().as_bytes());
        }
        Kind::Symlink => {
            let target = tree.root.read_link(rel).map_err(|e| err(&e))?;
            key.field("link", target.as_os_str().as_encoded_bytes());
        }
        Kind::Dir => add_dir(key, tree, rel, stat)?,
        _ => {
            key.field("rdev", &meta.rdev.to_le_bytes());
        }
    }
    Ok(())
}

/// The contents of directory `rel`, as the copy walks them: ignored entries skipped,
/// except that an ignored directory is entered when a `!` pattern may bring files back.
fn add_dir(
    key: &mut KeyBuilder,
    tree: &SourceTree<'_>,
    rel: &str,
    stat: &StatCache,
) -> Result<(), Unhashable> {
    let entries = tree
        .root
        .read_dir(rel)
        .map_err(|e| Unhashable(format!("{rel}: {e}")))?;
    for (name, meta) in entries {
        let name = name.to_string_lossy();
        let child = if rel == "." || rel.is_empty() {
            name.into_owned()
        } else {
            format!("{rel}/{name}")
        };
        if tree.ignored(&child) {
            if meta.kind == Kind::Dir && tree.ignore.is_some_and(|i| i.has_exclusions()) {
                key.field("ignored-dir", child.as_bytes());
                add_dir(key, tree, &child, stat)?;
            }
            continue;
        }
        add_entry(key, tree, &child, &meta, stat)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::dockerignore::Ignore;
    use kiln_layer::Root;

    fn key_of(dir: &std::path::Path, ignore: Option<&Ignore>, srcs: &[&str]) -> kiln_oci::Digest {
        let root = Root::open(dir).expect("root");
        let tree = SourceTree {
            root: &root,
            ignore,
            label: "the build context".into(),
            keep_owners: false,
        };
        let mut k = KeyBuilder::new("test", None);
        let srcs: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
        add_context_sources(&mut k, &tree, &srcs, &StatCache::in_memory()).expect("hash");
        k.finish()
    }

    #[test]
    fn content_mode_names_and_links_count_ignored_files_do_not() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path();
        std::fs::create_dir(p.join("src")).expect("mkdir");
        std::fs::write(p.join("src/a"), "a").expect("write");
        std::fs::write(p.join("src/skip.log"), "x").expect("write");
        let ig = Ignore::from_patterns(vec![(1, "**/*.log".into())]).expect("ignore");
        let k0 = key_of(p, Some(&ig), &["src"]);
        std::fs::write(p.join("src/skip.log"), "changed").expect("write");
        assert_eq!(key_of(p, Some(&ig), &["src"]), k0, "ignored file changed");
        std::fs::write(p.join("src/a"), "b").expect("write");
        let k1 = key_of(p, Some(&ig), &["src"]);
        assert_ne!(k1, k0, "content changed");
        std::fs::set_permissions(
            p.join("src/a"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let k2 = key_of(p, Some(&ig), &["src"]);
        assert_ne!(k2, k1, "mode changed");
        std::os::unix::fs::symlink("a", p.join("src/l")).expect("symlink");
        let k3 = key_of(p, Some(&ig), &["src"]);
        assert_ne!(k3, k2, "link added");
        std::fs::remove_file(p.join("src/l")).expect("rm");
        std::os::unix::fs::symlink("b", p.join("src/l")).expect("symlink");
        assert_ne!(key_of(p, Some(&ig), &["src"]), k3, "link target changed");
        std::fs::rename(p.join("src/a"), p.join("src/c")).expect("rename");
        let k4 = key_of(p, Some(&ig), &["src"]);
        assert_ne!(k4, k3, "name changed");
        // COPY from the context does not keep owners: another checkout's owner is the same key.
        match std::os::unix::fs::lchown(p.join("src/c"), Some(4242), Some(4343)) {
            Ok(()) => assert_eq!(key_of(p, Some(&ig), &["src"]), k4, "owner changed"),
            // Not root: nothing to check here.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => panic!("chown: {e}"),
        }
    }
}
