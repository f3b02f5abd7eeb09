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
use crate::tar_read::{RawEntry, TarReader};

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

/// Extraction errors. Each names the member (as written in the archive) or
/// the archive offset, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the archive failed.
    #[error("reading layer tar at byte {offset}: {source}; {hint}", hint = hint(.source))]
    Read {
        /// Byte offset in the (decompressed) archive.
        offset: u64,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The archive is malformed.
    #[error(
        "layer tar is corrupt at byte {offset}: {what}; the file is damaged or not a tar archive"
    )]
    Corrupt {
        /// Byte offset of the bad header.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A member name (or hard link target) climbs above the root.
    #[error("layer tar entry {entry:?}: {what} {name:?} climbs above the root with `..`; refusing to extract this archive")]
    Escape {
        /// Member name.
        entry: String,
        /// "name" or "hard link target".
        what: &'static str,
        /// The offending name.
        name: String,
    },
    /// A member name is too long.
    #[error("layer tar entry {entry:?}...: name is {len} bytes, more than the limit of {MAX_NAME}; refusing to extract")]
    NameTooLong {
        /// First bytes of the member name.
        entry: String,
        /// Name length.
        len: usize,
    },
    /// A member type we do not extract.
    #[error("layer tar entry {entry:?}: unsupported entry type {typeflag:?} ({what}); rebuild the archive without it")]
    Unsupported {
        /// Member name.
        entry: String,
        /// Tar type flag.
        typeflag: char,
        /// Description.
        what: String,
    },
    /// A hard link whose target is missing, a directory, or invalid.
    #[error("layer tar entry {entry:?}: hard link target {target:?} {why}; refusing to extract")]
    HardlinkTarget {
        /// Member name.
        entry: String,
        /// Link target as written.
        target: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A malformed whiteout member.
    #[error("layer tar entry {entry:?}: invalid whiteout (it names no file); rebuild the layer")]
    BadWhiteout {
        /// Member name.
        entry: String,
    },
    /// Numeric value out of range for this system.
    #[error("layer tar entry {entry:?}: {what} {value} is out of range; rebuild the archive with 32-bit ids")]
    OutOfRange {
        /// Member name.
        entry: String,
        /// Field.
        what: &'static str,
        /// Value.
        value: u64,
    },
    /// Writing file content failed.
    #[error("layer tar entry {entry:?}: writing file content: {source}; {hint}", hint = hint(.source))]
    Write {
        /// Member name.
        entry: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation in the target root failed.
    #[error("layer tar entry {entry:?}: {source}")]
    Fs {
        /// Member name.
        entry: String,
        /// Cause.
        #[source]
        source: root::Error,
    },
}

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Clean a member name; `Err(())` if it climbs above the root.
fn clean_name(name: &[u8]) -> std::result::Result<Vec<Vec<u8>>, ()> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(());
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

/// The container path (`/a/b`) of path components; `/` for none.
pub(crate) fn cpath(comps: &[Vec<u8>]) -> PathBuf {
    let mut s = Vec::new();
    for c in comps {
        s.push(b'/');
        s.extend_from_slice(c);
    }
    if s.is_empty() {
        s.push(b'/');
    }
    PathBuf::from(OsString::from_vec(s))
}

fn under(p: &[Vec<u8>], prefix: &[Vec<u8>]) -> bool {
    p.len() >= prefix.len() && p[..prefix.len()] == *prefix
}

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
        let kind = match typeflag {
            b'0' | 0 | b'7' => Kind::File,
            b'5' => Kind::Dir,
            b'2' => Kind::Symlink,
            b'1' => Kind::File, // hard link; handled below
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
        };

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
        let fs = self.fs(e);
        if self.opts.record_paths {
            self.stats
                .paths
                .push(path.to_string_lossy().trim_start_matches('/').to_string());
        }

        // Make sure the parent exists (resolved inside the root).
        let parent = cpath(&comps[..comps.len() - 1]);
        match self.root.stat_follow(&parent).map_err(&fs)? {
            Some(m) if m.kind == Kind::Dir => {}
            _ => {
                self.root.mkdir_all(&parent, 0o755, None).map_err(&fs)?;
            }
        }

        // Replace whatever is there, except dir over dir.
        let existing = self.root.lstat(&path).map_err(&fs)?;
        let keep_dir = typeflag == b'5' && existing.as_ref().is_some_and(|m| m.kind == Kind::Dir);
        if typeflag == b'1' {
            return self.hardlink(e, &comps, &path);
        }
        if existing.is_some() && !keep_dir {
            self.root.remove_all(&path).map_err(&fs)?;
            self.forget_dirs(&comps);
        }

        let uid = u32::try_from(e.uid).map_err(|_| Error::OutOfRange {
            entry: show(&e.name),
            what: "uid",
            value: e.uid,
        })?;
        let gid = u32::try_from(e.gid).map_err(|_| Error::OutOfRange {
            entry: show(&e.name),
            what: "gid",
            value: e.gid,
        })?;

        match (typeflag, kind) {
            (b'5', _) => {
                if !keep_dir {
                    self.root.mkdir(&path, 0o700 | e.mode).map_err(&fs)?;
                }
                if self.opts.same_owner {
                    self.root.lchown(&path, uid, gid).map_err(&fs)?;
                }
                self.path_xattrs(e, &path)?;
                self.dirs.insert(
                    comps.clone(),
                    DirMeta {
                        mode: e.mode,
                        mtime: e.mtime,
                    },
                );
                self.stats.dirs += 1;
            }
            (_, Kind::File) => {
                let f = self.root.create_file(&path, 0o600).map_err(&fs)?;
                let n = copy_content(tr, &f, e)?;
                self.stats.bytes += n;
                self.file_meta(e, &f, &path, uid, gid)?;
                self.stats.files += 1;
            }
            (_, Kind::Symlink) => {
                if e.link.is_empty() {
                    return Err(Error::Unsupported {
                        entry: show(&e.name),
                        typeflag: '2',
                        what: "symlink with an empty target".into(),
                    });
                }
                let target = PathBuf::from(OsString::from_vec(e.link.clone()));
                self.root.symlink(&target, &path).map_err(&fs)?;
                if self.opts.same_owner {
                    self.root.lchown(&path, uid, gid).map_err(&fs)?;
                }
                self.path_xattrs(e, &path)?;
                self.root.set_times(&path, e.mtime).map_err(&fs)?;
                self.stats.symlinks += 1;
            }
            (_, Kind::Char | Kind::Block) => {
                if !self.opts.devices || !self.is_root {
                    self.stats.devices_skipped += 1;
                    self.stats.warnings.push(format!(
                        "{}: device node {}:{} skipped ({})",
                        path.display(),
                        e.devmajor,
                        e.devminor,
                        if self.opts.devices {
                            "not running as root"
                        } else {
                            "device creation is off"
                        }
                    ));
                    return Ok(());
                }
                let rdev = root::makedev(e.devmajor, e.devminor);
                match self.root.mknod(&path, kind, e.mode, rdev) {
                    Ok(()) => {}
                    Err(err)
                        if err.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) =>
                    {
                        self.stats.devices_skipped += 1;
                        self.stats.warnings.push(format!(
                            "{}: device node {}:{} skipped (mknod not permitted here)",
                            path.display(),
                            e.devmajor,
                            e.devminor
                        ));
                        return Ok(());
                    }
                    Err(err) => return Err(fs(err)),
                }
                self.node_meta(e, &path, uid, gid)?;
                self.stats.devices += 1;
            }
            (_, Kind::Fifo) => {
                self.root.mknod(&path, Kind::Fifo, e.mode, 0).map_err(&fs)?;
                self.node_meta(e, &path, uid, gid)?;
                self.stats.fifos += 1;
            }
            _ => {}
        }
        self.created.insert(comps);
        Ok(())
    }

    fn node_meta(&mut self, e: &RawEntry, path: &Path, uid: u32, gid: u32) -> Result<()> {
        let fs = self.fs(e);
        if self.opts.same_owner {
            self.root.lchown(path, uid, gid).map_err(&fs)?;
        }
        self.path_xattrs(e, path)?;
        // chown may clear setuid/setgid bits: set the mode again.
        self.root.chmod(path, e.mode).map_err(&fs)?;
        self.root.set_times(path, e.mtime).map_err(&fs)
    }

    /// Record a failed xattr restore as a warning if it is one we tolerate
    /// (filesystem without xattr support, or not permitted as this user);
    /// returns false if the error must stop the extraction.
    fn xattr_skip(
        &mut self,
        path: &Path,
        name: &str,
        errno: Option<i32>,
        err: &dyn std::fmt::Display,
    ) -> bool {
        let skip = matches!(
            errno.map(rustix::io::Errno::from_raw_os_error),
            Some(rustix::io::Errno::NOTSUP | rustix::io::Errno::PERM)
        );
        if skip {
            self.stats.warnings.push(format!(
                "{}: xattr {name} not restored: {err}",
                path.display()
            ));
        }
        skip
    }

    /// True if the member xattr `name` must not be restored.
    fn drop_xattr(&self, name: &str) -> bool {
        self.opts.whiteouts == WhiteoutMode::Overlay && name.starts_with(OVERLAY_XATTR_PREFIX)
    }

    fn path_xattrs(&mut self, e: &RawEntry, path: &Path) -> Result<()> {
        for (k, v) in &e.xattrs {
            if self.drop_xattr(k) {
                continue;
            }
            if let Err(err) = self.root.set_xattr(path, k, v) {
                if !self.xattr_skip(path, k, err.raw_os_error(), &err) {
                    return Err(self.fs(e)(err));
                }
            }
        }
        Ok(())
    }

    fn file_meta(
        &mut self,
        e: &RawEntry,
        f: &std::fs::File,
        path: &Path,
        uid: u32,
        gid: u32,
    ) -> Result<()> {
        let io_err = |op: &'static str, err: rustix::io::Errno| Error::Fs {
            entry: show(&e.name),
            source: root::Error::Io {
                op,
                path: path.to_path_buf(),
                root: self.root.path().to_path_buf(),
                source: err.into(),
            },
        };
        if self.opts.same_owner {
            rfs::fchown(
                f.as_fd(),
                Some(rfs::Uid::from_raw(uid)),
                Some(rfs::Gid::from_raw(gid)),
            )
            .map_err(|err| io_err("chown", err))?;
        }
        for (k, v) in &e.xattrs {
            if k.is_empty() || k.contains('\0') || self.drop_xattr(k) {
                continue;
            }
            if let Err(err) = rfs::fsetxattr(f.as_fd(), k.as_str(), v, rfs::XattrFlags::empty()) {
                if !self.xattr_skip(path, k, Some(err.raw_os_error()), &err) {
                    return Err(io_err("set xattr", err));
                }
            }
        }
        rfs::fchmod(f.as_fd(), rfs::Mode::from_raw_mode(e.mode & 0o7777))
            .map_err(|err| io_err("chmod", err))?;
        let ts = rfs::Timespec {
            tv_sec: e.mtime.0,
            tv_nsec: e.mtime.1.min(999_999_999).into(),
        };
        rfs::futimens(
            f.as_fd(),
            &rfs::Timestamps {
                last_access: ts,
                last_modification: ts,
            },
        )
        .map_err(|err| io_err("set times", err))
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

    fn whiteout(&mut self, e: &RawEntry, comps: &[Vec<u8>], rest: &[u8]) -> Result<()> {
        let parent = &comps[..comps.len() - 1];
        let fs = self.fs(e);
        if rest == b".wh..opq" {
            self.stats.whiteouts += 1;
            let dir = cpath(parent);
            match self.root.lstat(&dir).map_err(&fs)? {
                Some(m) if m.kind == Kind::Dir => {}
                _ => return Ok(()),
            }
            self.clear_opaque(e, parent.to_vec(), 0)?;
            return Ok(());
        }
        if rest.starts_with(b".wh.") {
            self.stats
                .warnings
                .push(format!("{:?}: aufs metadata member skipped", show(&e.name)));
            return Ok(());
        }
        if rest.is_empty() || rest == b"." || rest == b".." {
            return Err(Error::BadWhiteout {
                entry: show(&e.name),
            });
        }
        let mut target = parent.to_vec();
        target.push(rest.to_vec());
        self.stats.whiteouts += 1;
        if self.created.contains(&target) {
            return Ok(());
        }
        self.root.remove_all(cpath(&target)).map_err(&fs)?;
        self.forget_dirs(&target);
        Ok(())
    }

    /// [`WhiteoutMode::Overlay`]: write the whiteout in overlayfs' form.
    fn overlay_whiteout(&mut self, e: &RawEntry, comps: &[Vec<u8>], rest: &[u8]) -> Result<()> {
        let parent = &comps[..comps.len() - 1];
        let fs = self.fs(e);
        let dir = cpath(parent);
        if rest.starts_with(b".wh.") && rest != b".wh..opq" {
            self.stats
                .warnings
                .push(format!("{:?}: aufs metadata member skipped", show(&e.name)));
            return Ok(());
        }
        if rest != b".wh..opq" && (rest.is_empty() || rest == b"." || rest == b"..") {
            return Err(Error::BadWhiteout {
                entry: show(&e.name),
            });
        }
        // The whiteout must live in its directory: create it if the layer
        // lacks it (it then also sets the merged directory's metadata, as
        // with other overlay-based unpackers). Below a non-directory (e.g.
        // a whiteout of the parent) it is moot.
        match self.root.lstat(&dir).map_err(&fs)? {
            Some(m) if m.kind == Kind::Dir => {}
            None => match self.root.mkdir_all(&dir, 0o755, None) {
                Ok(_) => {}
                Err(root::Error::NotADirectory { kind, .. }) => {
                    self.stats.warnings.push(format!(
                        "{:?}: whiteout below a {kind} skipped",
                        show(&e.name)
                    ));
                    return Ok(());
                }
                Err(err) => return Err(fs(err)),
            },
            Some(m) => {
                self.stats.warnings.push(format!(
                    "{:?}: whiteout below a {} skipped",
                    show(&e.name),
                    m.kind
                ));
                return Ok(());
            }
        }
        self.stats.whiteouts += 1;
        if rest == b".wh..opq" {
            return self
                .root
                .set_xattr(&dir, OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(&fs);
        }
        let mut target = parent.to_vec();
        target.push(rest.to_vec());
        if self.created.contains(&target) {
            return Ok(());
        }
        let path = cpath(&target);
        if self.root.lstat(&path).map_err(&fs)?.is_some() {
            self.root.remove_all(&path).map_err(&fs)?;
            self.forget_dirs(&target);
        }
        self.root.mknod(&path, Kind::Char, 0, 0).map_err(&fs)?;
        if self.opts.record_paths {
            self.stats
                .paths
                .push(path.to_string_lossy().trim_start_matches('/').to_string());
        }
        Ok(())
    }

    /// Remove everything below `dir` that this layer did not create,
    /// descending into directories it did create.
    fn clear_opaque(&mut self, e: &RawEntry, dir: Vec<Vec<u8>>, depth: usize) -> Result<()> {
        let fs = self.fs(e);
        if depth > root::MAX_DEPTH {
            return Err(fs(root::Error::TooDeep {
                op: "apply opaque whiteout",
                path: cpath(&dir),
                root: self.root.path().to_path_buf(),
            }));
        }
        for (name, meta) in self.root.read_dir(cpath(&dir)).map_err(&fs)? {
            let mut child = dir.clone();
            child.push(name.into_vec());
            if self.created.contains(&child) {
                if meta.kind == Kind::Dir {
                    self.clear_opaque(e, child, depth + 1)?;
                }
            } else {
                self.root.remove_all(cpath(&child)).map_err(&fs)?;
                self.forget_dirs(&child);
            }
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (comps, m) in dirs.iter().rev() {
            let path = cpath(comps);
            let fs = |source| Error::Fs {
                entry: path.display().to_string(),
                source,
            };
            match self.root.lstat(&path).map_err(fs)? {
                Some(x) if x.kind == Kind::Dir => {}
                _ => continue,
            }
            self.root.chmod(&path, m.mode).map_err(fs)?;
            self.root.set_times(&path, m.mtime).map_err(fs)?;
        }
        Ok(())
    }
}

fn copy_content<R: Read>(tr: &mut TarReader<R>, f: &std::fs::File, e: &RawEntry) -> Result<u64> {
    let mut src = tr.content();
    let mut dst = f;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
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
        dst.write_all(&buf[..n]).map_err(|err| Error::Write {
            entry: show(&e.name),
            source: err,
        })?;
        total += n as u64;
    }
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
