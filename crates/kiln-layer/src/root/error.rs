//! Errors of [`super::Root`] operations.

use super::*;
use kiln_oci::ErrorKind;

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

impl Error {
    /// The class of this failure, for the exit code: an OS error is [`ErrorKind::Io`]; a
    /// tree that is not as the operation needs it (a file where a directory must be, a
    /// symlink loop, a tree too deep, an invalid name) came from an image, a context or a
    /// step's output, [`ErrorKind::Rejected`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::OpenRoot { .. } | Error::Io { .. } => ErrorKind::Io,
            Error::WrongKind { .. }
            | Error::IsRoot { .. }
            | Error::NotADirectory { .. }
            | Error::TooManySymlinks { .. }
            | Error::TooDeep { .. }
            | Error::Invalid { .. } => ErrorKind::Rejected,
        }
    }
}

/// The class of an error reading an untrusted stream (a layer, an archive): it ending
/// early or holding bad data is [`ErrorKind::Rejected`]; any other error is the file
/// system's, [`ErrorKind::Io`].
pub(crate) fn stream_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            ErrorKind::Rejected
        }
        _ => ErrorKind::Io,
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
