//! The root filesystems `RUN --mount from=STAGE|IMAGE` reads, kept available while the step
//! runs: a read-only overlay view of the layers where overlayfs is used, else the stage's
//! materialised root (held locked) or the image's unpacked root.

use super::base::Rootfs;
use super::error::BuildError;
use super::stage::LazyRoot;
use super::state::BuildState;
use super::view::{self, LayerView};
use kiln_dockerfile::plan::Source;
use kiln_dockerfile::Span;
use kiln_layer::Root;
use std::sync::{Arc, MutexGuard};

/// What keeps one source's root filesystem available.
pub(crate) enum Held<'a> {
    View(LayerView),
    Stage(MutexGuard<'a, LazyRoot>),
    Image(Arc<Rootfs>),
}

impl Held<'_> {
    pub(crate) fn root(&mut self, store: &kiln_oci::Store) -> Result<&Root, BuildError> {
        match self {
            Held::View(v) => Ok(&v.root),
            Held::Stage(g) => g.ready(store),
            Held::Image(fs) => Ok(&fs.root),
        }
    }
}

/// Make `source` available; with its name for messages.
pub(crate) fn hold<'a>(
    cx: &'a BuildState<'_>,
    source: &Source,
    span: Span,
) -> Result<(Held<'a>, String), BuildError> {
    match source {
        Source::Stage(j) => {
            let label = format!("stage {}", cx.spec.plan.stages[*j].label());
            let prev = cx.wait_stage(*j, span)?;
            let held = match view::of(cx, &prev.layers)? {
                Some(v) => Held::View(v),
                None => Held::Stage(prev.root(cx.services.store)?),
            };
            Ok((held, label))
        }
        Source::Image(name) => Ok((
            Held::Image(cx.services.images.rootfs(name, span)?),
            format!("image {name}"),
        )),
    }
}
