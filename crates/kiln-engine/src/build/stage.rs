//! Running one stage: its base, ONBUILD triggers, then each instruction in turn (see
//! `step.rs`). The root filesystem is materialised lazily: a fully cached stage never
//! unpacks a layer.

use super::base::{self, BaseImage, Rootfs};
use super::cache_key::KeyBuilder;
use super::entitlements::{Origin, TriggerSource};
use super::error::BuildError;
use super::progress::Phase;
use super::state::BuildState;
use crate::config::apply::StageConfigState;
use crate::config::ImageConfig;
use kiln_dockerfile::instructions::{self, Command, Instruction};
use kiln_dockerfile::plan::{Base, EnvList, Plan, StageScope};
use kiln_dockerfile::{syntax, Span};
use kiln_layer::Root;
use kiln_oci::{Digest, LayerRef, Store};
use std::sync::{Mutex, MutexGuard};

/// A root filesystem and the layers not yet unpacked into it.
#[derive(Debug)]
pub struct LazyRoot {
    rootfs: Rootfs,
    pending: Vec<LayerRef>,
}

impl LazyRoot {
    pub fn new(rootfs: Rootfs, pending: Vec<LayerRef>) -> LazyRoot {
        LazyRoot { rootfs, pending }
    }

    /// Layers to unpack before the root is next read.
    pub fn push(&mut self, layer: LayerRef) {
        self.pending.push(layer);
    }

    /// Is every layer so far unpacked in the root?
    pub fn is_ready(&self) -> bool {
        self.pending.is_empty()
    }

    /// The root, with every layer so far unpacked.
    pub fn ready(&mut self, store: &Store) -> Result<&Root, BuildError> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.rootfs.unpack(store, &pending)?;
        }
        Ok(&self.rootfs.root)
    }
}

/// What a finished stage leaves for later stages and the image.
#[derive(Debug)]
pub struct StageResult {
    root: Mutex<LazyRoot>,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    /// Variables in force at the end (ARG and ENV values), inherited by stages built on it.
    pub env: EnvList,
    /// The cache key of the stage's last step: what the stage's content is a function of.
    pub key: Digest,
    /// How many of `layers` come from the base image (through earlier stages): what
    /// `--squash` keeps.
    pub base_layers: usize,
    /// The Dockerfile lines of `layers` and of the config's history.
    pub lines: super::lines::SourceLines,
}

impl StageResult {
    /// The stage's root filesystem (unpacked on first use), for `COPY --from`.
    pub fn root(&self, store: &Store) -> Result<MutexGuard<'_, LazyRoot>, BuildError> {
        let mut g = self.root.lock().map_err(|_| BuildError::Internal {
            message: "a stage's root filesystem is unusable after a failed step".into(),
        })?;
        g.ready(store)?;
        Ok(g)
    }
}

/// Run stage `index` of the plan (the stages it needs are finished).
pub fn run(cx: &BuildState<'_>, index: usize) -> Result<StageResult, BuildError> {
    let plan = cx.spec.plan;
    let stage = &plan.dockerfile.stages[index];
    let planned = &plan.stages[index];
    let label = label(planned);
    let total = stage.instructions.len() + 1;
    let from_step = cx.progress.step(
        &label,
        format!("[{label} 1/{total}] FROM {}", describe(&planned.base, plan)),
    );
    let use_cache = cx.spec.cache.usable(planned);
    let mut key = KeyBuilder::new("base", None);
    key.field("platform", plan.target_platform.to_string().as_bytes());
    if let Some(e) = cx.spec.epoch {
        key.field("source-date-epoch", e.to_string().as_bytes());
    }
    let (mut base, mut inherited_env) = start(cx, index, &mut key, &from_step)?;
    let base_key = key.finish();
    let base_layers = match &planned.base {
        Base::Stage(j) => cx.stage(*j).map_or(0, |s| s.base_layers),
        _ => base.layers.len(),
    };
    let cached = use_cache
        && cx
            .services
            .steps
            .lookup(index, &base_key, Some(&from_step))
            .is_some();
    if !cached {
        super::step::put_record(cx, index, &base_key, "FROM", None, None)?;
    }
    ensure_path(&mut base.config, &mut inherited_env);
    let rootfs = Rootfs::new(cx.services.scratch)?;
    let BaseImage {
        mut config, layers, ..
    } = base;
    let lines = match &planned.base {
        Base::Stage(j) => cx.stage(*j).map(|s| s.lines.clone()).unwrap_or_default(),
        _ => super::lines::SourceLines::base(
            layers.len(),
            config.history.len(),
            stage.from_span.start.line,
        ),
    };
    let mut st = super::step::StageRun {
        index,
        label,
        total,
        use_cache,
        key: base_key,
        fs: LazyRoot::new(rootfs, layers.clone()),
        layers,
        scope: StageScope::new(inherited_env, plan.dockerfile.escape),
        cfg_state: StageConfigState::default(),
        config: ImageConfig::default(),
        current: None,
        origin: Origin::Dockerfile,
        line: stage.from_span.start.line,
        lines,
    };
    if cached {
        from_step.cached();
    } else {
        from_step.done();
    }
    // ONBUILD triggers of the base run first, and are not passed on.
    let triggers = std::mem::take(&mut config.config.on_build);
    st.config = config;
    for (k, trigger) in triggers.iter().enumerate() {
        let ins = parse_trigger(trigger, stage.from_span)?;
        st.origin = Origin::Trigger {
            text: trigger.clone(),
            declared: trigger_source(plan, &planned.base, k, trigger),
            from_line: stage.from_span.start.line,
        };
        st.instruction(cx, &ins)?;
    }
    st.origin = Origin::Dockerfile;
    for (i, ins) in stage.instructions.iter().enumerate() {
        st.current = Some(i);
        st.instruction(cx, ins)?;
    }
    Ok(StageResult {
        root: Mutex::new(st.fs),
        config: st.config,
        layers: st.layers,
        env: st.scope.env.to_list(),
        key: st.key,
        base_layers,
        lines: st.lines,
    })
}

/// Where stage `index` starts: its base image's config and layers (or scratch's, or an
/// earlier stage's) and the variables it inherits; what the base is goes into `key`.
fn start(
    cx: &BuildState<'_>,
    index: usize,
    key: &mut KeyBuilder,
    from_step: &super::progress::Step,
) -> Result<(BaseImage, EnvList), BuildError> {
    let plan = cx.spec.plan;
    let stage = &plan.dockerfile.stages[index];
    let planned = &plan.stages[index];
    Ok(match &planned.base {
        Base::Scratch => {
            key.field("scratch", b"");
            (base::scratch(&plan.target_platform), Vec::new())
        }
        Base::Image(name) => {
            // Resolving the name, pulling the image when the store lacks it.
            from_step.enter(Phase::Transfer);
            let b = cx.services.images.image(name, stage.from.base.span)?;
            from_step.enter(Phase::Prepare);
            if let Some(m) = &b.manifest {
                key.field("image", m.to_string().as_bytes());
                if cx.spec.cache.resolve == base::Resolve::Pull {
                    from_step.log(&format!("resolved {name} to {m}"));
                }
            }
            let env = b.config.env_pairs();
            (b, env)
        }
        Base::Stage(j) => {
            let prev = cx.stage(*j).ok_or_else(|| {
                BuildError::step(
                    stage.from_span,
                    format!("stage {j} was not built before stage {index}"),
                )
            })?;
            key.field("stage", prev.key.to_string().as_bytes());
            (base::from_stage(prev), prev.env.clone())
        }
    })
}

/// Like BuildKit, make sure every stage has PATH: appended to the base's Env when it has
/// none, so it is in the image config and visible to expansion.
fn ensure_path(config: &mut ImageConfig, env: &mut EnvList) {
    if config.env_pairs().iter().any(|(k, _)| k == "PATH") {
        return;
    }
    config.set_env("PATH", kiln_sandbox::DEFAULT_PATH);
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), kiln_sandbox::DEFAULT_PATH.into()));
    }
}

/// The stage as progress shows it: its name, or `stage-N` (as BuildKit).
pub fn label(s: &kiln_dockerfile::plan::PlannedStage) -> String {
    s.name
        .clone()
        .unwrap_or_else(|| format!("stage-{}", s.index))
}

fn describe(b: &Base, plan: &kiln_dockerfile::plan::Plan) -> String {
    match b {
        Base::Scratch => "scratch".into(),
        Base::Image(i) => i.clone(),
        Base::Stage(j) => plan.stages[*j].label(),
    }
}

/// Who declared the `k`th ONBUILD trigger of a stage's base: the base image, or the
/// `k`th ONBUILD instruction of the earlier stage (a stage's triggers are its own ONBUILD
/// instructions: those of its base ran and were not passed on).
fn trigger_source(plan: &Plan, base: &Base, k: usize, text: &str) -> TriggerSource {
    match base {
        Base::Stage(j) => {
            let line = plan.dockerfile.stages[*j]
                .instructions
                .iter()
                .filter_map(|ins| match &ins.command {
                    Command::Onbuild { expression, .. } => Some((expression, ins.span)),
                    _ => None,
                })
                .nth(k)
                .filter(|(expression, _)| expression.trim() == text.trim())
                .map(|(_, span)| span.start.line);
            TriggerSource::Stage {
                name: plan.stages[*j].label(),
                line,
            }
        }
        Base::Image(name) => TriggerSource::Image(name.clone()),
        Base::Scratch => TriggerSource::Image("scratch".into()),
    }
}

/// An ONBUILD trigger as an instruction (located at the stage's FROM).
fn parse_trigger(text: &str, at: Span) -> Result<Instruction, BuildError> {
    let located = |e: kiln_dockerfile::Error| {
        BuildError::step(
            at,
            format!("ONBUILD trigger {text:?} of the base image: {}", e.message),
        )
    };
    let ast = syntax::parse(text).map_err(located)?;
    let [node] = ast.nodes.as_slice() else {
        return Err(BuildError::step(
            at,
            format!("ONBUILD trigger {text:?} must be one instruction"),
        ));
    };
    let mut ins = instructions::parse_instruction(node).map_err(located)?;
    if matches!(ins.command, Command::From(_) | Command::Onbuild { .. }) {
        return Err(BuildError::step(
            at,
            format!("{} isn't allowed as an ONBUILD trigger", ins.command.name()),
        ));
    }
    ins.span = at;
    Ok(ins)
}
