//! The store-wide exclusive lock (`flock` on `<root>/lock`) that serialises
//! updates of `images.json` between threads and processes.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

/// Held while `images.json` is read, changed and rewritten; released on drop.
#[derive(Debug)]
pub(crate) struct StoreLock {
    // Closing the file releases the flock.
    _file: File,
}

impl StoreLock {
    /// Blocks until the exclusive lock on `path` is held.
    pub(crate) fn acquire(path: &Path) -> io::Result<StoreLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        loop {
            match flock(&file, FlockOperation::LockExclusive) {
                Ok(()) => return Ok(StoreLock { _file: file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
