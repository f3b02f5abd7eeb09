//! [`Root`]: filesystem operations confined to one directory.
//!
//! Every path handed to a [`Root`] method is a *container path* (`/usr/bin/x`,
//! `usr/bin/x`, `./a/../b`): it is first cleaned lexically (`.` dropped, `..`
//! pops one component and is clamped at the root, as `filepath.Clean` does in
//! docker), then resolved **inside** the root directory:
//!
//! * the parent directory of the final component is opened with
//!   `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so absolute symlinks and
//!   `..` in symlink targets stay inside the root, and `/proc` magic links are
//!   refused;
//! * the final component is then handled by name relative to that directory
//!   descriptor with the `*at` calls and explicit no-follow flags, so a method
//!   that must not follow a final symlink never does (e.g. [`Root::create_file`]
//!   replaces a symlink instead of writing through it).
//!
//! Operations that the kernel only offers on a path or a real descriptor
//! (`chmod`, xattrs, reopening an `O_PATH` descriptor for reading) go through
//! `/proc/self/fd/N` of a descriptor that was itself opened safely; `/proc`
//! must therefore be mounted.
//!
//! No path is ever built with `Path::join` from untrusted input and then opened
//! from the host's point of view.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, XattrFlags};

/// Maximum number of symlinks followed while resolving one path (as Linux).
pub const MAX_SYMLINKS: usize = 40;
/// Maximum directory depth for recursive operations ([`Root::walk`],
/// [`Root::remove_all`]).
pub const MAX_DEPTH: usize = 2048;

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kind of a filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// Named pipe.
    Fifo,
    /// Unix socket (also used for the impossible "unknown" `st_mode` type).
    Socket,
}

impl Kind {
    fn from_file_type(ft: FileType) -> Kind {
        match ft {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::CharacterDevice => Kind::Char,
            FileType::BlockDevice => Kind::Block,
            FileType::Fifo => Kind::Fifo,
            _ => Kind::Socket,
        }
    }

    /// A short human name ("regular file", "directory", ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "regular file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Char => "character device",
            Kind::Block => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `lstat`/`stat` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Object type.
    pub kind: Kind,
    /// Permission bits plus setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Size in bytes (for symlinks: length of the target).
    pub size: u64,
    /// Modification time: (seconds since the epoch, nanoseconds).
    pub mtime: (i64, u32),
    /// Number of hard links.
    pub nlink: u64,
    /// Inode number.
    pub ino: u64,
    /// Device of the filesystem holding the object.
    pub dev: u64,
    /// Device number for character and block devices.
    pub rdev: u64,
}

impl Metadata {
    // `struct stat` field types differ between architectures.
    #[allow(clippy::useless_conversion)]
    fn from_stat(st: &rfs::Stat) -> Metadata {
        let kind = Kind::from_file_type(FileType::from_raw_mode(st.st_mode));
        Metadata {
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (
                i64::from(st.st_mtime),
                u32::try_from(st.st_mtime_nsec).unwrap_or(0),
            ),
            nlink: u64::from(st.st_nlink),
            ino: u64::from(st.st_ino),
            dev: u64::from(st.st_dev),
            rdev: u64::from(st.st_rdev),
        }
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// Major number of `rdev`.
    pub fn rdev_major(&self) -> u32 {
        major(self.rdev)
    }

    /// Minor number of `rdev`.
    pub fn rdev_minor(&self) -> u32 {
        minor(self.rdev)
    }
}

/// Build a device number from major and minor numbers.
pub fn makedev(major: u32, minor: u32) -> u64 {
    rfs::makedev(major, minor)
}

/// Major number of a device number.
pub fn major(dev: u64) -> u32 {
    rfs::major(dev)
}

/// Minor number of a device number.
pub fn minor(dev: u64) -> u32 {
    rfs::minor(dev)
}

/// Errors of [`Root`] operations. Each names the container path, the root
/// directory and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root directory itself could not be opened.
    #[error("cannot open root directory {dir}: {source}; {hint}", dir = .dir.display(), hint = hint(.source))]
    OpenRoot {
        /// Host path given to [`Root::open`].
        dir: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A system call failed.
    #[error("{op} {path} (in root {root}): {source}; {hint}", path = .path.display(), root = .root.display(), hint = hint(.source))]
    Io {
        /// What was being done ("create file", "lstat", ...).
        op: &'static str,
        /// Container path.
        path: PathBuf,
        /// Host path of the root directory.
        root: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The object exists but has the wrong type for the operation.
    #[error("{op} {path} (in root {root}): it is a {kind}, {expected}", path = .path.display(), root = .root.display())]
    WrongKind {
        /// What was being done.
        op: &'static str,
        /// Container path.
        path: PathBuf,
        /// Host path of the root directory.
        root: PathBuf,
        /// What was found.
        kind: Kind,
        /// What was expected and what to do about it.
        expected: &'static str,
    },
    /// The operation needs a path below the root, but the path is the root.
    #[error("{op} {path} (in root {root}): the path is the root directory itself; give a path below the root", path = .path.display(), root = .root.display())]
    IsRoot {
        /// What was being done.
        op: &'static str,
        /// Container path as given.
        path: PathBuf,
        /// Host path of the root directory.
        root: PathBuf,
    },
    /// A component of the path is not a directory.
    #[error("{op} {path} (in root {root}): {component} is a {kind}, not a directory; remove it or fix the path", path = .path.display(), root = .root.display(), component = .component.display())]
    NotADirectory {
        /// What was being done.
        op: &'static str,
        /// Container path.
        path: PathBuf,
        /// Host path of the root directory.
        root: PathBuf,
        /// The resolved container path of the offending component.
        component: PathBuf,
        /// What it is.
        kind: Kind,
    },
    /// Symlink loop or more than [`MAX_SYMLINKS`] symlinks.
    #[error("{op} {path} (in root {root}): more than {MAX_SYMLINKS} symlinks while resolving the path; check for a symlink loop", path = .path.display(), root = .root.display())]
    TooManySymlinks {
        /// What was being done.
        op: &'static str,
        /// Container path.
        path: PathBuf,
        /// Host path of the root directory.
        root: PathBuf,
    },
    /// Directory tree deeper than [`MAX_DEPTH`].
    #[error("{op} {path} (in root {root}): directory tree deeper than {MAX_DEPTH} levels; flatten it", path = .path.display(), root = .root.display())]
    TooDeep {
        /// What was being done.
        op: &'static str,
        /// Container path of the directory that is too deep.
        path: PathBuf,
        /// Host path of the root directory.
        root: PathBuf,
    },
    /// Invalid argument (xattr name, file name, device kind).
    #[error("{op} {path} (in root {root}): {what}", path = .path.display(), root = .root.display())]
    Invalid {
        /// What was being done.
        op: &'static str,
        /// Container path.
        path: PathBuf,
        /// Host path of the root directory.
        root: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },
}

impl Error {
    /// The underlying OS error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::OpenRoot { source, .. } | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The raw errno of the underlying OS error, if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.io_error().and_then(io::Error::raw_os_error)
    }

    /// The container path the error is about (None for [`Error::OpenRoot`]).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::OpenRoot { .. } => None,
            Error::Io { path, .. }
            | Error::WrongKind { path, .. }
            | Error::IsRoot { path, .. }
            | Error::NotADirectory { path, .. }
            | Error::TooManySymlinks { path, .. }
            | Error::TooDeep { path, .. }
            | Error::Invalid { path, .. } => Some(path),
        }
    }
}

/// A short "what to do" for an OS error.
pub(crate) fn hint(e: &io::Error) -> &'static str {
    use rustix::io::Errno;
    let Some(raw) = e.raw_os_error() else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => "the input ended early; it is truncated or corrupt",
            _ => "see the error above",
        };
    };
    match Errno::from_raw_os_error(raw) {
        Errno::NOENT => "a component of the path does not exist",
        Errno::NOTDIR => "a component of the path is not a directory",
        Errno::EXIST => "the path already exists; remove it first",
        Errno::ACCESS | Errno::PERM => {
            "permission denied; run as root or fix the permissions of the path"
        }
        Errno::LOOP => {
            "too many symlinks, or a symlink where none is allowed; check for a symlink loop"
        }
        Errno::NAMETOOLONG => {
            "the path or one of its names is too long (at most 4095 bytes, 255 per name)"
        }
        Errno::NOSPC | Errno::DQUOT => "the filesystem is full; free some space",
        Errno::ROFS => "the filesystem is read-only; use a writable directory",
        Errno::NOTSUP => "the filesystem does not support this operation",
        Errno::XDEV => "the paths are on different filesystems",
        Errno::NOTEMPTY => "the directory is not empty",
        Errno::ISDIR => "the path is a directory",
        Errno::MFILE | Errno::NFILE => "too many open files; raise the limit (ulimit -n)",
        Errno::NOSYS => "the kernel lacks this system call (openat2 needs Linux 5.6 or later)",
        Errno::MLINK => "too many hard links to the file",
        Errno::NODATA => "the extended attribute does not exist",
        Errno::RANGE | Errno::TOOBIG => "the value is too large for the filesystem",
        Errno::AGAIN => "the path kept changing while it was resolved; retry",
        Errno::INVAL => "invalid argument for this kind of file",
        _ => "see the system error above",
    }
}

/// A directory handle; every path is resolved inside it. See the module docs.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// Lexically cleaned container path: its components (no `.`, `..`, empty).
type Comps = Vec<OsString>;

fn clean(p: &Path) -> Comps {
    let mut out: Comps = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn display(comps: &[OsString]) -> PathBuf {
    let mut s = Vec::new();
    for c in comps {
        s.push(b'/');
        s.extend_from_slice(c.as_bytes());
    }
    if s.is_empty() {
        s.push(b'/');
    }
    PathBuf::from(OsString::from_vec(s))
}

fn rel(comps: &[OsString]) -> OsString {
    if comps.is_empty() {
        return OsString::from(".");
    }
    let mut s = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push(b'/');
        }
        s.extend_from_slice(c.as_bytes());
    }
    OsString::from_vec(s)
}

fn proc_fd(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn proc_fd_name(fd: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut s = format!("/proc/self/fd/{}/", fd.as_raw_fd()).into_bytes();
    s.extend_from_slice(name.as_bytes());
    PathBuf::from(OsString::from_vec(s))
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// The parent directory of a non-root path, plus the final name.
struct Parent {
    fd: OwnedFd,
    name: OsString,
    path: PathBuf,
}

impl Root {
    /// Open `dir` (a trusted host path; symlinks in it are followed) as a root.
    pub fn open(dir: &Path) -> Result<Root> {
        let fd = rfs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::OpenRoot {
            dir: dir.to_path_buf(),
            source: e.into(),
        })?;
        let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        Ok(Root { fd, path })
    }

    /// The directory `p` inside this root (symlinks resolved inside it) as a root of its
    /// own: paths given to the new root cannot leave `p`.
    pub fn subroot(&self, p: impl AsRef<Path>) -> Result<Root> {
        let comps = clean(p.as_ref());
        let path = display(&comps);
        let fd = match self.open_in_root(&comps, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e == rustix::io::Errno::LOOP => return Err(self.loop_err("open", &path)),
            Err(e) => return Err(self.io("open directory", &path, e)),
        };
        let mut host = self.path.clone();
        host.push(rel(&comps));
        Ok(Root { fd, path: host })
    }

    /// Host path of the root directory (for messages only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root directory descriptor (an `O_PATH` descriptor).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn io(&self, op: &'static str, path: &Path, e: impl Into<io::Error>) -> Error {
        Error::Io {
            op,
            path: path.to_path_buf(),
            root: self.path.clone(),
            source: e.into(),
        }
    }

    /// Error for a call that went through `/proc/self/fd`: a missing
    /// `/proc` is reported as such instead of as a missing path.
    fn proc_io(&self, op: &'static str, path: &Path, e: rustix::io::Errno) -> Error {
        if e == rustix::io::Errno::NOENT && !Path::new("/proc/self/fd").is_dir() {
            return self.io(
                op,
                path,
                io::Error::other("/proc/self/fd is not available; mount /proc"),
            );
        }
        self.io(op, path, e)
    }

    fn wrong(&self, op: &'static str, path: &Path, kind: Kind, expected: &'static str) -> Error {
        Error::WrongKind {
            op,
            path: path.to_path_buf(),
            root: self.path.clone(),
            kind,
            expected,
        }
    }

    fn is_root_err(&self, op: &'static str, p: &Path) -> Error {
        Error::IsRoot {
            op,
            path: p.to_path_buf(),
            root: self.path.clone(),
        }
    }

    fn loop_err(&self, op: &'static str, path: &Path) -> Error {
        Error::TooManySymlinks {
            op,
            path: path.to_path_buf(),
            root: self.path.clone(),
        }
    }

    fn map_io(&self, op: &'static str, path: &Path, e: rustix::io::Errno) -> Error {
        if e == rustix::io::Errno::LOOP {
            return self.loop_err(op, path);
        }
        self.io(op, path, e)
    }

    /// `openat2` inside the root, retrying on `EAGAIN` (concurrent renames).
    fn open_in_root(&self, comps: &[OsString], flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let rel = rel(comps);
        // openat2 is strict: O_PATH allows only O_DIRECTORY, O_NOFOLLOW and
        // O_CLOEXEC besides it.
        let flags = if flags.contains(OFlags::PATH) {
            flags | OFlags::CLOEXEC
        } else {
            flags | OFlags::CLOEXEC | OFlags::NOCTTY
        };
        let mut tries = 0;
        loop {
            match rfs::openat2(&self.fd, rel.as_os_str(), flags, Mode::empty(), RESOLVE) {
                Err(e) if e == rustix::io::Errno::AGAIN && tries < 64 => tries += 1,
                r => return r,
            }
        }
    }

    fn parent(&self, op: &'static str, p: &Path) -> Result<Parent> {
        let mut comps = clean(p);
        let path = display(&comps);
        let Some(name) = comps.pop() else {
            return Err(self.is_root_err(op, p));
        };
        let fd = self
            .open_in_root(&comps, OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| self.map_io(op, &path, e))?;
        Ok(Parent { fd, name, path })
    }

    /// Like [`Root::parent`] but `Ok(None)` when the parent does not exist
    /// (or a component of it is not a directory, so nothing can be below it).
    fn parent_opt(&self, op: &'static str, p: &Path) -> Result<Option<Parent>> {
        let missing = [
            rustix::io::Errno::NOENT.raw_os_error(),
            rustix::io::Errno::NOTDIR.raw_os_error(),
        ];
        match self.parent(op, p) {
            Err(e) if e.raw_os_error().is_some_and(|n| missing.contains(&n)) => Ok(None),
            r => r.map(Some),
        }
    }

    /// `lstat` of a path inside the root; `None` if it does not exist (also
    /// when a parent is missing or not a directory). The final component is
    /// not followed.
    pub fn lstat(&self, p: impl AsRef<Path>) -> Result<Option<Metadata>> {
        let p = p.as_ref();
        if clean(p).is_empty() {
            let st = rfs::fstat(&self.fd).map_err(|e| self.io("lstat", Path::new("/"), e))?;
            return Ok(Some(Metadata::from_stat(&st)));
        }
        let Some(par) = self.parent_opt("lstat", p)? else {
            return Ok(None);
        };
        match rfs::statat(&par.fd, par.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Metadata::from_stat(&st))),
            Err(e) if e == rustix::io::Errno::NOENT => Ok(None),
            Err(e) => Err(self.io("lstat", &par.path, e)),
        }
    }

    /// `stat` following symlinks (inside the root); `None` if missing or a
    /// dangling symlink.
    pub fn stat_follow(&self, p: impl AsRef<Path>) -> Result<Option<Metadata>> {
        let comps = clean(p.as_ref());
        let path = display(&comps);
        let fd = match self.open_in_root(&comps, OFlags::PATH) {
            Ok(fd) => fd,
            Err(e) if e == rustix::io::Errno::NOENT => return Ok(None),
            Err(e) if e == rustix::io::Errno::LOOP => return Err(self.loop_err("stat", &path)),
            Err(e) => return Err(self.io("stat", &path, e)),
        };
        let st = rfs::fstat(&fd).map_err(|e| self.io("stat", &path, e))?;
        Ok(Some(Metadata::from_stat(&st)))
    }

    /// The target of a symlink, as stored.
    pub fn read_link(&self, p: impl AsRef<Path>) -> Result<PathBuf> {
        let par = self.parent("read link", p.as_ref())?;
        match rfs::readlinkat(&par.fd, par.name.as_os_str(), Vec::new()) {
            Ok(t) => Ok(PathBuf::from(OsString::from_vec(t.into_bytes()))),
            Err(e) if e == rustix::io::Errno::INVAL => {
                let kind = self.lstat(&par.path)?.map_or(Kind::File, |m| m.kind);
                Err(self.wrong("read link", &par.path, kind, "not a symlink"))
            }
            Err(e) => Err(self.io("read link", &par.path, e)),
        }
    }

    /// Open a regular file for reading. Symlinks are followed inside the root;
    /// anything that is not a regular file (device, fifo, socket, directory) is
    /// refused without being opened.
    pub fn open_file(&self, p: impl AsRef<Path>) -> Result<File> {
        const OP: &str = "open file";
        let comps = clean(p.as_ref());
        let path = display(&comps);
        let opath = self.open_in_root(&comps, OFlags::PATH).map_err(|e| {
            if e == rustix::io::Errno::LOOP {
                self.loop_err(OP, &path)
            } else {
                self.io(OP, &path, e)
            }
        })?;
        let st = rfs::fstat(&opath).map_err(|e| self.io(OP, &path, e))?;
        let meta = Metadata::from_stat(&st);
        if meta.kind != Kind::File {
            return Err(self.wrong(
                OP,
                &path,
                meta.kind,
                "not a regular file; only regular files can be read",
            ));
        }
        // Reopen exactly this inode for reading.
        let fd = rfs::open(
            proc_fd(opath.as_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| self.proc_io(OP, &path, e))?;
        let st2 = rfs::fstat(&fd).map_err(|e| self.io(OP, &path, e))?;
        if st2.st_ino != st.st_ino || st2.st_dev != st.st_dev {
            return Err(self.io(
                OP,
                &path,
                io::Error::other("the file changed while it was opened (is /proc mounted?)"),
            ));
        }
        Ok(File::from(fd))
    }

    /// Remove a non-directory final component so that it can be replaced.
    fn clear_for_replace(&self, op: &'static str, par: &Parent) -> Result<()> {
        match rfs::statat(&par.fd, par.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let m = Metadata::from_stat(&st);
                if m.kind == Kind::Dir {
                    return Err(self.wrong(
                        op,
                        &par.path,
                        Kind::Dir,
                        "cannot replace a directory; remove it first (remove_all)",
                    ));
                }
                rfs::unlinkat(&par.fd, par.name.as_os_str(), AtFlags::empty())
                    .map_err(|e| self.io(op, &par.path, e))
            }
            Err(e) if e == rustix::io::Errno::NOENT => Ok(()),
            Err(e) => Err(self.io(op, &par.path, e)),
        }
    }

    /// Create (or replace) a regular file for writing, with exactly `mode`
    /// (permission, setuid/setgid/sticky bits; umask is not applied). An
    /// existing non-directory at the path (including a symlink) is removed
    /// first, never written through; an existing directory is an error.
    ///
    /// Note: when not running as root, the kernel clears setuid/setgid on
    /// the first write; set such modes with [`Root::chmod`] after writing.
    pub fn create_file(&self, p: impl AsRef<Path>, mode: u32) -> Result<File> {
        const OP: &str = "create file";
        let par = self.parent(OP, p.as_ref())?;
        self.clear_for_replace(OP, &par)?;
        let fd = rfs::openat(
            &par.fd,
            par.name.as_os_str(),
            OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY,
            Mode::from_raw_mode(mode & 0o777),
        )
        .map_err(|e| self.io(OP, &par.path, e))?;
        rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))
            .map_err(|e| self.io(OP, &par.path, e))?;
        Ok(File::from(fd))
    }

    /// Create one directory with exactly `mode`; its parent must exist. Fails
    /// if the path exists.
    pub fn mkdir(&self, p: impl AsRef<Path>, mode: u32) -> Result<()> {
        const OP: &str = "create directory";
        let par = self.parent(OP, p.as_ref())?;
        self.mkdir_at(OP, par.fd.as_fd(), &par.name, &par.path, mode, None)
    }

    fn mkdir_at(
        &self,
        op: &'static str,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<()> {
        rfs::mkdirat(dir, name, Mode::from_raw_mode(mode & 0o777))
            .map_err(|e| self.io(op, path, e))?;
        let fd = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.io(op, path, e))?;
        if let Some((uid, gid)) = owner {
            rfs::fchown(
                &fd,
                Some(rfs::Uid::from_raw(uid)),
                Some(rfs::Gid::from_raw(gid)),
            )
            .map_err(|e| self.io(op, path, e))?;
        }
        rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777)).map_err(|e| self.io(op, path, e))
    }

    /// Create `p` and all missing parents with `mode` (exactly; umask is not
    /// applied) and, if given, owner `(uid, gid)` (only the directories it
    /// creates). Existing symlinks on the way, including a final one, are
    /// followed inside the root, as docker does. Returns the container paths
    /// of the directories it created, outermost first.
    pub fn mkdir_all(
        &self,
        p: impl AsRef<Path>,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<Vec<PathBuf>> {
        let (_, created) =
            self.walk_resolve("create directories", p.as_ref(), true, mode, owner)?;
        Ok(created)
    }

    /// The canonical container path of `p` inside the root: all symlinks
    /// (including the final one) resolved inside the root; components that do
    /// not exist are kept as given. For messages and checks.
    pub fn resolve(&self, p: impl AsRef<Path>) -> Result<PathBuf> {
        let (path, _) = self.walk_resolve("resolve", p.as_ref(), false, 0, None)?;
        Ok(path)
    }

    /// Component-by-component resolution inside the root, with no path ever
    /// leaving it: each step is a single-name lookup relative to the current
    /// directory descriptor, symlinks are expanded by hand (absolute targets
    /// restart at the root, `..` pops but never above the root).
    fn walk_resolve(
        &self,
        op: &'static str,
        p: &Path,
        create: bool,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(PathBuf, Vec<PathBuf>)> {
        let given = display(&clean(p));
        let mut todo: std::collections::VecDeque<OsString> = clean(p).into();
        let mut stack: Comps = Vec::new();
        let mut created = Vec::new();
        let mut cur = self
            .open_in_root(&[], OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| self.io(op, &given, e))?;
        let mut links = 0usize;
        let mut retries = 0usize;
        while let Some(c) = todo.pop_front() {
            if c.as_bytes() == b"." || c.is_empty() {
                continue;
            }
            if c.as_bytes() == b".." {
                stack.pop();
                cur = self
                    .open_in_root(&stack, OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW)
                    .map_err(|e| self.io(op, &display(&stack), e))?;
                continue;
            }
            let mut here = stack.clone();
            here.push(c.clone());
            let here_path = display(&here);
            match rfs::statat(&cur, c.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    let m = Metadata::from_stat(&st);
                    match m.kind {
                        Kind::Dir => {
                            cur = rfs::openat(
                                &cur,
                                c.as_os_str(),
                                OFlags::PATH
                                    | OFlags::DIRECTORY
                                    | OFlags::NOFOLLOW
                                    | OFlags::CLOEXEC,
                                Mode::empty(),
                            )
                            .map_err(|e| self.io(op, &here_path, e))?;
                            stack.push(c);
                        }
                        Kind::Symlink => {
                            links += 1;
                            if links > MAX_SYMLINKS {
                                return Err(self.loop_err(op, &given));
                            }
                            let target = rfs::readlinkat(&cur, c.as_os_str(), Vec::new())
                                .map_err(|e| self.io(op, &here_path, e))?
                                .into_bytes();
                            if target.first() == Some(&b'/') {
                                stack.clear();
                                cur = self
                                    .open_in_root(&[], OFlags::PATH | OFlags::DIRECTORY)
                                    .map_err(|e| self.io(op, &given, e))?;
                            }
                            for part in target.split(|b| *b == b'/').rev() {
                                todo.push_front(OsString::from_vec(part.to_vec()));
                            }
                        }
                        kind => {
                            if todo.iter().all(|t| t.is_empty() || t.as_bytes() == b".") && !create
                            {
                                // Final component of a resolve(): fine.
                                stack.push(c);
                                break;
                            }
                            return Err(Error::NotADirectory {
                                op,
                                path: given,
                                root: self.path.clone(),
                                component: here_path,
                                kind,
                            });
                        }
                    }
                }
                Err(e) if e == rustix::io::Errno::NOENT => {
                    if !create {
                        stack.push(c);
                        for rest in todo.drain(..) {
                            match rest.as_bytes() {
                                b"" | b"." => {}
                                b".." => {
                                    stack.pop();
                                }
                                _ => stack.push(rest),
                            }
                        }
                        break;
                    }
                    match self.mkdir_at(op, cur.as_fd(), &c, &here_path, mode, owner) {
                        Ok(()) => created.push(here_path),
                        Err(e)
                            if e.raw_os_error()
                                == Some(rustix::io::Errno::EXIST.raw_os_error())
                                && retries < 8 =>
                        {
                            // Raced with another creator: look again.
                            retries += 1;
                            todo.push_front(c);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                    todo.push_front(c);
                }
                Err(e) => return Err(self.io(op, &here_path, e)),
            }
        }
        Ok((display(&stack), created))
    }

    /// Create (or replace) a symlink at `p` pointing to `target` (stored
    /// verbatim). An existing non-directory at `p` is replaced.
    pub fn symlink(&self, target: impl AsRef<Path>, p: impl AsRef<Path>) -> Result<()> {
        const OP: &str = "create symlink";
        let par = self.parent(OP, p.as_ref())?;
        self.clear_for_replace(OP, &par)?;
        rfs::symlinkat(target.as_ref(), &par.fd, par.name.as_os_str())
            .map_err(|e| self.io(OP, &par.path, e))
    }

    /// Create a hard link `new` to `existing`, both inside the root. A final
    /// symlink in `existing` is linked itself, not followed (tar semantics).
    /// `existing` must exist and not be a directory; an existing
    /// non-directory at `new` is replaced.
    pub fn hardlink(&self, existing: impl AsRef<Path>, new: impl AsRef<Path>) -> Result<()> {
        const OP: &str = "create hard link";
        let old = self.parent(OP, existing.as_ref())?;
        let old_st = match rfs::statat(&old.fd, old.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Metadata::from_stat(&st),
            Err(e) => return Err(self.io(OP, &old.path, e)),
        };
        if old_st.kind == Kind::Dir {
            return Err(self.wrong(
                OP,
                &old.path,
                Kind::Dir,
                "directories cannot be hard-linked",
            ));
        }
        let newp = self.parent(OP, new.as_ref())?;
        if let Ok(st) = rfs::statat(&newp.fd, newp.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            let m = Metadata::from_stat(&st);
            if m.ino == old_st.ino && m.dev == old_st.dev {
                return Ok(());
            }
        }
        self.clear_for_replace(OP, &newp)?;
        rfs::linkat(
            &old.fd,
            old.name.as_os_str(),
            &newp.fd,
            newp.name.as_os_str(),
            AtFlags::empty(),
        )
        .map_err(|e| self.io(OP, &newp.path, e))
    }

    /// Create a device node, fifo or socket node (`kind` Char, Block, Fifo or
    /// Socket) with exactly `mode`. The node is never opened. An existing
    /// non-directory is replaced. Device nodes need root (CAP_MKNOD).
    pub fn mknod(&self, p: impl AsRef<Path>, kind: Kind, mode: u32, rdev: u64) -> Result<()> {
        const OP: &str = "create node";
        let par = self.parent(OP, p.as_ref())?;
        let ft = match kind {
            Kind::Char => FileType::CharacterDevice,
            Kind::Block => FileType::BlockDevice,
            Kind::Fifo => FileType::Fifo,
            Kind::Socket => FileType::Socket,
            other => {
                return Err(Error::Invalid {
                    op: OP,
                    path: par.path,
                    root: self.path.clone(),
                    what: format!(
                        "mknod cannot create a {other}; use create_file, mkdir or symlink"
                    ),
                })
            }
        };
        self.clear_for_replace(OP, &par)?;
        let rdev = if matches!(kind, Kind::Char | Kind::Block) {
            rdev
        } else {
            0
        };
        rfs::mknodat(
            &par.fd,
            par.name.as_os_str(),
            ft,
            Mode::from_raw_mode(mode & 0o777),
            rdev,
        )
        .map_err(|e| self.io(OP, &par.path, e))?;
        self.chmod_at(OP, &par, mode)
    }

    /// Remove `p` and, for a directory, everything below it. Never follows
    /// symlinks (a symlink is removed itself). A missing path is not an error.
    /// For the root itself, its contents are removed and the root is kept.
    pub fn remove_all(&self, p: impl AsRef<Path>) -> Result<()> {
        const OP: &str = "remove";
        let p = p.as_ref();
        if clean(p).is_empty() {
            let fd = self
                .open_in_root(&[], OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(|e| self.io(OP, Path::new("/"), e))?;
            return self.clear_dir(OP, fd.as_fd(), Path::new("/"), 0);
        }
        let Some(par) = self.parent_opt(OP, p)? else {
            return Ok(());
        };
        self.remove_at(OP, par.fd.as_fd(), &par.name, &par.path, 0)
    }

    fn remove_at(
        &self,
        op: &'static str,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        depth: usize,
    ) -> Result<()> {
        let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Metadata::from_stat(&st),
            Err(e) if e == rustix::io::Errno::NOENT => return Ok(()),
            Err(e) => return Err(self.io(op, path, e)),
        };
        if st.kind == Kind::Dir {
            if depth >= MAX_DEPTH {
                return Err(Error::TooDeep {
                    op,
                    path: path.to_path_buf(),
                    root: self.path.clone(),
                });
            }
            let fd = rfs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.io(op, path, e))?;
            self.clear_dir(op, fd.as_fd(), path, depth + 1)?;
            drop(fd);
            match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
                Ok(()) => Ok(()),
                Err(e) if e == rustix::io::Errno::NOENT => Ok(()),
                Err(e) => Err(self.io(op, path, e)),
            }
        } else {
            match rfs::unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) => Ok(()),
                Err(e) if e == rustix::io::Errno::NOENT => Ok(()),
                Err(e) => Err(self.io(op, path, e)),
            }
        }
    }

    fn clear_dir(
        &self,
        op: &'static str,
        fd: BorrowedFd<'_>,
        path: &Path,
        depth: usize,
    ) -> Result<()> {
        for name in self.list_names(op, fd, path)? {
            let child = child_path(path, &name);
            self.remove_at(op, fd, &name, &child, depth)?;
        }
        Ok(())
    }

    /// Names in a directory (without `.` and `..`), sorted bytewise.
    fn list_names(
        &self,
        op: &'static str,
        fd: BorrowedFd<'_>,
        path: &Path,
    ) -> Result<Vec<OsString>> {
        // `fd` may be an O_PATH descriptor: open the directory itself for
        // reading (".", never a symlink).
        let rd = rfs::openat(
            fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.io(op, path, e))?;
        let dir = rfs::Dir::new(rd).map_err(|e| self.io(op, path, e))?;
        let mut names = Vec::new();
        for ent in dir {
            let ent = ent.map_err(|e| self.io(op, path, e))?;
            let n = ent.file_name().to_bytes();
            if n == b"." || n == b".." {
                continue;
            }
            names.push(OsString::from_vec(n.to_vec()));
        }
        names.sort();
        Ok(names)
    }

    /// Change owner; never follows a final symlink.
    pub fn lchown(&self, p: impl AsRef<Path>, uid: u32, gid: u32) -> Result<()> {
        const OP: &str = "chown";
        let (uid, gid) = (Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)));
        let p = p.as_ref();
        if clean(p).is_empty() {
            return rfs::chownat(&self.fd, "", uid, gid, AtFlags::EMPTY_PATH)
                .map_err(|e| self.io(OP, Path::new("/"), e));
        }
        let par = self.parent(OP, p)?;
        rfs::chownat(
            &par.fd,
            par.name.as_os_str(),
            uid,
            gid,
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.io(OP, &par.path, e))
    }

    /// Set the mode (permission + setuid/setgid/sticky bits) exactly. Refused
    /// on symlinks (their mode means nothing on Linux). Never opens devices.
    pub fn chmod(&self, p: impl AsRef<Path>, mode: u32) -> Result<()> {
        const OP: &str = "chmod";
        let p = p.as_ref();
        if clean(p).is_empty() {
            return rfs::chmod(proc_fd(self.fd.as_fd()), Mode::from_raw_mode(mode & 0o7777))
                .map_err(|e| self.proc_io(OP, Path::new("/"), e));
        }
        let par = self.parent(OP, p)?;
        self.chmod_at(OP, &par, mode)
    }

    fn chmod_at(&self, op: &'static str, par: &Parent, mode: u32) -> Result<()> {
        let fd = rfs::openat(
            &par.fd,
            par.name.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.io(op, &par.path, e))?;
        let st = rfs::fstat(&fd).map_err(|e| self.io(op, &par.path, e))?;
        let kind = Metadata::from_stat(&st).kind;
        if kind == Kind::Symlink {
            return Err(self.wrong(
                op,
                &par.path,
                kind,
                "symlinks have no mode of their own; chmod the target instead",
            ));
        }
        rfs::chmod(proc_fd(fd.as_fd()), Mode::from_raw_mode(mode & 0o7777))
            .map_err(|e| self.proc_io(op, &par.path, e))
    }

    /// Set access and modification time to `mtime` (seconds, nanoseconds);
    /// never follows a final symlink.
    pub fn set_times(&self, p: impl AsRef<Path>, mtime: (i64, u32)) -> Result<()> {
        const OP: &str = "set times";
        let ts = rfs::Timestamps {
            last_access: rfs::Timespec {
                tv_sec: mtime.0,
                tv_nsec: i64::from(mtime.1.min(999_999_999)) as _,
            },
            last_modification: rfs::Timespec {
                tv_sec: mtime.0,
                tv_nsec: i64::from(mtime.1.min(999_999_999)) as _,
            },
        };
        let p = p.as_ref();
        if clean(p).is_empty() {
            return rfs::utimensat(&self.fd, "", &ts, AtFlags::EMPTY_PATH)
                .map_err(|e| self.io(OP, Path::new("/"), e));
        }
        let par = self.parent(OP, p)?;
        rfs::utimensat(
            &par.fd,
            par.name.as_os_str(),
            &ts,
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.io(OP, &par.path, e))
    }

    /// Host path through `/proc/self/fd` that names the final component of `p`
    /// without following it (use with `l*xattr`), plus the container path.
    /// The descriptor must stay alive while the path is used.
    fn xattr_target(
        &self,
        op: &'static str,
        p: &Path,
    ) -> Result<(OwnedFd, Option<OsString>, PathBuf)> {
        if clean(p).is_empty() {
            let fd = self
                .open_in_root(&[], OFlags::PATH | OFlags::DIRECTORY)
                .map_err(|e| self.io(op, Path::new("/"), e))?;
            return Ok((fd, None, PathBuf::from("/")));
        }
        let par = self.parent(op, p)?;
        Ok((par.fd, Some(par.name), par.path))
    }

    fn xattr_path(fd: &OwnedFd, name: &Option<OsString>) -> PathBuf {
        match name {
            Some(n) => proc_fd_name(fd.as_fd(), n),
            None => proc_fd(fd.as_fd()),
        }
    }

    /// Set one extended attribute (any namespace, including
    /// `security.capability`); never follows a final symlink.
    pub fn set_xattr(&self, p: impl AsRef<Path>, name: &str, value: &[u8]) -> Result<()> {
        const OP: &str = "set xattr";
        let (fd, fname, path) = self.xattr_target(OP, p.as_ref())?;
        if name.is_empty() || name.contains('\0') {
            return Err(Error::Invalid {
                op: OP,
                path,
                root: self.path.clone(),
                what: format!(
                    "invalid xattr name {name:?}: it must be non-empty without NUL bytes"
                ),
            });
        }
        let hp = Self::xattr_path(&fd, &fname);
        let r = if fname.is_some() {
            rfs::lsetxattr(&hp, name, value, XattrFlags::empty())
        } else {
            rfs::setxattr(&hp, name, value, XattrFlags::empty())
        };
        r.map_err(|e| self.proc_io(OP, &path, e))
    }

    /// Remove one extended attribute; never follows a final symlink. A
    /// missing attribute is not an error.
    pub fn remove_xattr(&self, p: impl AsRef<Path>, name: &str) -> Result<()> {
        const OP: &str = "remove xattr";
        let (fd, fname, path) = self.xattr_target(OP, p.as_ref())?;
        let hp = Self::xattr_path(&fd, &fname);
        let r = if fname.is_some() {
            rfs::lremovexattr(&hp, name)
        } else {
            rfs::removexattr(&hp, name)
        };
        match r {
            Err(rustix::io::Errno::NODATA) => Ok(()),
            r => r.map_err(|e| self.proc_io(OP, &path, e)),
        }
    }

    /// All extended attributes of `p` (no-follow), by name. Names that are
    /// not UTF-8 are skipped.
    pub fn get_xattrs(&self, p: impl AsRef<Path>) -> Result<BTreeMap<String, Vec<u8>>> {
        const OP: &str = "read xattrs";
        let (fd, fname, path) = self.xattr_target(OP, p.as_ref())?;
        let hp = Self::xattr_path(&fd, &fname);
        let follow = fname.is_none();
        let mut out = BTreeMap::new();
        let mut tries = 0;
        let names = loop {
            let n = if follow {
                rfs::listxattr_query(&hp)
            } else {
                rfs::llistxattr_query(&hp)
            };
            let n = match n {
                Ok(n) => n,
                Err(e) if e == rustix::io::Errno::NOTSUP => return Ok(out),
                Err(e) => return Err(self.proc_io(OP, &path, e)),
            };
            if n == 0 {
                return Ok(out);
            }
            let mut buf = vec![0u8; n];
            let r = if follow {
                rfs::listxattr(&hp, &mut buf[..])
            } else {
                rfs::llistxattr(&hp, &mut buf[..])
            };
            match r {
                Ok(len) => {
                    buf.truncate(len);
                    break buf;
                }
                Err(e) if e == rustix::io::Errno::RANGE && tries < 8 => {
                    tries += 1;
                    continue;
                }
                Err(e) => return Err(self.proc_io(OP, &path, e)),
            }
        };
        for raw in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let Ok(name) = std::str::from_utf8(raw) else {
                continue;
            };
            let value = loop {
                let n = if follow {
                    rfs::getxattr_query(&hp, name)
                } else {
                    rfs::lgetxattr_query(&hp, name)
                };
                let n = match n {
                    Ok(n) => n,
                    Err(e) if e == rustix::io::Errno::NODATA => break None,
                    Err(e) => return Err(self.proc_io(OP, &path, e)),
                };
                let mut buf = vec![0u8; n];
                let r = if follow {
                    rfs::getxattr(&hp, name, &mut buf[..])
                } else {
                    rfs::lgetxattr(&hp, name, &mut buf[..])
                };
                match r {
                    Ok(len) => {
                        buf.truncate(len);
                        break Some(buf);
                    }
                    Err(e) if e == rustix::io::Errno::RANGE && tries < 8 => {
                        tries += 1;
                        continue;
                    }
                    Err(e) if e == rustix::io::Errno::NODATA => break None,
                    Err(e) => return Err(self.proc_io(OP, &path, e)),
                }
            };
            if let Some(v) = value {
                out.insert(name.to_string(), v);
            }
        }
        Ok(out)
    }

    /// Entries of directory `p` (symlinks to directories are followed inside
    /// the root for `p` itself), sorted by name, with their `lstat` metadata.
    pub fn read_dir(&self, p: impl AsRef<Path>) -> Result<Vec<(OsString, Metadata)>> {
        const OP: &str = "read directory";
        let comps = clean(p.as_ref());
        let path = display(&comps);
        let fd = self
            .open_in_root(&comps, OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| self.io(OP, &path, e))?;
        self.entries(OP, fd.as_fd(), &path)
    }

    fn entries(
        &self,
        op: &'static str,
        fd: BorrowedFd<'_>,
        path: &Path,
    ) -> Result<Vec<(OsString, Metadata)>> {
        let mut out = Vec::new();
        for name in self.list_names(op, fd, path)? {
            match rfs::statat(fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => out.push((name, Metadata::from_stat(&st))),
                // Vanished meanwhile.
                Err(e) if e == rustix::io::Errno::NOENT => {}
                Err(e) => return Err(self.io(op, &child_path(path, &name), e)),
            }
        }
        Ok(out)
    }

    /// Depth-first, name-sorted listing of `p` and everything below it,
    /// without following any symlink (a symlink `p` is listed, not entered).
    /// Yields `(container path, lstat metadata)`, `p` itself first. Paths
    /// are absolute container paths (`/`, `/a`, `/a/b`).
    pub fn walk(&self, p: impl AsRef<Path>) -> Result<Vec<(PathBuf, Metadata)>> {
        const OP: &str = "walk";
        let comps = clean(p.as_ref());
        let path = display(&comps);
        let Some(meta) = self.lstat(&path)? else {
            return Err(self.io(OP, &path, rustix::io::Errno::NOENT));
        };
        let is_dir = meta.kind == Kind::Dir;
        let mut out = vec![(path.clone(), meta)];
        if is_dir {
            let fd = self
                .open_in_root(&comps, OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW)
                .map_err(|e| self.io(OP, &path, e))?;
            self.walk_fd(OP, fd.as_fd(), &path, 0, &mut out)?;
        }
        Ok(out)
    }

    fn walk_fd(
        &self,
        op: &'static str,
        fd: BorrowedFd<'_>,
        path: &Path,
        depth: usize,
        out: &mut Vec<(PathBuf, Metadata)>,
    ) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep {
                op,
                path: path.to_path_buf(),
                root: self.path.clone(),
            });
        }
        for (name, meta) in self.entries(op, fd, path)? {
            let child = child_path(path, &name);
            let is_dir = meta.kind == Kind::Dir;
            out.push((child.clone(), meta));
            if is_dir {
                let cfd = rfs::openat(
                    fd,
                    name.as_os_str(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.io(op, &child, e))?;
                self.walk_fd(op, cfd.as_fd(), &child, depth + 1, out)?;
            }
        }
        Ok(())
    }
}

fn child_path(parent: &Path, name: &OsStr) -> PathBuf {
    let mut s = parent.as_os_str().as_bytes().to_vec();
    if s.last() != Some(&b'/') {
        s.push(b'/');
    }
    s.extend_from_slice(name.as_bytes());
    PathBuf::from(OsString::from_vec(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_clamps_dotdot() {
        assert_eq!(
            display(&clean(Path::new("/../../a/./b/../c/"))),
            Path::new("/a/c")
        );
        assert_eq!(display(&clean(Path::new(".."))), Path::new("/"));
        assert_eq!(rel(&clean(Path::new("a//b"))), OsStr::new("a/b"));
        assert_eq!(rel(&[]), OsStr::new("."));
    }
}
