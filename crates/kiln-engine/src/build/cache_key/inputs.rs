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
use std::collections::HashMap;

/// Why the inputs could not be hashed; the step then runs (and reports the real error).
#[derive(Debug)]
pub struct Unhashable(pub String);

/// Add the context files `srcs` name to `key` (COPY's sources: patterns allowed).
pub fn add_context_sources(
    key: &mut KeyBuilder,
    tree: &SourceTree<'_>,
    srcs: &[String],
    stat: &StatCache,
) -> Result<(), Unhashable> {
    let mut w = Walk::new(key, tree, stat);
    for src in srcs {
        w.key.field("source", src.as_bytes());
        let matched = sources::resolve(tree, src).map_err(|e| Unhashable(e.to_string()))?;
        for rel in matched {
            w.add_top(&rel)?;
        }
    }
    Ok(())
}

/// Add what a bind mount's `source` shows to `key`: the path taken as written (a mount
/// source is no pattern: `[id]` is a directory name), a symlink at the top followed as
/// the mount follows it.
pub fn add_mount_source(
    key: &mut KeyBuilder,
    tree: &SourceTree<'_>,
    src: &str,
    stat: &StatCache,
) -> Result<(), Unhashable> {
    let mut w = Walk::new(key, tree, stat);
    w.key.field("mount-source", src.as_bytes());
    let rel = sources::literal(tree, src).map_err(|e| Unhashable(e.to_string()))?;
    w.add_top(&rel)
}

/// One hashing walk over a tree.
struct Walk<'a, 'k> {
    key: &'k mut KeyBuilder,
    tree: &'a SourceTree<'a>,
    stat: &'a StatCache,
    /// Files with several links, by (device, inode): the first path seen. Where owners
    /// are kept (a stage), the copy keeps hard links too, so they are part of the key.
    links: HashMap<(u64, u64), String>,
}

impl<'a, 'k> Walk<'a, 'k> {
    fn new(key: &'k mut KeyBuilder, tree: &'a SourceTree<'a>, stat: &'a StatCache) -> Self {
        Walk {
            key,
            tree,
            stat,
            links: HashMap::new(),
        }
    }

    /// A source path: a symlink is followed (as COPY does) and its target recorded too.
    fn add_top(&mut self, rel: &str) -> Result<(), Unhashable> {
        let err = |e: &dyn std::fmt::Display| Unhashable(format!("{rel}: {e}"));
        let root = self.tree.root;
        let lmeta = root
            .lstat(rel)
            .map_err(|e| err(&e))?
            .ok_or_else(|| Unhashable(format!("{rel} vanished")))?;
        if lmeta.kind == Kind::Symlink {
            let target = root.read_link(rel).map_err(|e| err(&e))?;
            self.key
                .field("top-link", target.as_os_str().as_encoded_bytes());
        }
        let meta = root
            .stat_follow(rel)
            .map_err(|e| err(&e))?
            .ok_or_else(|| Unhashable(format!("{rel} is a dangling link")))?;
        self.add_entry(rel, &meta)
    }

    fn add_entry(&mut self, rel: &str, meta: &Metadata) -> Result<(), Unhashable> {
        let err = |e: &dyn std::fmt::Display| Unhashable(format!("{rel}: {e}"));
        self.key.field("path", rel.as_bytes());
        let owner = if self.tree.keep_owners {
            format!(" {}:{}", meta.uid, meta.gid)
        } else {
            String::new()
        };
        // A directory's size depends on the filesystem it is read from, not its content.
        let size = if meta.kind == Kind::Dir { 0 } else { meta.size };
        self.key.field(
            "meta",
            format!("{} {:o}{owner} {size}", meta.kind.name(), meta.mode).as_bytes(),
        );
        if self.tree.keep_owners {
            self.add_kept(rel, meta)?;
        }
        match meta.kind {
            Kind::File => {
                let d = self
                    .stat
                    .digest(self.tree.root, rel, meta)
                    .map_err(|e| err(&e))?;
                self.key.field("sha256", d.hex().as_bytes());
            }
            Kind::Symlink => {
                let target = self.tree.root.read_link(rel).map_err(|e| err(&e))?;
                self.key
                    .field("link", target.as_os_str().as_encoded_bytes());
            }
            Kind::Dir => self.add_dir(rel)?,
            _ => {
                self.key.field("rdev", &meta.rdev.to_le_bytes());
            }
        }
        Ok(())
    }

    /// What a copy that keeps owners also keeps: extended attributes (file capabilities,
    /// ACLs) and hard links between the files it copies.
    fn add_kept(&mut self, rel: &str, meta: &Metadata) -> Result<(), Unhashable> {
        let xattrs = self
            .tree
            .root
            .get_xattrs(format!("/{rel}"))
            .map_err(|e| Unhashable(format!("{rel}: {e}")))?;
        for (name, value) in &xattrs {
            self.key.field("xattr", name.as_bytes());
            self.key.field("xattr-value", value);
        }
        if meta.kind != Kind::Dir && meta.nlink > 1 {
            match self.links.get(&(meta.dev, meta.ino)) {
                Some(first) => {
                    self.key.field("hardlink", first.as_bytes());
                }
                None => {
                    self.links.insert((meta.dev, meta.ino), rel.to_string());
                }
            }
        }
        Ok(())
    }

    /// The contents of directory `rel`, as the copy walks them: ignored entries skipped,
    /// except that an ignored directory is entered when a `!` pattern may bring files back.
    fn add_dir(&mut self, rel: &str) -> Result<(), Unhashable> {
        let entries = self
            .tree
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
            if self.tree.ignored(&child) {
                if meta.kind == Kind::Dir && self.tree.ignore.is_some_and(|i| i.has_exclusions()) {
                    self.key.field("ignored-dir", child.as_bytes());
                    self.add_dir(&child)?;
                }
                continue;
            }
            self.add_entry(&child, &meta)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::dockerignore::Ignore;
    use kiln_layer::Root;

    fn key_with(
        dir: &std::path::Path,
        ignore: Option<&Ignore>,
        srcs: &[&str],
        keep_owners: bool,
    ) -> kiln_oci::Digest {
        let root = Root::open(dir).expect("root");
        let tree = SourceTree {
            root: &root,
            ignore,
            label: "a tree".into(),
            keep_owners,
        };
        let mut k = KeyBuilder::new("test", None);
        let srcs: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
        add_context_sources(&mut k, &tree, &srcs, &StatCache::in_memory()).expect("hash");
        k.finish()
    }

    /// The build context's key (owners not kept).
    fn key_of(dir: &std::path::Path, ignore: Option<&Ignore>, srcs: &[&str]) -> kiln_oci::Digest {
        key_with(dir, ignore, srcs, false)
    }

    /// A stage's key (owners, xattrs and hard links kept).
    fn stage_key(dir: &std::path::Path, srcs: &[&str]) -> kiln_oci::Digest {
        key_with(dir, None, srcs, true)
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

    /// A stage's files are copied with their xattrs (file capabilities) and hard links:
    /// both are in the key. A directory's size (the filesystem's business) is not.
    #[test]
    fn xattrs_and_hard_links_count_where_the_copy_keeps_them() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path();
        std::fs::create_dir(p.join("out")).expect("mkdir");
        std::fs::write(p.join("out/tool"), "bin").expect("write");
        std::fs::write(p.join("out/copy"), "bin").expect("write");
        let k0 = stage_key(p, &["/out"]);
        let root = Root::open(p).expect("root");
        match root.set_xattr("/out/tool", "user.kiln-test", b"1") {
            Ok(()) => assert_ne!(stage_key(p, &["/out"]), k0, "xattr added"),
            // A filesystem without user xattrs: nothing to check here.
            Err(e) => eprintln!("no user xattrs here: {e}"),
        }
        let k1 = stage_key(p, &["/out"]);
        std::fs::remove_file(p.join("out/copy")).expect("rm");
        std::fs::hard_link(p.join("out/tool"), p.join("out/copy")).expect("link");
        assert_ne!(stage_key(p, &["/out"]), k1, "same content, now a hard link");
        let k2 = stage_key(p, &["/out"]);
        for i in 0..200 {
            std::fs::write(p.join(format!("out/f{i}")), "x").expect("write");
            std::fs::remove_file(p.join(format!("out/f{i}"))).expect("rm");
        }
        assert_eq!(stage_key(p, &["/out"]), k2, "the directory grew and shrank");
    }

    /// A bind mount's source is a path, not a pattern: `[id]` is read as a name.
    #[test]
    fn a_mount_source_is_taken_literally() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path();
        std::fs::create_dir_all(p.join("pages/[id]")).expect("mkdir");
        std::fs::write(p.join("pages/[id]/page.js"), "one").expect("write");
        let key = || {
            let root = Root::open(p).expect("root");
            let tree = SourceTree {
                root: &root,
                ignore: None,
                label: "a stage".into(),
                keep_owners: true,
            };
            let mut k = KeyBuilder::new("test", None);
            add_mount_source(&mut k, &tree, "/pages/[id]", &StatCache::in_memory()).expect("hash");
            k.finish()
        };
        let k0 = key();
        std::fs::write(p.join("pages/[id]/page.js"), "two").expect("write");
        assert_ne!(key(), k0, "the directory's file changed");
    }
}
