//! Writing paths and whole trees of a [`Root`] into a layer, ancestors first, sorted.

use super::*;

/// Xattrs that are never copied into layers: host-specific SELinux labels
/// and overlayfs' own bookkeeping.
pub(crate) fn keep_xattr(name: &str) -> bool {
    name != "security.selinux" && !name.starts_with("trusted.overlay.")
}

/// Split a container path into components, cleaning it lexically (`..`
/// clamped at the root, as [`Root`] does).
pub(super) fn components(p: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n.as_bytes().to_vec()),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

pub(super) fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    let mut s = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push(b'/');
        }
        s.extend_from_slice(c);
    }
    s
}

/// Emit the given container paths (absolute or relative; cleaned
/// lexically) plus every ancestor directory not already emitted by `w`,
/// sorted depth-first by component, with metadata, link targets and xattrs
/// read from `root` (`security.selinux` and `trusted.overlay.*` are left
/// out). Paths already emitted by `w` are skipped. A non-directory whose
/// (dev, ino) was already emitted by `w` becomes a hard link to the first
/// path. Sockets are skipped and listed in [`LayerWriter::skipped`].
/// Nanosecond parts of mtimes are dropped.
pub fn write_paths<W: Write>(root: &Root, paths: &[String], w: &mut LayerWriter<W>) -> Result<()> {
    let mut set: BTreeSet<Vec<Vec<u8>>> = BTreeSet::new();
    for p in paths {
        let comps = components(Path::new(p));
        for i in 1..=comps.len() {
            set.insert(comps[..i].to_vec());
        }
    }
    write_sorted(root, set.into_iter(), w)
}

/// Emit the whole tree of `root` (not the root directory itself), as
/// [`write_paths`] would with every path.
pub fn write_tree<W: Write>(root: &Root, w: &mut LayerWriter<W>) -> Result<()> {
    let all = root.walk("/")?;
    let set: BTreeSet<Vec<Vec<u8>>> = all
        .iter()
        .map(|(p, _)| components(p))
        .filter(|c| !c.is_empty())
        .collect();
    write_sorted(root, set.into_iter(), w)
}

pub(super) fn write_sorted<W: Write>(
    root: &Root,
    paths: impl Iterator<Item = Vec<Vec<u8>>>,
    w: &mut LayerWriter<W>,
) -> Result<()> {
    for comps in paths {
        write_one(root, &comps, w)?;
    }
    Ok(())
}

/// Emit one path of `root` (given as components) as [`write_paths`] does,
/// unless `w` already emitted it. Ancestors are not added.
pub(crate) fn write_one<W: Write>(
    root: &Root,
    comps: &[Vec<u8>],
    w: &mut LayerWriter<W>,
) -> Result<()> {
    {
        let rel = join(comps);
        if w.emitted.contains(&rel) {
            return Ok(());
        }
        let mut abs = b"/".to_vec();
        abs.extend_from_slice(&rel);
        let cpath = PathBuf::from(OsString::from_vec(abs));
        let relpath = PathBuf::from(OsString::from_vec(rel.clone()));
        let Some(m) = root.lstat(&cpath)? else {
            return Err(Error::Missing {
                path: cpath,
                root: root.path().to_path_buf(),
            });
        };
        if m.kind == Kind::Socket {
            w.skipped.push(cpath);
            return Ok(());
        }
        let mut xattrs = root.get_xattrs(&cpath)?;
        xattrs.retain(|k, _| keep_xattr(k));
        let meta = EntryMeta {
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            mtime: m.mtime.0,
            xattrs,
        };
        let key = (m.dev, m.ino);
        if m.kind != Kind::Dir && m.nlink > 1 {
            if let Some(first) = w.links.get(&key) {
                let target = PathBuf::from(OsString::from_vec(first.clone()));
                w.add_entry_path(&relpath, &meta, EntryKind::Hardlink { target }, None)?;
                return Ok(());
            }
        }
        match m.kind {
            Kind::Dir => w.add_entry_path(&relpath, &meta, EntryKind::Dir, None)?,
            Kind::File => {
                // Holes are not read from disk (the tar still holds their zeros).
                let mut f = kiln_oci::HoleReader::new(root.open_file(&cpath)?, m.size);
                w.add_entry_path(
                    &relpath,
                    &meta,
                    EntryKind::File { size: m.size },
                    Some(&mut f),
                )?;
            }
            Kind::Symlink => {
                let target = root.read_link(&cpath)?;
                w.add_entry_path(&relpath, &meta, EntryKind::Symlink { target }, None)?;
            }
            Kind::Char => w.add_entry_path(
                &relpath,
                &meta,
                EntryKind::Char {
                    major: m.rdev_major(),
                    minor: m.rdev_minor(),
                },
                None,
            )?,
            Kind::Block => w.add_entry_path(
                &relpath,
                &meta,
                EntryKind::Block {
                    major: m.rdev_major(),
                    minor: m.rdev_minor(),
                },
                None,
            )?,
            Kind::Fifo => w.add_entry_path(&relpath, &meta, EntryKind::Fifo, None)?,
            Kind::Socket => {}
        }
        if m.kind != Kind::Dir && m.nlink > 1 {
            w.links.insert(key, rel);
        }
    }
    Ok(())
}
