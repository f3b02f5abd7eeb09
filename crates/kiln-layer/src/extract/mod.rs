//! Extract a (possibly hostile) layer tar into a [`Root`].
//!
//! Rules, applied to every member:
//!
//! * **Names.** A leading `/` is stripped (absolute names become relative),
//!   empty and `.` components are dropped, and `..` pops one component. A
//!   name that would climb **above** the root (`../x`, `a/../../x`) is
//!   **rejected** with [`Error::Escape`]; the whole extraction stops. The same
//!   rule applies to hard link targets. Symlink targets are stored verbatim:
//!   they are harmless because every later path is resolved inside the root.
//!   Names longer than [`MAX_NAME`] bytes are rejected.
//! * **Writes through symlinks** planted earlier (in this tar or a lower
//!   layer) are resolved by [`Root`], i.e. inside the root.
//! * **Replacing.** An existing object at the member's path is removed
//!   first (never followed), unless both are directories (then the directory
//!   is kept and its metadata updated).
//! * **Hard links** must name an existing non-directory inside the root;
//!   otherwise [`Error::HardlinkTarget`].
//! * **Devices** are created with mknod only when [`ExtractOptions::devices`]
//!   is set and the process is root; otherwise they are skipped and counted.
//!   Nothing extracted is ever opened except the regular files being written.
//! * **Metadata.** Files: content, then owner (if
//!   [`ExtractOptions::same_owner`]), then xattrs (including
//!   `security.capability`; chown would clear it), then mode (setuid, setgid,
//!   sticky preserved), then mtime. Directories: owner and xattrs at once,
//!   mode and mtime at the end, deepest first.
//! * **Whiteouts** ([`WhiteoutMode::Apply`]): `.wh.<name>` removes
//!   `<name>` from the lower layers; `.wh..wh..opq` removes everything in its
//!   directory that this layer did not itself create. Other `.wh..wh.*`
//!   (aufs metadata) members are skipped. Whiteouts never remove what the
//!   same layer created.
//!   With [`WhiteoutMode::Overlay`] (a layer unpacked alone, as an overlayfs
//!   lower directory) `.wh.<name>` becomes the 0:0 character device
//!   `<name>` and `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its
//!   directory; a whiteout's directory missing from the layer is created
//!   (0755, extraction time), one below a non-directory is skipped; members'
//!   own `trusted.overlay.*` xattrs are dropped.
//! * The root directory's own member (`./`) is skipped.
//! * Unsupported member types (GNU sparse, multi-volume, ...) stop the
//!   extraction with [`Error::Unsupported`].

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs as rfs;

use crate::root::{self, hint, Kind, Root};
use kiln_oci::tar::{RawEntry, TarReader};

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Prefix of overlayfs' private xattrs.
pub const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
/// The xattr marking an overlayfs directory opaque (value `y`).
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Longest member name accepted, in bytes.
pub const MAX_NAME: usize = 4096;

/// What to do with OCI whiteout members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// Apply them: remove the named path / clear the directory (stacking
    /// layers into one rootfs).
    #[default]
    Apply,
    /// Extract them as the ordinary empty files they are.
    Keep,
    /// Convert them to overlayfs' on-disk form, for a directory used as an
    /// overlay lower layer: `.wh.<name>` becomes the character device
    /// `<name>` with device number 0:0, and `.wh..wh..opq` sets the xattr
    /// `trusted.overlay.opaque=y` on its directory. Members' own
    /// `trusted.overlay.*` xattrs are dropped (a layer must not steer
    /// overlayfs with redirects or origins). Needs root (mknod, trusted
    /// xattrs).
    Overlay,
}

/// Extraction options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Whiteout handling.
    pub whiteouts: WhiteoutMode,
    /// Restore owners (uid/gid) with lchown. Needs root for other owners.
    pub same_owner: bool,
    /// Create device nodes (only when running as root; else skipped).
    pub devices: bool,
    /// List every member's path in [`ExtractStats::paths`] (for building a layer of
    /// what an extraction wrote).
    pub record_paths: bool,
}

impl Default for ExtractOptions {
    /// Apply whiteouts; restore owners and create devices when root.
    fn default() -> Self {
        let root = is_root();
        ExtractOptions {
            whiteouts: WhiteoutMode::Apply,
            same_owner: root,
            devices: root,
            record_paths: false,
        }
    }
}

/// True if the effective uid is 0.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Counters and warnings of one extraction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Members seen (extension headers not counted).
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Directories created or updated.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hard links created.
    pub hardlinks: u64,
    /// Character and block devices created.
    pub devices: u64,
    /// Device members skipped (not root, or `devices` off, or mknod refused).
    pub devices_skipped: u64,
    /// Fifos created.
    pub fifos: u64,
    /// Whiteout and opaque members applied.
    pub whiteouts: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Things skipped or not restored, one line each, naming the path.
    pub warnings: Vec<String>,
    /// Container paths written (relative, `/`-separated), when
    /// [`ExtractOptions::record_paths`] is set.
    pub paths: Vec<String>,
}

mod error;
mod metadata;
mod names;
mod whiteout;

pub use error::Error;
pub(crate) use names::cpath;
use names::{clean_name, show, under};

struct DirMeta {
    mode: u32,
    mtime: (i64, u32),
}

struct State<'a> {
    root: &'a Root,
    opts: &'a ExtractOptions,
    is_root: bool,
    stats: ExtractStats,
    /// Paths this layer created (cleaned components).
    created: HashSet<Vec<Vec<u8>>>,
    /// Directory mode/mtime applied at the end.
    dirs: BTreeMap<Vec<Vec<u8>>, DirMeta>,
}

/// Extract the tar stream `reader` into `root`. See the module docs for the
/// rules. Not transactional: on error, what was extracted so far stays.
pub fn extract(reader: impl Read, root: &Root, opts: &ExtractOptions) -> Result<ExtractStats> {
    let mut tr = TarReader::new(reader);
    let mut st = State {
        root,
        opts,
        is_root: is_root(),
        stats: ExtractStats::default(),
        created: HashSet::new(),
        dirs: BTreeMap::new(),
    };
    while let Some(e) = tr.next_entry()? {
        st.stats.entries += 1;
        st.entry(&e, &mut tr)?;
    }
    st.finish_dirs()?;
    Ok(st.stats)
}

/// The kind of file a typeflag makes (a hard link, `1`, is handled on its own); the GNU
/// extensions and unknown types are refused.
fn kind_of(typeflag: u8, e: &RawEntry) -> Result<Kind> {
    Ok(match typeflag {
        b'0' | 0 | b'7' => Kind::File,
        b'5' => Kind::Dir,
        b'2' => Kind::Symlink,
        b'1' => Kind::File, // hard link; handled on its own
        b'3' => Kind::Char,
        b'4' => Kind::Block,
        b'6' => Kind::Fifo,
        t => {
            let what = match t {
                b'S' => "GNU sparse file",
                b'D' => "GNU dump directory",
                b'M' => "GNU multi-volume continuation",
                b'V' => "GNU volume label",
                b'N' => "GNU old long name",
                _ => "unknown type",
            };
            return Err(Error::Unsupported {
                entry: show(&e.name),
                typeflag: t as char,
                what: what.into(),
            });
        }
    })
}

/// The entry's uid and gid. 4294967295 is the kernel's "no change" id (-1): no file can
/// be owned by it.
fn owner_ids(e: &RawEntry) -> Result<(u32, u32)> {
    let id = |what: &'static str, value: u64| {
        u32::try_from(value)
            .ok()
            .filter(|v| *v != u32::MAX)
            .ok_or_else(|| Error::OutOfRange {
                entry: show(&e.name),
                what,
                value,
            })
    };
    Ok((id("uid", e.uid)?, id("gid", e.gid)?))
}

impl State<'_> {
    fn fs(&self, e: &RawEntry) -> impl Fn(root::Error) -> Error {
        let entry = show(&e.name);
        move |source| Error::Fs {
            entry: entry.clone(),
            source,
        }
    }

    /// Drop deferred directory metadata at or below `p` (it was removed).
    fn forget_dirs(&mut self, p: &[Vec<u8>]) {
        self.dirs.retain(|k, _| !under(k, p));
    }

    fn entry<R: Read>(&mut self, e: &RawEntry, tr: &mut TarReader<R>) -> Result<()> {
        if e.name.len() > MAX_NAME {
            return Err(Error::NameTooLong {
                entry: show(&e.name[..64]),
                len: e.name.len(),
            });
        }
        let comps = clean_name(&e.name).map_err(|()| Error::Escape {
            entry: show(&e.name),
            what: "name",
            name: show(&e.name),
        })?;
        if let Some(k) = &e.unsupported_pax {
            return Err(Error::Unsupported {
                entry: show(&e.name),
                typeflag: e.typeflag as char,
                what: format!("PAX key {k}: sparse files are not supported"),
            });
        }
        let mut typeflag = e.typeflag;
        if typeflag == 0 && e.name.ends_with(b"/") {
            typeflag = b'5';
        }
        let kind = kind_of(typeflag, e)?;

        // Whiteouts.
        if self.opts.whiteouts != WhiteoutMode::Keep {
            if let Some(base) = comps.last() {
                if let Some(rest) = base.strip_prefix(b".wh.") {
                    if self.opts.whiteouts == WhiteoutMode::Overlay {
                        return self.overlay_whiteout(e, &comps, rest);
                    }
                    return self.whiteout(e, &comps, rest);
                }
            }
        }

        if comps.is_empty() {
            self.stats.warnings.push(format!(
                "{:?}: member for the root directory skipped",
                show(&e.name)
            ));
            return Ok(());
        }
        let path = cpath(&comps);
        if self.opts.record_paths {
            self.stats
                .paths
                .push(path.to_string_lossy().trim_start_matches('/').to_string());
        }
        let Some(keep_dir) = self.make_room(e, &comps, &path, typeflag)? else {
            return self.hardlink(e, &comps, &path);
        };
        let owner = owner_ids(e)?;
        let created = match (typeflag, kind) {
            (b'5', _) => self.make_dir(e, &comps, &path, keep_dir, owner)?,
            (_, Kind::File) => {
                let fs = self.fs(e);
                let f = self.root.create_file(&path, 0o600).map_err(&fs)?;
                let n = copy_content(tr, &f, e)?;
                self.stats.bytes += n;
                self.file_meta(e, &f, &path, owner.0, owner.1)?;
                self.stats.files += 1;
                true
            }
            (_, Kind::Symlink) => self.make_symlink(e, &path, owner)?,
            (_, Kind::Char | Kind::Block) => self.make_device(e, &path, kind, owner)?,
            (_, Kind::Fifo) => {
                let fs = self.fs(e);
                self.root.mknod(&path, Kind::Fifo, e.mode, 0).map_err(&fs)?;
                self.node_meta(e, &path, owner.0, owner.1)?;
                self.stats.fifos += 1;
                true
            }
            _ => true,
        };
        if created {
            self.created.insert(comps);
        }
        Ok(())
    }

    /// Make sure the parent exists (resolved inside the root); then, unless the entry is a
    /// hard link (`None`: nothing touched there yet), replace whatever is at `path` except
    /// a directory under a directory entry (`Some(true)`: that one is kept).
    fn make_room(
        &mut self,
        e: &RawEntry,
        comps: &[Vec<u8>],
        path: &Path,
        typeflag: u8,
    ) -> Result<Option<bool>> {
        let fs = self.fs(e);
        let parent = cpath(&comps[..comps.len() - 1]);
        match self.root.stat_follow(&parent).map_err(&fs)? {
            Some(m) if m.kind == Kind::Dir => {}
            _ => {
                self.root.mkdir_all(&parent, 0o755, None).map_err(&fs)?;
            }
        }
        let existing = self.root.lstat(path).map_err(&fs)?;
        let keep_dir = typeflag == b'5' && existing.as_ref().is_some_and(|m| m.kind == Kind::Dir);
        if typeflag == b'1' {
            return Ok(None);
        }
        if existing.is_some() && !keep_dir {
            self.root.remove_all(path).map_err(&fs)?;
            self.forget_dirs(comps);
        }
        Ok(Some(keep_dir))
    }

    /// A directory entry; its mode and times are applied at the end.
    fn make_dir(
        &mut self,
        e: &RawEntry,
        comps: &[Vec<u8>],
        path: &Path,
        keep_dir: bool,
        (uid, gid): (u32, u32),
    ) -> Result<bool> {
        let fs = self.fs(e);
        if !keep_dir {
            self.root.mkdir(path, 0o700 | e.mode).map_err(&fs)?;
        }
        if self.opts.same_owner {
            self.root.lchown(path, uid, gid).map_err(&fs)?;
        }
        self.path_xattrs(e, path)?;
        self.dirs.insert(
            comps.to_vec(),
            DirMeta {
                mode: e.mode,
                mtime: e.mtime,
            },
        );
        self.stats.dirs += 1;
        Ok(true)
    }

    fn make_symlink(&mut self, e: &RawEntry, path: &Path, (uid, gid): (u32, u32)) -> Result<bool> {
        if e.link.is_empty() {
            return Err(Error::Unsupported {
                entry: show(&e.name),
                typeflag: '2',
                what: "symlink with an empty target".into(),
            });
        }
        let fs = self.fs(e);
        let target = PathBuf::from(OsString::from_vec(e.link.clone()));
        self.root.symlink(&target, path).map_err(&fs)?;
        if self.opts.same_owner {
            self.root.lchown(path, uid, gid).map_err(&fs)?;
        }
        self.path_xattrs(e, path)?;
        self.root.set_times(path, e.mtime).map_err(&fs)?;
        self.stats.symlinks += 1;
        Ok(true)
    }

    /// A character or block device; skipped (false) with a warning when device creation
    /// is off, kiln is not root, or mknod is not permitted here.
    fn make_device(
        &mut self,
        e: &RawEntry,
        path: &Path,
        kind: Kind,
        (uid, gid): (u32, u32),
    ) -> Result<bool> {
        let skipped = |st: &mut Self, why: &str| {
            st.stats.devices_skipped += 1;
            st.stats.warnings.push(format!(
                "{}: device node {}:{} skipped ({why})",
                path.display(),
                e.devmajor,
                e.devminor,
            ));
            Ok(false)
        };
        if !self.opts.devices {
            return skipped(self, "device creation is off");
        }
        if !self.is_root {
            return skipped(self, "not running as root");
        }
        let rdev = root::makedev(e.devmajor, e.devminor);
        match self.root.mknod(path, kind, e.mode, rdev) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {
                return skipped(self, "mknod not permitted here");
            }
            Err(err) => return Err(self.fs(e)(err)),
        }
        self.node_meta(e, path, uid, gid)?;
        self.stats.devices += 1;
        Ok(true)
    }

    fn hardlink(&mut self, e: &RawEntry, comps: &[Vec<u8>], path: &Path) -> Result<()> {
        let refuse = |why: &'static str| Error::HardlinkTarget {
            entry: show(&e.name),
            target: show(&e.link),
            why,
        };
        let tcomps = clean_name(&e.link).map_err(|()| Error::Escape {
            entry: show(&e.name),
            what: "hard link target",
            name: show(&e.link),
        })?;
        if tcomps.is_empty() {
            return Err(refuse("is the root directory"));
        }
        let target = cpath(&tcomps);
        let fs = self.fs(e);
        match self.root.lstat(&target).map_err(&fs)? {
            None => return Err(refuse("does not exist in the layer or below it")),
            Some(m) if m.kind == Kind::Dir => return Err(refuse("is a directory")),
            Some(_) => {}
        }
        if tcomps == comps {
            return Ok(());
        }
        if let Some(m) = self.root.lstat(path).map_err(&fs)? {
            if m.kind == Kind::Dir {
                self.root.remove_all(path).map_err(&fs)?;
                self.forget_dirs(comps);
            }
        }
        self.root.hardlink(&target, path).map_err(&fs)?;
        self.stats.hardlinks += 1;
        self.created.insert(comps.to_vec());
        Ok(())
    }
}

/// Write a member's content into the new file `f`. Aligned blocks of zeros become holes
/// ([`kiln_oci::SparseFile`]): a layer holding a 4 GiB sparse file unpacks into what its
/// data costs, with the same bytes when read.
fn copy_content<R: Read>(tr: &mut TarReader<R>, f: &std::fs::File, e: &RawEntry) -> Result<u64> {
    let mut src = tr.content();
    let mut dst = kiln_oci::SparseFile::new(f);
    let write_err = |err| Error::Write {
        entry: show(&e.name),
        source: err,
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(Error::Read {
                    offset: e.offset,
                    source: err,
                })
            }
        };
        dst.write_all(&buf[..n]).map_err(write_err)?;
    }
    let total = dst.len();
    dst.finish().map_err(write_err)?;
    Ok(total)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_rejected() {
        assert_eq!(
            clean_name(b"/a/./b/"),
            Ok(vec![b"a".to_vec(), b"b".to_vec()])
        );
        assert_eq!(clean_name(b"a/../b"), Ok(vec![b"b".to_vec()]));
        assert_eq!(clean_name(b"../x"), Err(()));
        assert_eq!(clean_name(b"a/../../x"), Err(()));
        assert_eq!(clean_name(b"./"), Ok(vec![]));
    }
}
