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

mod error;
mod meta;
mod read;
mod write;

pub use error::Error;
pub(crate) use error::{hint, stream_kind};
pub use meta::{major, makedev, minor, Kind, Metadata};

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

    /// The host path `p` (symlinks resolved inside the root) stands for right
    /// now: an `O_PATH` descriptor opened with `RESOLVE_IN_ROOT`, then its
    /// `/proc/self/fd` link. For binding a path of a root that no process
    /// changes meanwhile (a finished stage, the build context, a cache under
    /// its lock); the result is checked to be inside the root.
    pub fn host_path(&self, p: impl AsRef<Path>) -> Result<PathBuf> {
        let comps = clean(p.as_ref());
        let path = display(&comps);
        let fd = self
            .open_in_root(&comps, OFlags::PATH)
            .map_err(|e| self.map_io("open", &path, e))?;
        let host = std::fs::read_link(proc_fd(fd.as_fd())).map_err(|e| {
            self.proc_io(
                "resolve",
                &path,
                rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO),
            )
        })?;
        let root = std::fs::read_link(proc_fd(self.fd.as_fd()))
            .map_err(|e| self.io("resolve", Path::new("/"), e))?;
        if !host.starts_with(&root) {
            return Err(self.io(
                "resolve",
                &path,
                io::Error::other("the path resolves outside the root"),
            ));
        }
        Ok(host)
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
        let mut w = Walk {
            op,
            todo: clean(p).into(),
            stack: Vec::new(),
            created: Vec::new(),
            cur: self
                .open_in_root(&[], OFlags::PATH | OFlags::DIRECTORY)
                .map_err(|e| self.io(op, &given, e))?,
            links: 0,
            retries: 0,
            given,
        };
        while let Some(c) = w.todo.pop_front() {
            if c.as_bytes() == b"." || c.is_empty() {
                continue;
            }
            if c.as_bytes() == b".." {
                w.stack.pop();
                w.cur = self
                    .open_in_root(
                        &w.stack,
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                    )
                    .map_err(|e| self.io(op, &display(&w.stack), e))?;
                continue;
            }
            let mut here = w.stack.clone();
            here.push(c.clone());
            let here_path = display(&here);
            match rfs::statat(&w.cur, c.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    let kind = Metadata::from_stat(&st).kind;
                    if self.walk_existing(&mut w, c, kind, &here_path, create)? {
                        break;
                    }
                }
                Err(e) if e == rustix::io::Errno::NOENT => {
                    if !create {
                        w.keep_missing(c);
                        break;
                    }
                    self.walk_create(&mut w, c, &here_path, mode, owner)?;
                }
                Err(e) => return Err(self.io(op, &here_path, e)),
            }
        }
        Ok((display(&w.stack), w.created))
    }

    /// Step over an existing component `c` of kind `kind`: into a directory, through a
    /// symlink; true when the walk is over (a final non-directory of a resolve()).
    fn walk_existing(
        &self,
        w: &mut Walk,
        c: OsString,
        kind: Kind,
        here_path: &Path,
        create: bool,
    ) -> Result<bool> {
        let op = w.op;
        match kind {
            Kind::Dir => {
                w.cur = rfs::openat(
                    &w.cur,
                    c.as_os_str(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.io(op, here_path, e))?;
                w.stack.push(c);
            }
            Kind::Symlink => {
                w.links += 1;
                if w.links > MAX_SYMLINKS {
                    return Err(self.loop_err(op, &w.given));
                }
                let target = rfs::readlinkat(&w.cur, c.as_os_str(), Vec::new())
                    .map_err(|e| self.io(op, here_path, e))?
                    .into_bytes();
                if target.first() == Some(&b'/') {
                    w.stack.clear();
                    w.cur = self
                        .open_in_root(&[], OFlags::PATH | OFlags::DIRECTORY)
                        .map_err(|e| self.io(op, &w.given, e))?;
                }
                for part in target.split(|b| *b == b'/').rev() {
                    w.todo.push_front(OsString::from_vec(part.to_vec()));
                }
            }
            kind => {
                if w.todo.iter().all(|t| t.is_empty() || t.as_bytes() == b".") && !create {
                    // Final component of a resolve(): fine.
                    w.stack.push(c);
                    return Ok(true);
                }
                return Err(Error::NotADirectory {
                    op,
                    path: w.given.clone(),
                    root: self.path.clone(),
                    component: here_path.to_path_buf(),
                    kind,
                });
            }
        }
        Ok(false)
    }

    /// Create the missing directory `c` (a race with another creator retries the lookup),
    /// then walk into it.
    fn walk_create(
        &self,
        w: &mut Walk,
        c: OsString,
        here_path: &Path,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<()> {
        match self.mkdir_at(w.op, w.cur.as_fd(), &c, here_path, mode, owner) {
            Ok(()) => w.created.push(here_path.to_path_buf()),
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error())
                    && w.retries < 8 =>
            {
                // Raced with another creator: look again.
                w.retries += 1;
            }
            Err(e) => return Err(e),
        }
        w.todo.push_front(c);
        Ok(())
    }
}

/// The state of one [`Root::walk_resolve`].
struct Walk {
    op: &'static str,
    /// The path asked for, for messages.
    given: PathBuf,
    /// Components still to walk (symlink targets are pushed in front).
    todo: std::collections::VecDeque<OsString>,
    /// Components walked: the resolved path so far.
    stack: Comps,
    /// Directories created.
    created: Vec<PathBuf>,
    /// The directory at `stack`.
    cur: OwnedFd,
    links: usize,
    retries: usize,
}

impl Walk {
    /// A resolve() reached a missing component: the rest is kept as given (`..` pops).
    fn keep_missing(&mut self, c: OsString) {
        self.stack.push(c);
        for rest in self.todo.drain(..) {
            match rest.as_bytes() {
                b"" | b"." => {}
                b".." => {
                    self.stack.pop();
                }
                _ => self.stack.push(rest),
            }
        }
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
