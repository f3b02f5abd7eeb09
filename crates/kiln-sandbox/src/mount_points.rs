//! Mount points the sandbox needs in the root filesystem: created empty when
//! missing (resolved inside the root), removed after the run if still empty,
//! with the parent directory's times put back, so a layer diff does not see them.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::Timespec;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps};
use rustix::io::Errno;

use crate::embedded::cstring;
use crate::SandboxError;

/// A mount point created in the rootfs for the run, removed afterwards.
pub(crate) struct Created {
    parent: OwnedFd,
    name: CString,
    dir: bool,
    /// The parent directory's times before the entry was created, put back
    /// after it is removed so a layer diff does not see the directory change.
    parent_times: Option<Timestamps>,
}

/// Mount points created in the rootfs; removed (if still empty) on drop.
#[derive(Default)]
pub(crate) struct MountPoints(Vec<Created>);

impl MountPoints {
    /// Make sure `rel` (relative to the rootfs, resolved inside it) exists.
    pub(crate) fn ensure(
        &mut self,
        root: &OwnedFd,
        rootfs: &Path,
        rel: &str,
        dir: bool,
    ) -> Result<(), SandboxError> {
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let full = rootfs.join(rel);
        match rustix::fs::openat2(
            root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::NOENT) => {}
            Err(e) => {
                return Err(SandboxError::root_content(
                    "looking up mount point",
                    full,
                    e.into(),
                    "fix or remove it in the root filesystem",
                ))
            }
        }
        let (parent_rel, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => (".", rel),
        };
        if parent_rel != "." {
            self.ensure(root, rootfs, parent_rel, true)?;
        }
        let parent = rustix::fs::openat2(
            root,
            parent_rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
        .map_err(|e| {
            SandboxError::root_content(
                "opening directory",
                rootfs.join(parent_rel),
                e.into(),
                "it must be a directory in the root filesystem",
            )
        })?;
        if rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            return Err(SandboxError::root_content(
                "mount point is a dangling symlink",
                full,
                Errno::NOENT.into(),
                "make it a regular file or directory, or point it at an existing one",
            ));
        }
        let parent_times = rustix::fs::fstat(&parent).ok().map(|st| Timestamps {
            last_access: Timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: Timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec as _,
            },
        });
        let created = if dir {
            rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))
        } else {
            rustix::fs::openat(
                &parent,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map(drop)
        };
        created.map_err(|e| {
            SandboxError::io(
                "creating mount point",
                full,
                e.into(),
                "the root filesystem must be writable by root",
            )
        })?;
        self.0.push(Created {
            parent,
            name: cstring("path", name)?,
            dir,
            parent_times,
        });
        Ok(())
    }

    pub(crate) fn remove(&mut self) {
        for c in self.0.drain(..).rev() {
            let removed = if c.dir {
                // Fails (and stays) if the process put something in it.
                rustix::fs::unlinkat(&c.parent, c.name.as_c_str(), AtFlags::REMOVEDIR).is_ok()
            } else {
                match rustix::fs::statat(&c.parent, c.name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st)
                        if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                            && st.st_size == 0 =>
                    {
                        rustix::fs::unlinkat(&c.parent, c.name.as_c_str(), AtFlags::empty()).is_ok()
                    }
                    _ => false,
                }
            };
            if let (true, Some(times)) = (removed, &c.parent_times) {
                let _ = rustix::fs::futimens(&c.parent, times);
            }
        }
    }
}

impl Drop for MountPoints {
    fn drop(&mut self) {
        self.remove();
    }
}
