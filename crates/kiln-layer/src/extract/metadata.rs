//! Owners, xattrs, modes and times of extracted members; directories' last.

use super::*;

impl State<'_> {
    pub(super) fn node_meta(
        &mut self,
        e: &RawEntry,
        path: &Path,
        uid: u32,
        gid: u32,
    ) -> Result<()> {
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
    pub(super) fn xattr_skip(
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
    pub(super) fn drop_xattr(&self, name: &str) -> bool {
        self.opts.whiteouts == WhiteoutMode::Overlay && name.starts_with(OVERLAY_XATTR_PREFIX)
    }

    pub(super) fn path_xattrs(&mut self, e: &RawEntry, path: &Path) -> Result<()> {
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

    pub(super) fn file_meta(
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

    pub(super) fn finish_dirs(&mut self) -> Result<()> {
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
