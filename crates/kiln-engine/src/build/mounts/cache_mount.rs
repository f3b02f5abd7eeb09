//! `RUN --mount=type=cache`: the cache directory (see `cache.rs`) opened with the lock
//! its sharing asks for, and bound into the step.

use super::super::state::BuildState;
use super::cache;
use super::{Current, StepMounts};
use crate::build::error::BuildError;
use kiln_dockerfile::instructions::Sharing;
use kiln_layer::Root;

/// `RUN --mount=type=cache`: a directory of the store kept between builds, bound at the
/// target (a sub-directory with `source=`, seeded from `from=`).
pub(super) fn prepare(
    cx: &BuildState<'_>,
    cur: &Current<'_, '_>,
    progress: Option<&crate::build::progress::Step>,
    out: &mut StepMounts,
) -> Result<(), BuildError> {
    let (input, m) = (cur.input, cur.input.mount);
    let target = cur.need_target()?;
    // from=: the cache starts as a copy of that stage's or image's source.
    let seed = match &input.from {
        None => None,
        Some((root, label)) => {
            let src = m.source.clone().unwrap_or_else(|| "/".into());
            Some(root.host_path(&src).map_err(|e| {
                BuildError::refused(
                    input.span,
                    format!("RUN --mount=type=cache: source {src:?} in {label}"),
                    None,
                    e,
                )
            })?)
        }
    };
    let subdir = m.source.as_ref().filter(|_| seed.is_none());
    let id = m.id.clone().unwrap_or_else(|| target.clone());
    let how = match (m.sharing.unwrap_or(Sharing::Shared), subdir) {
        // A sub-directory is resolved under the exclusive lock (CVE-2024-23651).
        (_, Some(_)) | (Sharing::Locked, None) => cache::Use::Locked,
        (Sharing::Shared, None) => cache::Use::Shared,
        (Sharing::Private, None) => cache::Use::Private,
    };
    let waiting = || {
        if let Some(p) = progress {
            p.log(&format!(
                "waiting for cache mount {id:?}: another step holds it"
            ));
        }
    };
    let used = cache::open(
        cx.services.store,
        &cx.spec.cache_mount_scope,
        &id,
        how,
        m.mode.unwrap_or(0o755),
        (m.uid.unwrap_or(0), m.gid.unwrap_or(0)),
        seed.as_deref(),
        &waiting,
    )
    .map_err(|e| BuildError::step_io(input.span, "RUN --mount=type=cache", e))?;
    let source = match subdir {
        None => used.dir.clone(),
        Some(sub) => {
            let root = Root::open(&used.dir)
                .map_err(|e| BuildError::step_io(input.span, "cache mount", e))?;
            let refused =
                |e| BuildError::refused(input.span, format!("cache mount source {sub:?}"), None, e);
            root.mkdir_all(sub, 0o755, None).map_err(refused)?;
            root.host_path(sub).map_err(refused)?
        }
    };
    out.caches.push(used);
    out.bind(target, source, m.readonly);
    Ok(())
}
