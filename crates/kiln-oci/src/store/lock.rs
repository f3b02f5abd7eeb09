//! The store's `flock` locks (see the module docs of [`super`] for who takes
//! which):
//!
//! - `<root>/lock`: exclusive, held briefly while `images.json` is read,
//!   changed and rewritten;
//! - `<root>/gc.lock`: shared while a blob or an unpacked layer is put into
//!   place or marked as used, exclusive while anything is deleted.
//!
//! The locks belong to the open file, so two threads of one process exclude
//! each other as two processes do. A process that dies loses its locks.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

/// Shared or exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Shared,
    Exclusive,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct StoreLock {
    // Closing the file releases the flock.
    _file: File,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

impl StoreLock {
    /// Blocks until the exclusive lock on `path` is held.
    pub(crate) fn acquire(path: &Path) -> io::Result<StoreLock> {
        StoreLock::acquire_mode(path, Mode::Exclusive)
    }

    /// Blocks until the lock on `path` is held in `mode`.
    pub(crate) fn acquire_mode(path: &Path, mode: Mode) -> io::Result<StoreLock> {
        let file = open(path)?;
        let op = match mode {
            Mode::Shared => FlockOperation::LockShared,
            Mode::Exclusive => FlockOperation::LockExclusive,
        };
        lock_file(&file, op)?;
        Ok(StoreLock { _file: file })
    }
}

/// `flock`, retried when a signal interrupts it.
pub(crate) fn lock_file(file: &File, op: FlockOperation) -> io::Result<()> {
    loop {
        match flock(file, op) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Tries to lock `file` exclusively without waiting: `Ok(false)` if another
/// open file holds a lock on it.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    match lock_file(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::WOULDBLOCK.raw_os_error()) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
