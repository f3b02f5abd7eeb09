//! Reading through a [`Root`]: metadata, links, file contents, directories, xattrs.

use super::*;

impl Root {
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

    pub(super) fn entries(
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

    pub(super) fn walk_fd(
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
