//! Opening a store: where it is by default, creating its directories, refusing a root
//! another user owns; and the small directory helpers the other modules share.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{io_err, Store, StoreError};

/// The entries of `dir` as (name, path), sorted by name; none if `dir` does not exist.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}

/// Refuse a root another user owns; take group and other permissions off ours.
fn private_root(root: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(root).map_err(|e| io_err("inspect the store root", root, e))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StoreError::ForeignRoot {
            path: root.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o077 != 0 {
        let private = std::fs::Permissions::from_mode(meta.mode() & 0o7700);
        std::fs::set_permissions(root, private)
            .map_err(|e| io_err("make the store root private (chmod 0700)", root, e))?;
    }
    Ok(())
}

pub(crate) fn mkdir(path: &Path, mode: u32) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| io_err("create directory", path, e))
}

impl Store {
    /// Opens (creating if needed) the store at `root`. A new root gets mode 0700; an
    /// existing one must belong to kiln's user and is made 0700 (a memory-backed
    /// Kubernetes `emptyDir` starts 0777: another user must not reach into the store).
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        if !root.exists() {
            mkdir(root, 0o700)?;
        }
        private_root(root)?;
        let store = Store {
            root: root.to_owned(),
            lease: Arc::new(Mutex::new(None)),
        };
        for dir in store.skeleton() {
            mkdir(&dir, 0o700)?;
        }
        // Make sure the lock file exists so readers of the layout see it.
        drop(store.lock()?);
        Ok(store)
    }

    /// The default store location: `/var/lib/kiln` for root, else
    /// `$XDG_DATA_HOME/kiln` or `~/.local/share/kiln` (or
    /// `<tmp>/kiln-<uid>` if no home directory is known).
    pub fn default_root() -> PathBuf {
        let uid = rustix::process::getuid();
        if uid.is_root() {
            return PathBuf::from("/var/lib/kiln");
        }
        let from_env = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        if let Some(data) = from_env("XDG_DATA_HOME") {
            return data.join("kiln");
        }
        if let Some(home) = from_env("HOME") {
            return home.join(".local").join("share").join("kiln");
        }
        std::env::temp_dir().join(format!("kiln-{}", uid.as_raw()))
    }
}
