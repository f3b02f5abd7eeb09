//! Leases: how a kiln process tells others that it is using the store.
//!
//! A process that writes to the store first takes a lease: the file
//! `<root>/leases/<pid>-<random>`, locked with an exclusive `flock` for as long as
//! the process runs, and the temp directory `<root>/tmp/<same name>/` where all
//! its temp files live. The lease file's mtime is when the process started
//! writing. Leases answer two questions without a daemon:
//!
//! - Is the owner of a temp directory alive? Its lease file is locked. A killed
//!   process loses its lock, so `kiln prune` can remove its temp directory.
//! - What might a running build have written but not yet referenced? Only blobs
//!   and unpacked layers whose mtime is not older than that build's lease
//!   (writers set the mtime when they add or reuse one): the collection horizon
//!   of [`horizon`].
//!
//! A lease is created as `.new-<random>`, locked, then renamed to its final
//! name, so a locked final name always means a live process.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::FlockOperation;

use super::lock::{lock_file, try_lock_exclusive};
use super::remove::remove_tree;
use super::{io_err, list_dir, mkdir, StoreError};

/// Directory of the lease files, under the store root.
pub(crate) const LEASES: &str = "leases";
/// Prefix of lease files not yet renamed to their final name.
const NEW_PREFIX: &str = ".new-";
/// Half-made leases older than this belong to a process that died while making it.
const NEW_STALE_AFTER: Duration = Duration::from_secs(3600);
/// Slack under the oldest lease's start for the collection horizon: file
/// timestamps come from a coarse clock.
const HORIZON_SLACK: Duration = Duration::from_secs(1);

/// This process's lease; dropping it removes the temp directory and the lease.
#[derive(Debug)]
pub(crate) struct Lease {
    file: File,
    path: PathBuf,
    tmp: PathBuf,
}

impl Lease {
    /// Takes a new lease on the store at `root`.
    pub(crate) fn take(root: &Path) -> Result<Lease, StoreError> {
        let dir = root.join(LEASES);
        mkdir(&dir, 0o700)?;
        let pid = std::process::id();
        let mut named = tempfile::Builder::new()
            .prefix(NEW_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| io_err("create a lease file in", &dir, e))?;
        lock_file(named.as_file(), FlockOperation::LockExclusive)
            .map_err(|e| io_err("lock", named.path(), e))?;
        let command: Vec<String> = std::env::args().take(3).collect();
        writeln!(named, "pid {pid}\ncommand {}", command.join(" "))
            .map_err(|e| io_err("write", named.path(), e))?;
        let suffix = named
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(NEW_PREFIX))
            .unwrap_or("x")
            .to_owned();
        let id = format!("{pid}-{suffix}");
        let path = dir.join(&id);
        let file = named
            .persist_noclobber(&path)
            .map_err(|e| io_err("rename a lease file to", &path, e.error))?;
        let tmp = root.join(super::paths::TMP).join(&id);
        let lease = Lease { file, path, tmp };
        mkdir(&lease.tmp, 0o700)?;
        Ok(lease)
    }

    /// This process's temp directory.
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The lease's name.
    pub(crate) fn id(&self) -> Option<&str> {
        self.path.file_name().and_then(|n| n.to_str())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Best effort: what is left is removed by the next `kiln prune`.
        let _ = remove_tree(&self.tmp);
        let _ = fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

/// What a probe found out about a lease.
#[derive(Debug)]
pub(crate) enum Probe {
    /// Its process runs; it started writing at this time.
    Live(SystemTime),
    /// Its process has ended; the returned file holds the lock now, so the
    /// lease can be cleaned up without racing anyone.
    Dead(File),
    /// No such lease (never made, or already cleaned up).
    Missing,
}

/// Probes the lease named `id`.
pub(crate) fn probe(root: &Path, id: &str) -> Result<Probe, StoreError> {
    let path = root.join(LEASES).join(id);
    let file = match File::options().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Probe::Missing),
        Err(e) => return Err(io_err("open", &path, e)),
    };
    if try_lock_exclusive(&file).map_err(|e| io_err("probe the lock of", &path, e))? {
        return Ok(Probe::Dead(file));
    }
    let started = file
        .metadata()
        .and_then(|m| m.modified())
        .map_err(|e| io_err("stat", &path, e))?;
    Ok(Probe::Live(started))
}

/// Names of all lease files (final names only).
fn lease_ids(root: &Path) -> Result<Vec<String>, StoreError> {
    Ok(list_dir(&root.join(LEASES))?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !name.starts_with('.'))
        .collect())
}

/// The collection horizon: blobs, unpacked layers and image records older
/// than this are not in use by any other running kiln process. It is the
/// start of the oldest live lease but `own` (less some slack), or `now` if
/// there is none. Call it while holding the gc lock exclusively: a process
/// that takes its lease later cannot add or mark anything before the lock is
/// released.
pub(crate) fn horizon(
    root: &Path,
    own: Option<&str>,
    now: SystemTime,
) -> Result<SystemTime, StoreError> {
    let mut horizon = now;
    for id in lease_ids(root)? {
        if Some(id.as_str()) == own {
            continue;
        }
        if let Probe::Live(started) = probe(root, &id)? {
            let start = started.checked_sub(HORIZON_SLACK).unwrap_or(started);
            horizon = horizon.min(start);
        }
    }
    Ok(horizon)
}

/// A temp entry of an ended process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleTemp {
    /// The entry under `<root>/tmp`.
    pub path: PathBuf,
    /// Its size in bytes (allocated blocks).
    pub bytes: u64,
}

/// The entries of `<root>/tmp` whose owner has ended: temp directories of dead
/// leases, and entries of no lease (left by older versions of kiln).
pub(crate) fn stale_temps(root: &Path) -> Result<Vec<StaleTemp>, StoreError> {
    let mut stale = Vec::new();
    for (name, path) in list_dir(&root.join(super::paths::TMP))? {
        if !matches!(probe(root, &name)?, Probe::Live(_)) {
            let bytes = super::usage::tree_bytes(&path);
            stale.push(StaleTemp { path, bytes });
        }
    }
    Ok(stale)
}

/// Removes what ended processes left: their temp directories and lease
/// files. Returns what was removed; entries that cannot be removed (for
/// example a mount left behind) are reported in `failed`.
pub(crate) fn reap(root: &Path) -> Result<Reaped, StoreError> {
    let mut reaped = Reaped::default();
    // Dead leases first: lock held while their temp directory goes.
    for id in lease_ids(root)? {
        if let Probe::Dead(_locked) = probe(root, &id)? {
            let tmp = root.join(super::paths::TMP).join(&id);
            let bytes = super::usage::tree_bytes(&tmp);
            match remove_tree(&tmp) {
                Ok(true) => reaped.removed.push(StaleTemp { path: tmp, bytes }),
                Ok(false) => {}
                Err(e) => {
                    reaped.failed.push(e);
                    continue;
                }
            }
            let lease = root.join(LEASES).join(&id);
            if let Err(e) = fs::remove_file(&lease) {
                if e.kind() != io::ErrorKind::NotFound {
                    reaped.failed.push(io_err("remove", &lease, e));
                }
            }
        }
    }
    reap_half_made(root, &mut reaped)?;
    // Entries without a lease (older kiln versions, or a lease reaped above).
    for entry in stale_temps(root)? {
        match remove_tree(&entry.path) {
            Ok(true) => reaped.removed.push(entry),
            Ok(false) => {}
            Err(e) => reaped.failed.push(e),
        }
    }
    Ok(reaped)
}

/// Lease files a process died making (before the rename).
fn reap_half_made(root: &Path, reaped: &mut Reaped) -> Result<(), StoreError> {
    let dir = root.join(LEASES);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let is_new = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(NEW_PREFIX));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > NEW_STALE_AFTER);
        if is_new && old {
            if let Err(e) = fs::remove_file(entry.path()) {
                reaped.failed.push(io_err("remove", &entry.path(), e));
            }
        }
    }
    Ok(())
}

/// What [`reap`] removed.
#[derive(Debug, Default)]
pub(crate) struct Reaped {
    pub(crate) removed: Vec<StaleTemp>,
    pub(crate) failed: Vec<StoreError>,
}
