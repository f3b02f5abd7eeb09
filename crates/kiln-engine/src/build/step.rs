//! One instruction of a stage, through the step cache: its key is computed from the key
//! before it, the expanded instruction, the variables it sees and its inputs; a record
//! under that key gives its layer and history without running it.

use super::cache_key::stage_sources::{self, Paths};
use super::cache_key::{inputs, KeyBuilder};
use super::error::BuildError;
use super::layer;
use super::mounts::MountInput;
use super::progress::Step;
use super::stage::LazyRoot;
use super::state::BuildState;
use crate::config::apply::{self, StageConfigState};
use crate::config::{History, ImageConfig};
use crate::copy::url;
use kiln_dockerfile::instructions::{Command, Instruction, MountType};
use kiln_dockerfile::plan::{ExpandedStep, RefKind, Source, StageScope};
use kiln_dockerfile::Span;
use kiln_oci::{CachedLayer, Digest, LayerRef, StepRecord};

pub(crate) struct StageRun {
    pub index: usize,
    pub label: String,
    pub total: usize,
    /// `--no-cache` / `--no-cache-filter` leave this false: records are written, not read.
    pub use_cache: bool,
    /// The cache key of the last step.
    pub key: Digest,
    pub fs: LazyRoot,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    pub scope: StageScope,
    pub cfg_state: StageConfigState,
    /// Index of the instruction being run (None for ONBUILD triggers).
    pub current: Option<usize>,
    /// Where the step being run came from (the Dockerfile or an ONBUILD trigger).
    pub origin: super::entitlements::Origin,
    /// The Dockerfile line of the instruction being run.
    pub line: u32,
    /// The lines of the stage's layers and history entries so far.
    pub lines: super::lines::SourceLines,
}

/// The step being run: its instruction, as expanded, and its progress line.
#[derive(Clone, Copy)]
pub(crate) struct Current<'a> {
    pub ins: &'a Instruction,
    pub step: &'a ExpandedStep,
    pub progress: Option<&'a Step>,
}

/// What running a step made: its layer (if any) and its history line.
pub(crate) struct Made {
    pub layer: Option<LayerRef>,
    pub created_by: String,
    /// The stage's root filesystem already holds the layer.
    pub in_root: bool,
}

/// Write a step record (its layer's blob is already in the store).
pub(crate) fn put_record(
    cx: &BuildState<'_>,
    stage: usize,
    key: &Digest,
    instruction: &str,
    made: Option<&Made>,
    next_key: Option<Digest>,
) -> Result<StepRecord, BuildError> {
    let layer = made.and_then(|m| m.layer.as_ref());
    let rec = StepRecord {
        key: *key,
        blobs: layer.iter().map(|l| l.digest).collect(),
        created: cx.spec.created.clone(),
        last_used: kiln_oci::time::rfc3339(cx.spec.now.max(0) as u64),
        instruction: instruction.to_string(),
        created_by: made.map(|m| m.created_by.clone()).unwrap_or_default(),
        layer: layer.map(CachedLayer::from),
        next_key,
    };
    cx.services
        .steps
        .put(stage, &rec)
        .map_err(|e| layer::store_err(cx.services.store, e))?;
    Ok(rec)
}

impl StageRun {
    pub fn instruction(
        &mut self,
        cx: &BuildState<'_>,
        ins: &Instruction,
    ) -> Result<(), BuildError> {
        cx.check_cancelled()?;
        self.line = ins.span.start.line;
        let step = {
            let mut args = cx.args.lock().map_err(|_| BuildError::Internal {
                message: "build args are unusable after a failed stage".into(),
            })?;
            self.scope.step(ins, &cx.spec.plan.global_args, &mut args)?
        };
        let shown = matches!(
            step.command,
            Command::Copy(_) | Command::Add(_) | Command::Run(_) | Command::Workdir { .. }
        );
        let progress = shown.then(|| {
            let name = match self.current {
                Some(i) => format!(
                    "[{} {}/{}] {}",
                    self.label,
                    i + 2,
                    self.total,
                    ins.original.trim()
                ),
                None => format!("[{}] ONBUILD {}", self.label, step.command),
            };
            cx.progress.step(&self.label, name)
        });
        let cur = Current {
            ins,
            step: &step,
            progress: progress.as_ref(),
        };
        let r = self.step(cx, &cur);
        if let Some(p) = progress {
            match &r {
                Ok(true) => p.cached(),
                Ok(false) => p.done(),
                Err(e) => p.error(&e.to_string()),
            }
        }
        r.map(|_| ())
    }

    /// Run or reuse one step; true when it came from the cache.
    fn step(&mut self, cx: &BuildState<'_>, cur: &Current<'_>) -> Result<bool, BuildError> {
        let Current {
            ins,
            step,
            progress,
        } = *cur;
        let text = match &step.command {
            // The ARG's value is not part of its key: a changed value reaches the steps
            // that use it (RUN sees every ARG in its environment), as in Docker.
            Command::Arg { .. } => ins.command.to_string(),
            c => c.to_string(),
        };
        let key = self.key_for(cx, &text, step, ins.span)?;
        if let Some(key) = &key {
            if let Some(rec) = self
                .use_cache
                .then(|| cx.services.steps.lookup(self.index, key, progress))
                .flatten()
            {
                self.reuse(cx, step, &rec)?;
                cx.services.steps.touch(&rec, cx.spec.now.max(0) as u64);
                self.key = rec.next_key.unwrap_or(rec.key);
                return Ok(true);
            }
        }
        let made = self.execute(cx, cur)?;
        let (key, next) = match key {
            Some(k) => (k, None),
            // Known only now (ADD of a URL without --checksum): the step's result.
            None => {
                let mut k = KeyBuilder::new("volatile", Some(&self.key));
                k.field("instruction", text.as_bytes());
                if let Some(l) = &made.layer {
                    k.field("diff-id", l.diff_id.to_string().as_bytes());
                }
                let k = k.finish();
                (k, Some(k))
            }
        };
        // A volatile step that gave the same content as before keeps its history time.
        let rec = match next.and_then(|k| cx.services.steps.get(&k)) {
            Some(rec) => {
                cx.services.steps.note_used(self.index, &key);
                rec
            }
            None => put_record(cx, self.index, &key, &text, Some(&made), next)?,
        };
        let empty = made.layer.is_none();
        if let Some(l) = made.layer {
            self.add_layer(l, made.in_root);
        }
        self.history(cx, Some(&rec), made.created_by, empty);
        self.key = next.unwrap_or(key);
        Ok(false)
    }

    /// The key of a step, or `None` when only its result can say (ADD URL without
    /// --checksum, which is fetched again every build).
    fn key_for(
        &self,
        cx: &BuildState<'_>,
        text: &str,
        step: &ExpandedStep,
        span: Span,
    ) -> Result<Option<Digest>, BuildError> {
        let mut k = KeyBuilder::new("step", Some(&self.key));
        k.field("instruction", text.as_bytes());
        match &step.command {
            Command::Run(run) => {
                k.pairs("env", &self.scope.env.to_list());
                k.field("confinement", cx.spec.sandbox.cache_identity().as_bytes());
                // What bind mounts show is an input of the step, as in BuildKit: the context
                // files under the source, or the source stage's key or image's digest. Cache
                // mounts, secrets and ssh agents are not (BuildKit leaves them out too).
                // With --cache-mount-scope project, a step reading cache mounts read its
                // project's own: its record must not give another project a layer made
                // from caches that project cannot see (a poisoned cache would travel).
                if let super::mounts::cache::Scope::Project(p) = &cx.spec.cache_mount_scope {
                    if step.mounts.iter().any(|m| m.typ == MountType::Cache) {
                        k.field("cache-mount-project", p.as_bytes());
                    }
                }
                let sources = self.mount_sources(cx, run, &step.mounts)?;
                for (m, src) in step.mounts.iter().zip(&sources) {
                    if m.typ != MountType::Bind {
                        continue;
                    }
                    let known = match src {
                        None => {
                            let source = m.source.as_deref().unwrap_or(".");
                            let tree = cx.spec.context_tree();
                            inputs::add_mount_source(&mut k, &tree, source, &cx.services.stat)
                                .is_ok()
                        }
                        Some(src) => {
                            let path = m.source.as_deref().unwrap_or("/");
                            source_key(cx, src, "mount", &mut k, span, Paths::Mount(path))?
                        }
                    };
                    if !known {
                        // Let the mount itself report what is wrong.
                        return Ok(None);
                    }
                }
            }
            Command::Copy(c) | Command::Add(c) => {
                for i in &c.inline {
                    k.field("inline", i.path.as_bytes());
                    k.field("data", i.data.as_bytes());
                }
                let add = matches!(step.command, Command::Add(_));
                let urls = c.sources.iter().filter(|s| add && url::is_url(&s.value));
                if urls.count() > 0 && c.checksum.is_none() {
                    return Ok(None);
                }
                let local: Vec<String> = c
                    .sources
                    .iter()
                    .filter(|s| !(add && url::is_url(&s.value)))
                    .map(|s| s.value.clone())
                    .collect();
                match self.copy_source(cx) {
                    None => {
                        let tree = cx.spec.context_tree();
                        if inputs::add_context_sources(&mut k, &tree, &local, &cx.services.stat)
                            .is_err()
                        {
                            // Let the copy itself report what is wrong.
                            return Ok(None);
                        }
                    }
                    Some(src) => {
                        if !source_key(cx, &src, "from", &mut k, span, Paths::Copy(&local))? {
                            return Ok(None);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(Some(k.finish()))
    }

    /// Where each `--mount from=` of a RUN reads (a stage or an image), in the order of the
    /// mounts; `None` for mounts without `from`.
    fn mount_sources(
        &self,
        cx: &BuildState<'_>,
        run: &kiln_dockerfile::instructions::Run,
        mounts: &[kiln_dockerfile::instructions::Mount],
    ) -> Result<Vec<Option<Source>>, BuildError> {
        let mut out = Vec::new();
        for (mount, tok) in mounts.iter().zip(&run.mounts) {
            if mount.from.is_none() {
                out.push(None);
                continue;
            }
            let found = self.current.and_then(|i| {
                cx.spec.plan.stages[self.index]
                    .refs
                    .iter()
                    .find(|r| {
                        r.instruction == i && r.kind == RefKind::MountFrom && r.span == tok.span
                    })
                    .map(|r| r.source.clone())
            });
            let Some(source) = found else {
                return Err(BuildError::step(
                    tok.span,
                    "RUN --mount from= in an ONBUILD trigger is not supported yet",
                ));
            };
            out.push(Some(source));
        }
        Ok(out)
    }

    /// Where COPY of the current instruction reads from (None: the build context).
    pub(crate) fn copy_source(&self, cx: &BuildState<'_>) -> Option<Source> {
        let i = self.current?;
        cx.spec.plan.stages[self.index]
            .refs
            .iter()
            .find(|r| r.instruction == i && r.kind == RefKind::CopyFrom)
            .map(|r| r.source.clone())
    }

    /// Apply a cached step: its config change, layer and history.
    fn reuse(
        &mut self,
        cx: &BuildState<'_>,
        step: &ExpandedStep,
        rec: &StepRecord,
    ) -> Result<(), BuildError> {
        match &step.command {
            Command::Workdir { path } => {
                apply::workdir(&mut self.config, &path.value);
            }
            Command::Copy(_) | Command::Add(_) | Command::Run(_) | Command::From(_) => {}
            other => {
                self.apply_config(other)?;
            }
        }
        let layer = rec.layer.as_ref().map(LayerRef::from);
        let empty = layer.is_none();
        if let Some(l) = layer {
            self.add_layer(l, false);
        }
        if !matches!(step.command, Command::From(_)) {
            self.history(cx, Some(rec), rec.created_by.clone(), empty);
        }
        Ok(())
    }

    fn apply_config(&mut self, c: &Command) -> Result<Option<String>, BuildError> {
        apply::apply(&mut self.config, c, &mut self.cfg_state).map_err(|e| {
            let err = BuildError::step(e.span, e.message);
            match e.hint {
                Some(h) => err.with_hint(h),
                None => err,
            }
        })
    }

    /// Add a layer to the image; unless the root filesystem already holds it, it is
    /// unpacked there when a later step reads the root.
    fn add_layer(&mut self, l: LayerRef, in_root: bool) {
        if !in_root {
            self.fs.push(l.clone());
        }
        self.config.rootfs.diff_ids.push(l.diff_id.to_string());
        self.layers.push(l);
        self.lines.layer(self.line);
    }

    /// Run a step for real.
    fn execute(&mut self, cx: &BuildState<'_>, cur: &Current<'_>) -> Result<Made, BuildError> {
        let (ins, step) = (cur.ins, cur.step);
        match &step.command {
            Command::Copy(c) | Command::Add(c) => {
                let add = matches!(step.command, Command::Add(_));
                let (layer, in_root) = super::copy_step::copy(self, cx, ins, c, add, cur.progress)?;
                Ok(Made {
                    layer: Some(layer),
                    created_by: step.command.to_string(),
                    in_root,
                })
            }
            Command::Workdir { path } => self.workdir(cx, ins, &path.value, cur.progress),
            Command::Run(run) => self.run(cx, cur, run),
            Command::From(_) => Ok(Made {
                layer: None,
                created_by: String::new(),
                in_root: false,
            }),
            other => {
                let name = other.name().to_string();
                let text = self.apply_config(other)?;
                Ok(Made {
                    layer: None,
                    created_by: text.unwrap_or(name),
                    in_root: false,
                })
            }
        }
    }

    /// WORKDIR: the directory is created (owned by USER) when missing.
    fn workdir(
        &mut self,
        cx: &BuildState<'_>,
        ins: &Instruction,
        path: &str,
        progress: Option<&super::progress::Step>,
    ) -> Result<Made, BuildError> {
        let apply::Workdir { recorded, path: wd } = apply::workdir(&mut self.config, path);
        // The step looks up a few paths and writes its directories straight into the
        // layer, so it never unpacks the whole stage.
        let view = self.layer_view(cx)?;
        let owner = self.user_owner(cx, view.as_ref().map(|v| &v.root), ins.span)?;
        let root = match &view {
            Some(v) => &v.root,
            None => self.fs.ready(cx.services.store)?,
        };
        let dirs = crate::copy::NewDirs {
            mode: 0o755,
            owner,
            mtime: cx.spec.epoch.unwrap_or(cx.spec.now),
        };
        let (lw, tripwire) = layer::new_layer(cx)?;
        super::progress::enter(progress, super::progress::Phase::Commit);
        let written = crate::copy::mkdir_to_layer(root, &wd, &dirs, lw).map_err(|e| {
            if tripwire.tripped() {
                tripwire.error(cx, ins.span, "WORKDIR", &e)
            } else {
                BuildError::refused(ins.span, format!("cannot create WORKDIR {wd}"), None, e)
            }
        })?;
        let layer = match written {
            Some(w) => Some(layer::install(cx.services.store, w)?),
            None => None,
        };
        Ok(Made {
            layer,
            created_by: format!("WORKDIR {recorded}"),
            in_root: false,
        })
    }

    /// RUN: its mounts' sources held available, then the step in the sandbox.
    fn run(
        &mut self,
        cx: &BuildState<'_>,
        cur: &Current<'_>,
        run: &kiln_dockerfile::instructions::Run,
    ) -> Result<Made, BuildError> {
        let (ins, step, progress) = (cur.ins, cur.step, cur.progress);
        // Counted as the progress display counts (FROM is step 1).
        let label = match self.current {
            Some(i) => format!("RUN [{} {}/{}]", self.label, i + 2, self.total),
            None => format!("ONBUILD RUN [{}]", self.label),
        };
        let command = super::run_command::run_command(&self.config, &run.command)?;
        let sources = self.mount_sources(cx, run, &step.mounts)?;
        // Every stage read first: holding one stage's root while waiting for another
        // that copies from it would deadlock.
        for (source, tok) in sources.iter().zip(&run.mounts) {
            if let Some(Source::Stage(j)) = source {
                cx.wait_stage(*j, tok.span)?;
            }
        }
        let mut held = Vec::with_capacity(sources.len());
        for (source, tok) in sources.iter().zip(&run.mounts) {
            held.push(match source {
                Some(s) => Some(super::mount_from::hold(cx, s, tok.span)?),
                None => None,
            });
        }
        let mut roots = Vec::with_capacity(held.len());
        for h in held.iter_mut() {
            roots.push(match h {
                Some((h, label)) => Some((h.root(cx.services.store)?, label.clone())),
                None => None,
            });
        }
        let mounts = step
            .mounts
            .iter()
            .zip(&run.mounts)
            .zip(roots)
            .map(|((mount, tok), from)| MountInput {
                mount,
                span: tok.span,
                from,
            })
            .collect();
        let info = super::run::run_step(
            cx,
            &super::run::RunInput {
                run,
                command: &command,
                span: ins.span,
                config: &self.config,
                env: &self.scope.env.to_list(),
                layers: &self.layers,
                label,
                progress,
                mounts,
                origin: &self.origin,
                stage: self.index,
            },
        )?;
        Ok(Made {
            layer: Some(info),
            created_by: command.history(),
            in_root: false,
        })
    }

    /// A read-only view of the stage's layers, for a step that only reads the stage and
    /// writes its layer straight to the store (COPY, WORKDIR); `None` when the stage's
    /// root is up to date (read that) or there is no view to make.
    pub(crate) fn layer_view(
        &self,
        cx: &BuildState<'_>,
    ) -> Result<Option<super::view::LayerView>, BuildError> {
        if self.fs.is_ready() {
            return Ok(None);
        }
        super::view::of(cx, &self.layers)
    }

    /// The owner for directories WORKDIR creates: the current USER.
    /// The accounts are read from `view` when given, else from the stage's root.
    fn user_owner(
        &mut self,
        cx: &BuildState<'_>,
        view: Option<&kiln_layer::Root>,
        span: Span,
    ) -> Result<(u32, u32), BuildError> {
        let user = self.config.config.user.clone();
        if user.is_empty() {
            return Ok((0, 0));
        }
        let root = match view {
            Some(r) => r,
            None => self.fs.ready(cx.services.store)?,
        };
        let o = super::copy_step::resolve_owner(root, &user, &format!("USER {user}"), span)?;
        Ok((o.uid, o.gid))
    }

    /// A history entry; its time comes from the step's record (the time the step first
    /// ran), so a cached rebuild gives the same image, or from SOURCE_DATE_EPOCH.
    fn history(
        &mut self,
        cx: &BuildState<'_>,
        rec: Option<&StepRecord>,
        created_by: String,
        empty: bool,
    ) {
        if created_by.is_empty() {
            return;
        }
        let created = match (cx.spec.epoch, rec) {
            (None, Some(r)) => r.created.clone(),
            _ => cx.spec.created.clone(),
        };
        self.config.history.push(History {
            created: Some(created),
            created_by: Some(created_by),
            author: None,
            comment: Some("kiln".into()),
            empty_layer: empty,
        });
        self.lines.history(self.line);
    }
}

/// Add what the paths `srcs` of a stage or image source are a function of to a key:
/// their content in the stage (which may still be running: this waits for it), the
/// image's manifest digest. False when the stage's paths cannot be read.
fn source_key(
    cx: &BuildState<'_>,
    source: &Source,
    what: &str,
    k: &mut KeyBuilder,
    span: Span,
    srcs: Paths<'_>,
) -> Result<bool, BuildError> {
    match source {
        Source::Stage(j) => {
            let prev = cx.wait_stage(*j, span)?;
            stage_sources::add_stage_sources(cx, k, what, prev, srcs)
        }
        Source::Image(name) => {
            let img = cx.services.images.resolve(name, span)?;
            k.field(
                &format!("{what}-image"),
                img.manifest.to_string().as_bytes(),
            );
            Ok(true)
        }
    }
}
