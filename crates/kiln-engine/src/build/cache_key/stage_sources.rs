//! The part of a cache key that comes from an earlier stage a step reads (`COPY --from`,
//! `RUN --mount from=`): the files the step names there, by content, as for the build
//! context. A change elsewhere in that stage (a source file its later steps copy) then
//! keeps the step cached, as in BuildKit, where a key made from the stage's last step key
//! would run it again.
//!
//! Where a copy keeps them, owners, extended attributes and hard links count too.
//!
//! The digest is remembered in the store ([`CacheArea::SourceDigests`]) under the stage's
//! layer diff-ids and the paths: the layers are the stage's content, so a cached build
//! reads one small file instead of the files. A whole stage (`/`) is keyed on its diff-ids
//! alone, which already name all of its content.

use super::inputs::{add_context_sources, add_mount_source};
use super::key::KeyBuilder;
use crate::build::error::BuildError;
use crate::build::stage::StageResult;
use crate::build::state::BuildState;
use crate::context::stat_cache::StatCache;
use crate::copy::sources::SourceTree;
use kiln_oci::store::CacheArea;
use kiln_oci::Digest;
use sha2::{Digest as _, Sha256};

/// The paths a step reads from a stage.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Paths<'a> {
    /// COPY's sources: patterns allowed.
    Copy(&'a [String]),
    /// A bind mount's source: one path, as written.
    Mount(&'a str),
}

impl Paths<'_> {
    fn all(&self) -> Vec<&str> {
        match self {
            Paths::Copy(s) => s.iter().map(String::as_str).collect(),
            Paths::Mount(s) => vec![s],
        }
    }
}

/// Add to `key` (as field `{what}-...`) what the paths of stage `stage` hold.
/// False when they cannot be read (the step then runs and reports why).
pub(crate) fn add_stage_sources(
    cx: &BuildState<'_>,
    key: &mut KeyBuilder,
    what: &str,
    stage: &StageResult,
    srcs: Paths<'_>,
) -> Result<bool, BuildError> {
    if srcs.all().iter().all(|s| is_root(s)) {
        for l in &stage.layers {
            key.field(&format!("{what}-layer"), l.diff_id.to_string().as_bytes());
        }
        return Ok(true);
    }
    let name = memo_name(stage, srcs);
    let store = cx.services.store;
    let remembered = store
        .read_cache_file(CacheArea::SourceDigests, &name, 64)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|hex| Digest::from_hex(&hex));
    let digest = match remembered {
        Some(d) => d,
        None => {
            let Some(d) = hash_sources(cx, stage, srcs)? else {
                return Ok(false);
            };
            // Only a speed-up: a build that cannot write it hashes again next time.
            let _ = store.write_cache_file(CacheArea::SourceDigests, &name, d.hex().as_bytes());
            d
        }
    };
    key.field(&format!("{what}-content"), digest.hex().as_bytes());
    Ok(true)
}

/// `/` (or `.`): the whole stage.
fn is_root(src: &str) -> bool {
    src.split('/').all(|c| c.is_empty() || c == ".")
}

/// The memo's file name: the stage's layers and the paths.
fn memo_name(stage: &StageResult, srcs: Paths<'_>) -> String {
    let mut h = Sha256::new();
    h.update(b"kiln stage sources v2\0");
    h.update(match srcs {
        Paths::Copy(_) => b"copy\0",
        Paths::Mount(_) => b"bind\0",
    });
    for l in &stage.layers {
        h.update(l.diff_id.to_string().as_bytes());
        h.update(b"\0");
    }
    for s in srcs.all() {
        h.update(b"src\0");
        h.update(s.as_bytes());
        h.update(b"\0");
    }
    hex::encode(h.finalize())
}

/// The digest of the paths' names, kinds, modes, owners, xattrs, hard links, link targets
/// and contents, read
/// from a view of the stage's layers (or its unpacked root); `None` when they cannot be.
fn hash_sources(
    cx: &BuildState<'_>,
    stage: &StageResult,
    srcs: Paths<'_>,
) -> Result<Option<Digest>, BuildError> {
    let view = crate::build::view::of(cx, &stage.layers)?;
    let mut guard = None;
    let root = match &view {
        Some(v) => &v.root,
        None => {
            let g = guard.insert(stage.root(cx.services.store)?);
            g.ready(cx.services.store)?
        }
    };
    let tree = SourceTree {
        root,
        ignore: None,
        label: "an earlier stage".into(),
        keep_owners: true,
    };
    let mut k = KeyBuilder::new("stage-sources", None);
    let stat = StatCache::in_memory();
    let hashed = match srcs {
        Paths::Copy(s) => add_context_sources(&mut k, &tree, s, &stat),
        Paths::Mount(s) => add_mount_source(&mut k, &tree, s, &stat),
    };
    Ok(hashed.ok().map(|()| k.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_root_in_any_spelling_is_the_whole_stage() {
        for s in ["/", ".", "", "/.", "./", "//"] {
            assert!(is_root(s), "{s:?}");
        }
        for s in ["/wheels", "wheels/", "./a", "/*"] {
            assert!(!is_root(s), "{s:?}");
        }
    }
}
