//! `RUN --mount=type=cache`: directories kept in the store across builds, under
//! `<store>/cache-mounts/<key>/` (`data/` is what is mounted, `id` records the id,
//! `project` the project of a [`Scope::Project`] cache, `lock` coordinates users). Never
//! part of a layer: the directory is bind-mounted over the target, so the step's layer
//! never sees it.
//!
//! Scope (`--cache-mount-scope`): with [`Scope::Shared`] (the default, as BuildKit) the key
//! is the sha256 of the id, so every build using the store shares a cache id: fastest
//! across projects, but a hostile build of one project can plant files in the caches
//! another project's steps read (a poisoned package cache). With [`Scope::Project`] the key
//! also covers a project identity, so builds of other projects never see the directory.
//!
//! Sharing: `shared` takes a shared lock (several steps at once); `locked`
//! an exclusive one (the next step waits); `private` uses the cache when no
//! one else does, else a fresh empty directory for this step only. A cache
//! mount with `source=` (a sub-directory) always takes the exclusive lock
//! while its path is resolved and used, so a step sharing the cache cannot
//! swap a directory for a symlink under it (the CVE-2024-23651 pattern).
//! `kiln prune --cache-mounts` takes each exclusive lock before removing.

use kiln_oci::Store;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

/// Who shares a cache directory (`--cache-mount-scope`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every build using the store, by id.
    #[default]
    Shared,
    /// Builds of one project: its identity (`context:<canonical context path>` or the
    /// name given with `project=NAME`) is part of the key.
    Project(String),
}

impl Scope {
    /// `shared`, `project` (the project is the build context directory `context`, which
    /// must be given) or `project=NAME`.
    pub fn parse(spec: &str, context: Option<&Path>) -> Result<Scope, String> {
        match spec.split_once('=') {
            None if spec == "shared" => Ok(Scope::Shared),
            None if spec == "project" => {
                let Some(dir) = context else {
                    return Err("--cache-mount-scope project: the build context comes from standard input, so it has no directory to name the project: give project=NAME".into());
                };
                let dir = std::fs::canonicalize(dir).map_err(|e| {
                    format!(
                        "--cache-mount-scope project: cannot resolve the context directory {}: {e}",
                        dir.display()
                    )
                })?;
                Ok(Scope::Project(format!("context:{}", dir.display())))
            }
            Some(("project", name)) if !name.is_empty() && !name.chars().any(char::is_control) => {
                Ok(Scope::Project(format!("name:{name}")))
            }
            Some(("project", _)) => Err(format!(
                "--cache-mount-scope {spec:?}: the project name is empty or has control characters"
            )),
            _ => Err(format!(
                "--cache-mount-scope {spec:?}: use shared, project (keyed by the context directory) or project=NAME"
            )),
        }
    }

    /// The directory name of cache `id` in this scope.
    fn key(&self, id: &str) -> String {
        let mut h = Sha256::new();
        if let Scope::Project(p) = self {
            // Unambiguous: the project holds no NUL (paths cannot, names are checked).
            h.update(b"project\0");
            h.update(p.as_bytes());
            h.update(b"\0");
        }
        h.update(id.as_bytes());
        hex::encode(h.finalize())
    }
}

/// How a step uses a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Shared,
    Locked,
    Private,
}

/// A cache in use: the directory to mount and what keeps it (lock, private copy).
#[derive(Debug)]
pub(crate) struct CacheInUse {
    pub dir: PathBuf,
    _lock: File,
    _private: Option<tempfile::TempDir>,
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("cache mount: {what} {}: {e}", path.display())
}

/// Open (creating on first use, with `mode`, `uid`, `gid`, and a copy of `seed`'s
/// contents when given: `from=`) the cache `id`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open(
    store: &Store,
    scope: &Scope,
    id: &str,
    how: Use,
    mode: u32,
    owner: (u32, u32),
    seed: Option<&Path>,
    wait: &dyn Fn(),
) -> Result<CacheInUse, String> {
    let dir = store.cache_mounts_dir().join(scope.key(id));
    std::fs::create_dir_all(&dir).map_err(|e| err("cannot create", &dir, e))?;
    // Runtimes resolve mount sources from their own working directory.
    let dir = std::fs::canonicalize(&dir).map_err(|e| err("cannot resolve", &dir, e))?;
    let lock_path = dir.join("lock");
    let lock = open_lock(&lock_path)?;
    let flock = |op: FlockOperation| rustix::fs::flock(&lock, op);
    let mut private = None;
    match how {
        Use::Shared => {
            flock(FlockOperation::LockShared).map_err(|e| err("cannot lock", &lock_path, e))?
        }
        Use::Locked => {
            if flock(FlockOperation::NonBlockingLockExclusive).is_err() {
                wait();
                flock(FlockOperation::LockExclusive)
                    .map_err(|e| err("cannot lock", &lock_path, e))?;
            }
        }
        Use::Private => {
            if flock(FlockOperation::NonBlockingLockExclusive).is_err() {
                // In use: this step gets a directory of its own (still under the
                // shared lock, so prune waits for it).
                flock(FlockOperation::LockShared).map_err(|e| err("cannot lock", &lock_path, e))?;
                let t = tempfile::Builder::new()
                    .prefix("private-")
                    .tempdir_in(&dir)
                    .map_err(|e| err("cannot create a private copy in", &dir, e))?;
                private = Some(t);
            }
        }
    }
    let data = match &private {
        Some(t) => t.path().to_path_buf(),
        None => dir.join("data"),
    };
    if !data.exists() || private.is_some() {
        std::fs::create_dir_all(&data).map_err(|e| err("cannot create", &data, e))?;
        if let Some(seed) = seed {
            // cp -a copies links as links: nothing is followed out of the seed.
            let mut from = seed.as_os_str().to_owned();
            from.push("/.");
            let out = std::process::Command::new("cp")
                .arg("-a")
                .arg(&from)
                .arg(&data)
                .output()
                .map_err(|e| err("cannot run cp -a to seed", &data, e))?;
            if !out.status.success() {
                let _ = std::fs::remove_dir_all(&data);
                return Err(err(
                    "cannot seed",
                    &data,
                    String::from_utf8_lossy(&out.stderr).trim(),
                ));
            }
        }
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| err("cannot set the mode of", &data, e))?;
        std::os::unix::fs::chown(&data, Some(owner.0), Some(owner.1))
            .map_err(|e| err("cannot set the owner of", &data, e))?;
        let id_file = dir.join("id");
        if !id_file.exists() {
            std::fs::write(&id_file, id).map_err(|e| err("cannot write", &id_file, e))?;
            if let Scope::Project(p) = scope {
                let p_file = dir.join("project");
                std::fs::write(&p_file, p).map_err(|e| err("cannot write", &p_file, e))?;
            }
        }
    }
    Ok(CacheInUse {
        dir: data,
        _lock: lock,
        _private: private,
    })
}

/// What `kiln prune --cache-mounts` removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub caches: usize,
    pub bytes: u64,
    /// Caches in use by a running build (left alone).
    pub busy: usize,
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

/// Remove every cache mount no build is using.
pub fn prune_cache_mounts(store: &Store) -> Result<Pruned, String> {
    let base = store.cache_mounts_dir();
    let mut pruned = Pruned::default();
    let entries = match std::fs::read_dir(&base) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
        Err(e) => return Err(err("cannot read", &base, e)),
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.is_dir() || dir.file_name().is_some_and(|n| n.len() != 64) {
            continue;
        }
        let lock_path = dir.join("lock");
        let lock = open_lock(&lock_path)?;
        if rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err() {
            pruned.busy += 1;
            continue;
        }
        pruned.bytes += size_of(&dir);
        // The lock file goes last: whoever opens it afterwards recreates the cache.
        for sub in std::fs::read_dir(&dir)
            .map_err(|e| err("cannot read", &dir, e))?
            .flatten()
        {
            if sub.file_name() == "lock" {
                continue;
            }
            let p = sub.path();
            let r = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|e| err("cannot remove", &p, e))?;
        }
        let _ = std::fs::remove_file(&lock_path);
        let _ = std::fs::remove_dir(&dir);
        pruned.caches += 1;
    }
    Ok(pruned)
}

/// A cache directory's lock file (made if missing; never truncated).
fn open_lock(lock_path: &Path) -> Result<File, String> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(|e| err("cannot open", lock_path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_key_caches_apart() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(Scope::parse("shared", None), Ok(Scope::Shared));
        let by_dir = Scope::parse("project", Some(dir.path())).expect("project");
        assert!(matches!(&by_dir, Scope::Project(p) if p.starts_with("context:/")));
        assert!(Scope::parse("project", None)
            .expect_err("stdin")
            .contains("project=NAME"));
        assert_eq!(
            Scope::parse("project=team/app", None),
            Ok(Scope::Project("name:team/app".into()))
        );
        for bad in ["project=", "project=a\nb", "global", "shared=x"] {
            assert!(Scope::parse(bad, None).is_err(), "{bad:?} accepted");
        }
        // Shared keys are today's (sha256 of the id), so existing caches stay in use.
        assert_eq!(Scope::Shared.key("x"), hex::encode(Sha256::digest(b"x")));
        let a = Scope::Project("name:a".into());
        let b = Scope::Project("name:b".into());
        assert_ne!(a.key("x"), b.key("x"));
        assert_ne!(a.key("x"), Scope::Shared.key("x"));
        assert_eq!(a.key("x"), a.key("x"));
    }
}
