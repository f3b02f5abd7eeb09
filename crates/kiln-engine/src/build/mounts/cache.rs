//! `RUN --mount=type=cache`: directories kept in the store across builds (the store owns
//! them: see `kiln_oci::store::cache_mounts` for the layout, locking and pruning). Never
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

use kiln_oci::store::{CacheMount, CacheMountInit, CacheMountUse};
use kiln_oci::Store;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

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

/// A cache mount could not be opened; the store's error is kept as the source (its
/// `kind()` is the class of the failure).
#[derive(Debug, thiserror::Error)]
#[error("cache mount: {0}")]
pub(crate) struct CacheMountError(#[source] pub kiln_oci::StoreError);

/// For callers that report a step's failure as a message.
impl From<CacheMountError> for String {
    fn from(e: CacheMountError) -> String {
        e.to_string()
    }
}

/// A cache in use: the directory to mount, kept (locked, or a private copy) until dropped.
#[derive(Debug)]
pub(crate) struct CacheInUse {
    pub dir: PathBuf,
    _mount: CacheMount,
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
) -> Result<CacheInUse, CacheMountError> {
    let how = match how {
        Use::Shared => CacheMountUse::Shared,
        Use::Locked => CacheMountUse::Locked,
        Use::Private => CacheMountUse::Private,
    };
    let init = CacheMountInit {
        id,
        project: match scope {
            Scope::Project(p) => Some(p),
            Scope::Shared => None,
        },
        mode,
        owner,
        seed,
    };
    let mount = store
        .open_cache_mount(&scope.key(id), how, &init, wait)
        .map_err(CacheMountError)?;
    Ok(CacheInUse {
        dir: mount.data().to_owned(),
        _mount: mount,
    })
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
