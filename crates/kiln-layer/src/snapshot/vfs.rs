//! The vfs snapshotter: plain copies, for hosts without overlayfs.
//!
//! [`merge_lowers`] stacks unpacked layers (overlay form: 0:0 character
//! devices are whiteouts, `trusted.overlay.opaque=y` hides the lower
//! contents of a directory) into one plain tree the way overlayfs would
//! show them merged; everything else (owners, modes, mtimes with
//! nanoseconds, xattrs other than `trusted.overlay.*`, devices, fifos,
//! symlinks, hard links within one layer) is preserved.
//! [`VfsSnapshot::prepare`] makes a pristine merged copy plus a working
//! copy; after the step, [`VfsSnapshot::diff`] compares them.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::extract::{cpath, OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX};
use crate::root::{Kind, Metadata, Root, MAX_DEPTH};
use crate::tar_write::LayerWriter;

use super::{diff_trees, Result};

/// A vfs snapshot: `<dir>/before` (the merged lowers, kept pristine) and
/// `<dir>/rootfs` (the working copy a step changes).
#[derive(Debug)]
pub struct VfsSnapshot {
    before: Root,
    rootfs: Root,
}

impl VfsSnapshot {
    /// Merge `lowers` (bottom first, overlay form) into `<dir>/before` and
    /// copy that to `<dir>/rootfs`. `dir` must exist; the two
    /// subdirectories must not.
    pub fn prepare(lowers: &[PathBuf], dir: &Path) -> Result<VfsSnapshot> {
        let mk = |name: &str| -> Result<Root> {
            let p = dir.join(name);
            std::fs::create_dir(&p).map_err(|source| crate::root::Error::OpenRoot {
                dir: p.clone(),
                source,
            })?;
            Ok(Root::open(&p)?)
        };
        let before = mk("before")?;
        merge_lowers(lowers, &before)?;
        let rootfs = mk("rootfs")?;
        // Hard links of the lower layers are not kept in the working copy: under overlayfs
        // (index=off, the kernel default; BuildKit's overlay snapshotter and kiln's overlay
        // driver) changing one name copies up that name only, and the others keep the old
        // content.
        merge(&[before.path().to_path_buf()], &rootfs, false)?;
        Ok(VfsSnapshot { before, rootfs })
    }

    /// The working copy (the root filesystem of the step).
    pub fn rootfs(&self) -> &Root {
        &self.rootfs
    }

    /// The pristine merged lowers.
    pub fn before(&self) -> &Root {
        &self.before
    }

    /// Write what changed in the working copy as a layer.
    pub fn diff<W: Write>(&self, w: &mut LayerWriter<W>) -> Result<()> {
        diff_trees(&self.before, &self.rootfs, w)
    }
}

/// Directory (mode, mtime) by path components.
type DirTimes = BTreeMap<Vec<Vec<u8>>, (u32, (i64, u32))>;

/// Stack `lowers` (bottom first, overlay form) into `dest` as overlayfs
/// would merge them. Needs root for owners, devices and trusted xattrs.
pub fn merge_lowers(lowers: &[PathBuf], dest: &Root) -> Result<()> {
    merge(lowers, dest, true)
}

/// [`merge_lowers`]; `keep_links`: make hard links within a layer hard links in `dest`
/// (otherwise every name gets a copy of its own).
fn merge(lowers: &[PathBuf], dest: &Root, keep_links: bool) -> Result<()> {
    // Directory (mode, mtime) from the top-most layer holding it, applied
    // deepest first at the end (adding children changes the mtime).
    let mut dirs: DirTimes = BTreeMap::new();
    for l in lowers {
        let src = Root::open(l)?;
        let mut m = Merger {
            src: &src,
            dest,
            links: HashMap::new(),
            keep_links,
            dirs: &mut dirs,
        };
        m.merge_dir(&Vec::new(), 0)?;
    }
    for (comps, (mode, mtime)) in dirs.iter().rev() {
        let p = cpath(comps);
        if dest.lstat(&p)?.is_some_and(|m| m.kind == Kind::Dir) {
            dest.chmod(&p, *mode)?;
            dest.set_times(&p, *mtime)?;
        }
    }
    Ok(())
}

struct Merger<'a> {
    src: &'a Root,
    dest: &'a Root,
    /// (dev, ino) of multiply linked sources → first destination path.
    links: HashMap<(u64, u64), PathBuf>,
    keep_links: bool,
    dirs: &'a mut DirTimes,
}

impl Merger<'_> {
    fn merge_dir(&mut self, d: &[Vec<u8>], depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(crate::root::Error::TooDeep {
                op: "merge layers",
                path: cpath(d),
                root: self.src.path().to_path_buf(),
            }
            .into());
        }
        for (name, m) in self.src.read_dir(cpath(d))? {
            let mut c = d.to_vec();
            c.push(name.into_vec());
            let p = cpath(&c);
            let existing = self.dest.lstat(&p)?;
            if m.kind == Kind::Char && m.rdev == 0 {
                if existing.is_some() {
                    self.dest.remove_all(&p)?;
                    self.dirs.retain(|k, _| !k.starts_with(&c));
                }
                continue;
            }
            if m.kind == Kind::Dir {
                let xattrs = self.src.get_xattrs(&p)?;
                let opaque = xattrs
                    .get(OVERLAY_OPAQUE_XATTR)
                    .is_some_and(|v| v.as_slice() == b"y");
                match existing {
                    Some(e) if e.kind == Kind::Dir => {
                        if opaque {
                            self.dest.remove_all(&p)?;
                            self.dirs.retain(|k, _| !k.starts_with(&c) || *k == c);
                            self.dest.mkdir(&p, 0o700)?;
                        }
                    }
                    Some(_) => {
                        self.dest.remove_all(&p)?;
                        self.dest.mkdir(&p, 0o700)?;
                    }
                    None => self.dest.mkdir(&p, 0o700)?,
                }
                self.dest.lchown(&p, m.uid, m.gid)?;
                self.replace_xattrs(&p, &xattrs)?;
                self.dirs.insert(c.clone(), (m.mode, m.mtime));
                self.merge_dir(&c, depth + 1)?;
                continue;
            }
            if existing.is_some() {
                self.dest.remove_all(&p)?;
                self.dirs.retain(|k, _| !k.starts_with(&c));
            }
            self.copy_node(&p, &m)?;
        }
        Ok(())
    }

    /// Set exactly `xattrs` (minus overlayfs' own) on `p` in `dest`.
    fn replace_xattrs(&self, p: &Path, xattrs: &BTreeMap<String, Vec<u8>>) -> Result<()> {
        for k in self.dest.get_xattrs(p)?.keys() {
            // The host's own labels stay.
            if !xattrs.contains_key(k) && k != "security.selinux" {
                self.dest.remove_xattr(p, k)?;
            }
        }
        for (k, v) in xattrs {
            if !k.starts_with(OVERLAY_XATTR_PREFIX) {
                self.dest.set_xattr(p, k, v)?;
            }
        }
        Ok(())
    }

    fn copy_node(&mut self, p: &Path, m: &Metadata) -> Result<()> {
        let key = (m.dev, m.ino);
        if m.nlink > 1 && self.keep_links {
            if let Some(first) = self.links.get(&key) {
                self.dest.hardlink(first, p)?;
                return Ok(());
            }
        }
        match m.kind {
            Kind::File => {
                // Holes stay holes: a sparse file costs no more in the copy.
                let mut from = kiln_oci::HoleReader::new(self.src.open_file(p)?, m.size);
                let to = self.dest.create_file(p, 0o600)?;
                let mut sparse = kiln_oci::SparseFile::new(&to);
                std::io::copy(&mut from, &mut sparse)
                    .and_then(|_| sparse.finish().map(drop))
                    .map_err(|source| crate::root::Error::Io {
                        op: "copy file content",
                        path: p.to_path_buf(),
                        root: self.dest.path().to_path_buf(),
                        source,
                    })?;
            }
            Kind::Symlink => {
                let target = self.src.read_link(p)?;
                self.dest.symlink(&target, p)?;
            }
            Kind::Char | Kind::Block | Kind::Fifo | Kind::Socket => {
                self.dest.mknod(p, m.kind, m.mode, m.rdev)?;
            }
            Kind::Dir => {}
        }
        self.dest.lchown(p, m.uid, m.gid)?;
        let xattrs = self.src.get_xattrs(p)?;
        for (k, v) in &xattrs {
            if !k.starts_with(OVERLAY_XATTR_PREFIX) {
                self.dest.set_xattr(p, k, v)?;
            }
        }
        if m.kind != Kind::Symlink {
            // After chown (which clears setuid/setgid).
            self.dest.chmod(p, m.mode)?;
        }
        self.dest.set_times(p, m.mtime)?;
        if m.nlink > 1 && self.keep_links {
            self.links.insert(key, p.to_path_buf());
        }
        Ok(())
    }
}
