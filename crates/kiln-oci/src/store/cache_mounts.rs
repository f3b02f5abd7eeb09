//! `RUN --mount=type=cache` directories: `<root>/cache-mounts/<key>/`, where `data/` is
//! what a step mounts, `id` records the cache id, `project` the project of a
//! project-scoped cache, and `lock` coordinates the builds using it. The key (64 hex
//! digits) is chosen by the engine from the id and the scope.
//!
//! Sharing: [`CacheMountUse::Shared`] takes a shared lock (several steps at once);
//! [`CacheMountUse::Locked`] an exclusive one (the next step waits);
//! [`CacheMountUse::Private`] uses the cache when no one else does, else a fresh empty
//! directory for this step only. [`Store::prune_cache_mounts`] takes each exclusive lock
//! before removing, so a cache in use is never pruned.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use super::{io_err, mkdir, Store, StoreError};

/// How a step uses a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMountUse {
    /// With other steps at the same time (`sharing=shared`).
    Shared,
    /// Alone: the next step waits (`sharing=locked`).
    Locked,
    /// Alone, or in a fresh directory of its own when the cache is in use (`sharing=private`).
    Private,
}

/// How a cache directory is made the first time (and each private copy).
#[derive(Debug, Clone, Copy)]
pub struct CacheMountInit<'a> {
    /// The cache id, recorded in `id`.
    pub id: &'a str,
    /// The project of a project-scoped cache, recorded in `project`.
    pub project: Option<&'a str>,
    /// Mode of the data directory.
    pub mode: u32,
    /// Owner (uid, gid) of the data directory.
    pub owner: (u32, u32),
    /// A directory whose contents are copied in (`from=`); links are copied as links.
    pub seed: Option<&'a Path>,
}

/// A cache in use: the directory to mount, kept (locked, or a private copy) until dropped.
#[derive(Debug)]
pub struct CacheMount {
    data: PathBuf,
    _lock: File,
    _private: Option<tempfile::TempDir>,
}

impl CacheMount {
    /// The directory to mount (canonical: runtimes resolve mount sources themselves).
    pub fn data(&self) -> &Path {
        &self.data
    }
}

/// What [`Store::prune_cache_mounts`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheMountsPruned {
    /// Caches removed.
    pub caches: usize,
    /// Bytes they held.
    pub bytes: u64,
    /// Caches in use by a running build (left alone).
    pub busy: usize,
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(StoreError::CacheName {
            area: "cache-mounts",
            name: key.to_owned(),
        })
    }
}

/// A cache directory's lock file (made if missing; never truncated).
fn open_lock(lock_path: &Path) -> Result<File, StoreError> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(|e| io_err("open", lock_path, e))
}

fn flock(lock: &File, path: &Path, op: FlockOperation) -> Result<(), StoreError> {
    rustix::fs::flock(lock, op).map_err(|e| io_err("lock", path, e.into()))
}

impl Store {
    /// Opens (creating on first use, as `init` says) the cache mount `key` for a step that
    /// uses it `how`; `wait` is called before blocking on another step's exclusive use.
    pub fn open_cache_mount(
        &self,
        key: &str,
        how: CacheMountUse,
        init: &CacheMountInit<'_>,
        wait: &dyn Fn(),
    ) -> Result<CacheMount, StoreError> {
        check_key(key)?;
        let dir = self.cache_mounts_dir().join(key);
        mkdir(&dir, 0o755)?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| io_err("resolve", &dir, e))?;
        let lock_path = dir.join("lock");
        let lock = open_lock(&lock_path)?;
        let try_exclusive = || rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive);
        let mut private = None;
        match how {
            CacheMountUse::Shared => flock(&lock, &lock_path, FlockOperation::LockShared)?,
            CacheMountUse::Locked => {
                if try_exclusive().is_err() {
                    wait();
                    flock(&lock, &lock_path, FlockOperation::LockExclusive)?;
                }
            }
            CacheMountUse::Private => {
                if try_exclusive().is_err() {
                    // In use: this step gets a directory of its own (still under the
                    // shared lock, so prune waits for it).
                    flock(&lock, &lock_path, FlockOperation::LockShared)?;
                    let t = tempfile::Builder::new()
                        .prefix("private-")
                        .tempdir_in(&dir)
                        .map_err(|e| io_err("create a private copy in", &dir, e))?;
                    private = Some(t);
                }
            }
        }
        let data = match &private {
            Some(t) => t.path().to_path_buf(),
            None => dir.join("data"),
        };
        if !data.exists() || private.is_some() {
            init_data(&dir, &data, init)?;
        }
        Ok(CacheMount {
            data,
            _lock: lock,
            _private: private,
        })
    }

    /// Removes every cache mount no build is using.
    pub fn prune_cache_mounts(&self) -> Result<CacheMountsPruned, StoreError> {
        let base = self.cache_mounts_dir();
        let mut pruned = CacheMountsPruned::default();
        let entries = match std::fs::read_dir(&base) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
            Err(e) => return Err(io_err("read", &base, e)),
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() || check_key(&entry.file_name().to_string_lossy()).is_err() {
                continue;
            }
            let lock_path = dir.join("lock");
            let lock = open_lock(&lock_path)?;
            if rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err() {
                pruned.busy += 1;
                continue;
            }
            pruned.bytes += size_of(&dir);
            empty_except_lock(&dir)?;
            // The lock file goes last: whoever opens it afterwards recreates the cache.
            let _ = std::fs::remove_file(&lock_path);
            let _ = std::fs::remove_dir(&dir);
            pruned.caches += 1;
        }
        Ok(pruned)
    }
}

/// Creates `data` (seeded, with its mode and owner) and records the id of the cache `dir`.
fn init_data(dir: &Path, data: &Path, init: &CacheMountInit<'_>) -> Result<(), StoreError> {
    mkdir(data, 0o755)?;
    if let Some(seed) = init.seed {
        // cp -a copies links as links: nothing is followed out of the seed.
        let mut from = seed.as_os_str().to_owned();
        from.push("/.");
        let out = std::process::Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(data)
            .output()
            .map_err(|e| io_err("run cp -a to seed", data, e))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(data);
            return Err(StoreError::CacheSeed {
                path: data.to_owned(),
                seed: seed.to_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
    }
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(init.mode & 0o7777))
        .map_err(|e| io_err("set the mode of", data, e))?;
    std::os::unix::fs::chown(data, Some(init.owner.0), Some(init.owner.1))
        .map_err(|e| io_err("set the owner of", data, e))?;
    let id_file = dir.join("id");
    if !id_file.exists() {
        std::fs::write(&id_file, init.id).map_err(|e| io_err("write", &id_file, e))?;
        if let Some(project) = init.project {
            let p_file = dir.join("project");
            std::fs::write(&p_file, project).map_err(|e| io_err("write", &p_file, e))?;
        }
    }
    Ok(())
}

/// Removes everything in a cache directory but its lock file.
fn empty_except_lock(dir: &Path) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_err("read", dir, e))?;
    for sub in entries.flatten() {
        if sub.file_name() == "lock" {
            continue;
        }
        let p = sub.path();
        let r = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| io_err("remove", &p, e))?;
    }
    Ok(())
}

fn size_of(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn init(seed: Option<&Path>) -> CacheMountInit<'_> {
        CacheMountInit {
            id: "apt",
            project: Some("name:app"),
            mode: 0o750,
            owner: (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            ),
            seed,
        }
    }

    #[test]
    fn shared_caches_persist_private_ones_do_not_and_prune_skips_busy() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let seed = t.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        std::fs::write(seed.join("s"), b"seeded").unwrap();
        let first = store
            .open_cache_mount(KEY, CacheMountUse::Shared, &init(Some(&seed)), &|| {})
            .unwrap();
        assert_eq!(std::fs::read(first.data().join("s")).unwrap(), b"seeded");
        let mode = std::fs::metadata(first.data())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o750);
        std::fs::write(first.data().join("kept"), b"1").unwrap();
        let dir = first.data().parent().unwrap().to_owned();
        assert_eq!(std::fs::read_to_string(dir.join("id")).unwrap(), "apt");
        assert_eq!(
            std::fs::read_to_string(dir.join("project")).unwrap(),
            "name:app"
        );
        // A second shared user sees the same directory; a private one gets its own.
        let second = store
            .open_cache_mount(KEY, CacheMountUse::Shared, &init(None), &|| {})
            .unwrap();
        assert_eq!(second.data(), first.data());
        let private = store
            .open_cache_mount(KEY, CacheMountUse::Private, &init(None), &|| {})
            .unwrap();
        assert_ne!(private.data(), first.data());
        assert!(!private.data().join("kept").exists());
        let private_dir = private.data().to_owned();
        drop(private);
        assert!(!private_dir.exists());
        // In use: prune leaves it.
        let busy = store.prune_cache_mounts().unwrap();
        assert_eq!((busy.caches, busy.busy), (0, 1));
        drop((first, second));
        let again = store
            .open_cache_mount(KEY, CacheMountUse::Locked, &init(None), &|| {})
            .unwrap();
        assert_eq!(std::fs::read(again.data().join("kept")).unwrap(), b"1");
        drop(again);
        let pruned = store.prune_cache_mounts().unwrap();
        assert_eq!((pruned.caches, pruned.busy), (1, 0));
        assert!(pruned.bytes >= 7);
        assert!(!dir.exists());
    }

    #[test]
    fn bad_keys_and_failed_seeds_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        for bad in ["", "../x", &KEY.to_uppercase(), &KEY[1..]] {
            let e = store
                .open_cache_mount(bad, CacheMountUse::Shared, &init(None), &|| {})
                .unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Internal, "{bad:?}: {e}");
        }
        let missing = t.path().join("no-such-seed");
        let e = store
            .open_cache_mount(KEY, CacheMountUse::Shared, &init(Some(&missing)), &|| {})
            .unwrap_err();
        assert!(matches!(e, StoreError::CacheSeed { .. }), "{e}");
        assert!(e.to_string().contains("no-such-seed"), "{e}");
        assert_eq!(e.kind(), crate::ErrorKind::Io);
    }
}
