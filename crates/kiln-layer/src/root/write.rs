//! Changing things through a [`Root`]: files, directories, links, nodes, removal,
//! owners, modes, times and xattrs.

use super::*;

impl Root {
    /// Remove a non-directory final component so that it can be replaced.
    pub(super) fn clear_for_replace(&self, op: &'static str, par: &Parent) -> Result<()> {
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

    /// The directory `name` in `dir` (never through a symlink), opened for reading.
    fn open_dir_at(
        &self,
        op: &'static str,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
    ) -> Result<OwnedFd> {
        rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.io(op, path, e))
    }

    pub(super) fn mkdir_at(
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
        let fd = self.open_dir_at(op, dir, name, path)?;
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

    pub(super) fn remove_at(
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
            let fd = self.open_dir_at(op, dir, name, path)?;
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

    pub(super) fn clear_dir(
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
    pub(super) fn list_names(
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

    pub(super) fn chmod_at(&self, op: &'static str, par: &Parent, mode: u32) -> Result<()> {
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
    pub(super) fn xattr_target(
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

    pub(super) fn xattr_path(fd: &OwnedFd, name: &Option<OsString>) -> PathBuf {
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
}
