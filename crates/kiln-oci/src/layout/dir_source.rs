//! Reading a layout from a directory on disk.

use super::*;

/// An OCI layout directory on disk, read without following symlinks.
pub(super) struct DirSource {
    pub(super) dir: PathBuf,
}

/// Opens a regular file without following a symlink in its last component
/// and without blocking on FIFOs; refuses anything but a regular file.
fn open_regular(path: &Path) -> io::Result<Option<File>> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => {
            let file = File::from(fd);
            if file.metadata()?.is_file() {
                Ok(Some(file))
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file",
                ))
            }
        }
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(rustix::io::Errno::LOOP) => {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "is a symlink"))
        }
        Err(e) => Err(e.into()),
    }
}

impl DirSource {
    fn open(&self, name: &str) -> Result<Option<File>, LayoutError> {
        // Intermediate directories must be real directories, not symlinks.
        let mut sub = self.dir.clone();
        let parts: Vec<&str> = name.split('/').collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            sub.push(part);
            match fs::symlink_metadata(&sub) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(LayoutError::NotRegularFile {
                        what: format!("{} (a parent of {name})", sub.display()),
                        location: self.location(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err("inspect", &sub, e)),
            }
        }
        let path = self.dir.join(name);
        open_regular(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput {
                LayoutError::NotRegularFile {
                    what: name.to_owned(),
                    location: self.location(),
                }
            } else {
                io_err("open", &path, e)
            }
        })
    }

    fn open_blob(&self, digest: &Digest, size: u64) -> Result<File, LayoutError> {
        let name = blob_name(digest);
        let file = self.open(&name)?.ok_or_else(|| LayoutError::Missing {
            what: name.clone(),
            location: self.location(),
        })?;
        let actual = file
            .metadata()
            .map_err(|e| io_err("inspect", &self.dir.join(&name), e))?
            .len();
        if actual != size {
            return Err(LayoutError::SizeMismatch {
                what: name,
                location: self.location(),
                expected: size,
                actual,
            });
        }
        Ok(file)
    }
}

impl Source for DirSource {
    fn location(&self) -> String {
        format!("OCI layout {}", self.dir.display())
    }

    fn read_file(&mut self, name: &str, max: u64) -> Result<Option<Vec<u8>>, LayoutError> {
        let Some(file) = self.open(name)? else {
            return Ok(None);
        };
        let path = self.dir.join(name);
        let size = file
            .metadata()
            .map_err(|e| io_err("inspect", &path, e))?
            .len();
        let too_large = |size| LayoutError::TooLarge {
            what: name.to_owned(),
            location: self.location(),
            size,
            max,
        };
        if size > max {
            return Err(too_large(size));
        }
        crate::json::read_capped(file, max)
            .map_err(|e| io_err("read", &path, e))?
            .map(Some)
            .ok_or_else(|| too_large(max + 1))
    }

    fn read_blob(&mut self, digest: &Digest, size: u64, max: u64) -> Result<Vec<u8>, LayoutError> {
        check_cap(&self.location(), digest, size, max)?;
        let file = self.open_blob(digest, size)?;
        let mut bytes = Vec::new();
        file.take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_err("read", &self.dir.join(blob_name(digest)), e))?;
        verify(
            &self.location(),
            digest,
            size,
            &Digest::of_bytes(&bytes),
            bytes.len() as u64,
        )?;
        Ok(bytes)
    }

    fn check_blob(&mut self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        self.open_blob(digest, size).map(drop)
    }

    fn copy_blob(&mut self, store: &Store, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        let file = self.open_blob(digest, size)?;
        let mut writer = store.blob_writer()?;
        io::copy(&mut file.take(size + 1), &mut writer)
            .map_err(|e| io_err("copy", &self.dir.join(blob_name(digest)), e))?;
        let written = writer.written();
        if written != size {
            return Err(LayoutError::SizeMismatch {
                what: blob_name(digest),
                location: self.location(),
                expected: size,
                actual: written,
            });
        }
        match writer.commit(Some(digest)) {
            Ok(_) => Ok(()),
            Err(StoreError::DigestMismatch { actual, .. }) => Err(LayoutError::DigestMismatch {
                what: blob_name(digest),
                location: self.location(),
                expected: *digest,
                actual,
            }),
            Err(e) => Err(e.into()),
        }
    }
}
