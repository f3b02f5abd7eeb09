//! COPY and ADD of a stage: owners, modes and excludes from the flags, sources from the
//! build context, an earlier stage or an image, and the step's layer in the store.

use super::error::BuildError;
use super::layer;
use super::progress::{self, Phase, Step};
use super::stage::LazyRoot;
use super::state::BuildState;
use super::step::StageRun;
use super::view;
use crate::context::dockerignore::Ignore;
use crate::copy::{self, chmod::Chmod, owner, sources::SourceTree, CopyRequest, Inline};
use kiln_dockerfile::instructions::{Copy, Instruction};
use kiln_dockerfile::plan::Source;
use kiln_dockerfile::Span;
use kiln_layer::Root;
use kiln_oci::LayerRef;

/// Run a COPY/ADD of stage run `st`; the flag says whether the root filesystem already holds the layer.
pub(crate) fn copy(
    st: &mut StageRun,
    cx: &BuildState<'_>,
    ins: &Instruction,
    c: &Copy,
    add: bool,
    progress: Option<&Step>,
) -> Result<(LayerRef, bool), BuildError> {
    let span = ins.span;
    let from = st.copy_source(cx);
    let workdir = st.config.config.working_dir.clone();
    // The destination as a read-only view of the layers, unless the root is up to date.
    let view = st.layer_view(cx)?;
    let owner = match &c.chown {
        None => None,
        Some(t) => Some(match &view {
            Some(v) => resolve_owner(&v.root, &t.value, "--chown", t.span)?,
            None => resolve_owner(st.fs.ready(cx.services.store)?, &t.value, "--chown", t.span)?,
        }),
    };
    let chmod = c
        .chmod
        .as_ref()
        .map(|t| Chmod::parse(&t.value).map_err(|e| BuildError::step(t.span, e)))
        .transpose()?;
    let req = CopyRequest {
        add,
        sources: c.sources.iter().map(|t| t.value.clone()).collect(),
        inline: inline_files(c),
        dest: c.dest.value.clone(),
        workdir,
        owner,
        chmod,
        parents: c.parents,
        excludes: excludes(c, span)?,
        checksum: c.checksum.as_ref().map(|t| t.value.clone()),
        unpack: add && c.unpack.unwrap_or(true),
        now: cx.spec.epoch.unwrap_or(cx.spec.now),
        temp_dir: cx.services.scratch,
        url_policy: cx.spec.sandbox.url_policy(),
        http: cx.services.images.registry(),
        max_unpack: cx.spec.max_layer_size,
    };
    let dest = Dest {
        view: view.as_ref(),
        fs: &mut st.fs,
        span,
        what: ins.command.name(),
        progress,
    };
    let result = match from {
        None if c.from.is_some() => {
            // ONBUILD COPY --from=...: resolve by name now.
            return Err(BuildError::step(
                span,
                "COPY --from in an ONBUILD trigger is not supported yet",
            ));
        }
        None => copy_step(cx, &req, &cx.spec.context_tree(), dest),
        Some(Source::Stage(j)) => {
            let prev = cx.wait_stage(j, span)?;
            let label = format!("stage {}", cx.spec.plan.stages[j].label());
            match view::of(cx, &prev.layers)? {
                Some(v) => copy_step(cx, &req, &from_tree(&v.root, label), dest),
                None => {
                    let mut guard = prev.root(cx.services.store)?;
                    let src = guard.ready(cx.services.store)?;
                    copy_step(cx, &req, &from_tree(src, label), dest)
                }
            }
        }
        Some(Source::Image(name)) => {
            let label = format!("image {name}");
            let img = cx.services.images.image(&name, span)?;
            match view::of(cx, &img.layers)? {
                Some(v) => copy_step(cx, &req, &from_tree(&v.root, label), dest),
                None => {
                    let fs = cx.services.images.rootfs(&name, span)?;
                    copy_step(cx, &req, &from_tree(&fs.root, label), dest)
                }
            }
        }
    };
    result.map_err(|e| match e {
        StepError::Copy(source) => BuildError::Copy {
            what: ins.command.name().to_string(),
            span,
            source: Box::new(source),
        },
        StepError::Build(e) => e,
    })
}

/// An `--exclude` pattern that cannot be used: the pattern error, told as the flag's (its
/// own text names a .dockerignore line).
#[derive(Debug, thiserror::Error)]
#[error("pattern {}: {}", .0.line, .0.message)]
struct BadExclude(#[source] kiln_dockerfile::dockerignore::IgnoreError);

/// `--exclude` patterns as a matcher (`None`: none given).
fn excludes(c: &Copy, span: Span) -> Result<Option<Ignore>, BuildError> {
    if c.excludes.is_empty() {
        return Ok(None);
    }
    let patterns = c
        .excludes
        .iter()
        .enumerate()
        .map(|(i, t)| (i + 1, t.value.clone()))
        .collect();
    Ignore::from_patterns(patterns)
        .map(Some)
        .map_err(|e| BuildError::refused(span, "--exclude", None, BadExclude(e)))
}

/// Heredoc bodies as files (they arrive expanded by the stage walk when their delimiter
/// was unquoted).
fn inline_files(c: &Copy) -> Vec<Inline> {
    c.inline
        .iter()
        .map(|i| Inline {
            name: i.path.clone(),
            data: i.data.clone().into_bytes(),
        })
        .collect()
}

/// `--chown` / USER names as ids, from the root's /etc/passwd and /etc/group; `what` names
/// the flag or instruction in the error.
pub(crate) fn resolve_owner(
    root: &Root,
    spec: &str,
    what: &str,
    span: Span,
) -> Result<owner::Owner, BuildError> {
    let account_files = || -> Result<_, owner::OwnerError> {
        Ok((
            owner::read_account_file(root, "/etc/passwd")?,
            owner::read_account_file(root, "/etc/group")?,
        ))
    };
    let resolved = account_files()
        .and_then(|(passwd, group)| owner::resolve(spec, passwd.as_deref(), group.as_deref()));
    resolved.map_err(|e| {
        let hint =
            "use numeric ids (--chown=1000:1000) or add the user to the image's /etc/passwd first";
        BuildError::refused(span, what, Some(hint), e)
    })
}

/// A COPY step's failure: the copy itself, or storing its layer.
enum StepError {
    Copy(copy::CopyError),
    Build(BuildError),
}

/// A tree of an earlier stage or an image (owners kept, as BuildKit).
fn from_tree(root: &Root, label: String) -> SourceTree<'_> {
    SourceTree {
        root,
        ignore: None,
        label,
        keep_owners: true,
    }
}

/// Where a COPY writes: a read-only view of the layers for reading the destination (when
/// there is one), and the stage's root filesystem for copies that must go through it.
struct Dest<'a> {
    view: Option<&'a view::LayerView>,
    fs: &'a mut LazyRoot,
    /// The instruction, for a layer over `--max-layer-size`.
    span: Span,
    what: &'a str,
    /// The step's progress, told when the copying and the commit begin.
    progress: Option<&'a Step>,
}

/// Run a COPY/ADD and store its layer. Streams straight into the layer unless the step
/// unpacks an archive (that goes through the root filesystem). The flag says whether the
/// root filesystem already holds the result.
fn copy_step(
    cx: &BuildState<'_>,
    req: &CopyRequest<'_>,
    tree: &SourceTree<'_>,
    dest: Dest<'_>,
) -> Result<(LayerRef, bool), StepError> {
    let store = cx.services.store;
    if copy::needs_root(req, tree).map_err(StepError::Copy)? {
        let root = dest.fs.ready(store).map_err(StepError::Build)?;
        progress::enter(dest.progress, Phase::Run);
        let paths = copy::copy(req, tree, root).map_err(StepError::Copy)?;
        progress::enter(dest.progress, Phase::Commit);
        let info =
            layer::commit(cx, dest.span, dest.what, root, &paths).map_err(StepError::Build)?;
        return Ok((info, true));
    }
    let root = match dest.view {
        Some(v) => &v.root,
        None => dest.fs.ready(store).map_err(StepError::Build)?,
    };
    let (lw, tripwire) = layer::new_layer(cx).map_err(StepError::Build)?;
    // The copy writes the layer as it goes; the commit is what is left: hashing and
    // storing it.
    progress::enter(dest.progress, Phase::Run);
    let writer = copy::copy_to_layer(req, tree, root, lw).map_err(|e| {
        if tripwire.tripped() {
            StepError::Build(tripwire.error(cx, dest.span, dest.what, &e))
        } else {
            StepError::Copy(e)
        }
    })?;
    progress::enter(dest.progress, Phase::Commit);
    let info = layer::install(store, writer).map_err(StepError::Build)?;
    Ok((info, false))
}
