//! `RUN --mount=type=bind`: files of the build context, a stage or an image in one step.

use super::super::state::BuildState;
use super::context_view;
use super::{Current, StepMounts};
use crate::build::error::BuildError;
use kiln_layer::snapshot::OverlaySnapshot;
use std::path::PathBuf;

/// `RUN --mount=type=bind`: a path of the build context (without what .dockerignore
/// drops), a stage or an image, bound read-only, or writable over a throwaway copy.
pub(super) fn prepare(
    cx: &BuildState<'_>,
    cur: &Current<'_, '_>,
    out: &mut StepMounts,
) -> Result<(), BuildError> {
    let (input, m, n) = (cur.input, cur.input.mount, cur.n);
    let target = cur.need_target()?;
    let (root, label) = match &input.from {
        Some((r, l)) => (*r, l.clone()),
        None => (&cx.spec.context.root, "the build context".to_string()),
    };
    let src = m.source.clone().unwrap_or_else(|| "/".into());
    let host = root.host_path(&src).map_err(|e| {
        BuildError::refused(
            input.span,
            format!("RUN --mount=type=bind: source {src:?} in {label}"),
            Some("give a path that exists in the stage, image or context (resolved inside it)"),
            e,
        )
    })?;
    // The context as `docker build` sends it: without what .dockerignore drops.
    let host = if input.from.is_none() && !cx.spec.context.ignore.is_empty() {
        let rel = host
            .strip_prefix(root.path())
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        if cx.spec.context.ignore.excludes(&rel) && !host.is_dir() {
            return cur.fail(
                format!("source {src:?} is excluded by .dockerignore"),
                "remove it from .dockerignore, or mount another path",
            );
        }
        if host.is_dir() {
            let work = out.work_dir(cx.services.scratch, input.span)?;
            let view = work.join(format!("context-{n}"));
            context_view::filtered_tree(&host, &rel, &cx.spec.context.ignore, &view)
                .map_err(|e| BuildError::step_io(input.span, "RUN --mount=type=bind", e))?;
            view
        } else {
            host
        }
    } else {
        host
    };
    if m.readonly {
        out.bind(target, host, true);
        return Ok(());
    }
    // Writable: the step's changes go to a throwaway copy.
    let work = out.work_dir(cx.services.scratch, input.span)?;
    let io = |e: std::io::Error| BuildError::step_io(input.span, "RUN --mount=type=bind,rw", e);
    if host.is_dir() {
        let d = |s: &str| -> Result<PathBuf, BuildError> {
            let p = work.join(format!("{s}-{n}"));
            std::fs::create_dir(&p).map_err(io)?;
            Ok(p)
        };
        let (upper, w, merged) = (d("upper")?, d("work")?, d("merged")?);
        let ov = OverlaySnapshot::mount(&[host], &upper, &w, &merged).map_err(|e| {
            BuildError::step(
                input.span,
                format!("RUN --mount=type=bind,rw: cannot mount an overlay of the source: {e}"),
            )
            .with_hint("mount it read-only (drop rw)")
        })?;
        out.overlays.push(ov);
        out.bind(target, merged, false);
    } else {
        let copy = work.join(format!("file-{n}"));
        std::fs::copy(&host, &copy).map_err(io)?;
        out.bind(target, copy, false);
    }
    Ok(())
}
