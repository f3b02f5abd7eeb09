//! Running one stage: its base, ONBUILD triggers, then each instruction in turn.

use super::base::{self, BaseImage, Rootfs};
use super::layer;
use super::{BuildContext, BuildError};
use crate::config::apply::{self, StageConfigState};
use crate::config::{History, ImageConfig};
use crate::context::dockerignore::Ignore;
use crate::copy::{self, chmod::Chmod, owner, sources::SourceTree, CopyRequest, Inline};
use kiln_dockerfile::instructions::{self, Command, Copy, Instruction};
use kiln_dockerfile::plan::{Base, EnvList, Source, StageScope};
use kiln_dockerfile::{syntax, Span};
use kiln_oci::LayerRef;
use std::io::Read;

/// What a finished stage leaves for later stages and the image.
#[derive(Debug)]
pub struct StageResult {
    pub rootfs: Rootfs,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    /// Variables in force at the end (ARG and ENV values), inherited by stages built on it.
    pub env: EnvList,
}

/// Run stage `index` of the plan.
pub fn run(
    cx: &mut BuildContext<'_>,
    index: usize,
    done: &[Option<StageResult>],
) -> Result<StageResult, BuildError> {
    let plan = cx.plan;
    let stage = &plan.dockerfile.stages[index];
    let planned = &plan.stages[index];
    let (mut base, mut inherited_env) = match &planned.base {
        Base::Scratch => (base::scratch(&plan.target_platform), Vec::new()),
        Base::Image(name) => {
            let b = base::image(
                cx.store,
                cx.registry.as_ref(),
                name,
                stage.from.base.span,
                &plan.target_platform,
            )?;
            let env = b.config.env_pairs();
            (b, env)
        }
        Base::Stage(j) => {
            let prev = done[*j].as_ref().ok_or_else(|| {
                BuildError::step(
                    stage.from_span,
                    format!("stage {j} was not built before stage {index}"),
                )
            })?;
            (base::from_stage(prev), prev.env.clone())
        }
    };
    ensure_path(&mut base.config, &mut inherited_env);
    cx.progress(&format!(
        "[{}] FROM {}",
        label(planned),
        describe(&planned.base, plan)
    ));
    let rootfs = Rootfs::new(cx.scratch)?;
    rootfs.unpack(cx.store, &base.layers)?;
    let BaseImage { mut config, layers } = base;
    let mut st = StageRun {
        index,
        rootfs,
        layers,
        scope: StageScope::new(inherited_env, plan.dockerfile.escape),
        cfg_state: StageConfigState::default(),
        config: ImageConfig::default(),
        current: None,
        pending: Vec::new(),
    };
    // ONBUILD triggers of the base run first, and are not passed on.
    let triggers = std::mem::take(&mut config.config.on_build);
    st.config = config;
    for trigger in triggers {
        let ins = parse_trigger(&trigger, stage.from_span)?;
        st.instruction(cx, &ins, done)?;
    }
    let total = stage.instructions.len();
    for (i, ins) in stage.instructions.iter().enumerate() {
        cx.progress(&format!(
            "[{} {}/{}] {}",
            label(planned),
            i + 1,
            total,
            ins.original.trim()
        ));
        st.current = Some(i);
        st.instruction(cx, ins, done)?;
    }
    // A later stage that copies or mounts from this one reads its root filesystem.
    let read_later = plan
        .stages
        .iter()
        .any(|s| s.refs.iter().any(|r| r.source == Source::Stage(index)));
    if read_later {
        st.flush(cx)?;
    }
    Ok(StageResult {
        rootfs: st.rootfs,
        config: st.config,
        layers: st.layers,
        env: st.scope.env,
    })
}

/// PATH for stages whose base sets none (BuildKit's `system.DefaultPathEnv` on Linux).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Like BuildKit, make sure every stage has PATH: appended to the base's Env when it has
/// none, so it is in the image config and visible to expansion.
fn ensure_path(config: &mut ImageConfig, env: &mut EnvList) {
    if config.env_pairs().iter().any(|(k, _)| k == "PATH") {
        return;
    }
    config.set_env("PATH", DEFAULT_PATH);
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
}

fn label(s: &kiln_dockerfile::plan::PlannedStage) -> String {
    s.name
        .clone()
        .unwrap_or_else(|| format!("stage {}", s.index))
}

fn describe(b: &Base, plan: &kiln_dockerfile::plan::Plan) -> String {
    match b {
        Base::Scratch => "scratch".into(),
        Base::Image(i) => i.clone(),
        Base::Stage(j) => plan.stages[*j].label(),
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

struct StageRun {
    index: usize,
    rootfs: Rootfs,
    config: ImageConfig,
    layers: Vec<LayerRef>,
    scope: StageScope,
    cfg_state: StageConfigState,
    /// Index of the instruction being run (None for ONBUILD triggers).
    current: Option<usize>,
    /// Layers written straight to the store and not yet unpacked into `rootfs`.
    pending: Vec<LayerRef>,
}

impl StageRun {
    fn instruction(
        &mut self,
        cx: &mut BuildContext<'_>,
        ins: &Instruction,
        done: &[Option<StageResult>],
    ) -> Result<(), BuildError> {
        let step = self
            .scope
            .step(ins, &cx.plan.global_args, &mut cx.build_args)?;
        let created_by = ins.command.name();
        match &step.command {
            Command::Copy(c) | Command::Add(c) => {
                let add = matches!(step.command, Command::Add(_));
                self.flush(cx)?;
                let (info, root_updated) = self.copy(cx, ins, c, add, done)?;
                if !root_updated {
                    self.pending.push(info.clone());
                }
                self.config.rootfs.diff_ids.push(info.diff_id.to_string());
                self.layers.push(info);
                self.history(cx, step.command.to_string(), false);
            }
            Command::Workdir { path } => {
                self.flush(cx)?;
                let wd = apply::workdir(&mut self.config, &path.value);
                let owner = self.user_owner(ins.span)?;
                let created = self
                    .rootfs
                    .root
                    .mkdir_all(&wd, 0o755, Some(owner))
                    .map_err(|e| {
                        BuildError::step(ins.span, format!("cannot create WORKDIR {wd}: {e}"))
                    })?;
                let paths: Vec<String> = created
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                if paths.is_empty() {
                    self.history(cx, format!("WORKDIR {wd}"), true);
                } else {
                    self.commit(cx, &paths, format!("WORKDIR {wd}"))?;
                }
            }
            Command::Run(run) => {
                let label = format!(
                    "RUN at step {}",
                    self.current
                        .map_or_else(|| "ONBUILD".to_string(), |i| (i + 1).to_string())
                );
                let command = super::run_command::run_command(&self.config, &run.command)?;
                let info = super::run::run_step(
                    cx,
                    &super::run::RunInput {
                        run,
                        command: &command,
                        span: ins.span,
                        config: &self.config,
                        env: &self.scope.env,
                        layers: &self.layers,
                        label,
                    },
                )?;
                self.pending.push(info.clone());
                self.config.rootfs.diff_ids.push(info.diff_id.to_string());
                self.layers.push(info);
                self.history(cx, command.history(), false);
            }
            Command::From(_) => {}
            other => {
                let text =
                    apply::apply(&mut self.config, other, &mut self.cfg_state).map_err(|e| {
                        let err = BuildError::step(e.span, e.message);
                        match e.hint {
                            Some(h) => err.with_hint(h),
                            None => err,
                        }
                    })?;
                self.history(cx, text.unwrap_or_else(|| created_by.to_string()), true);
            }
        }
        Ok(())
    }

    fn history(&mut self, cx: &BuildContext<'_>, created_by: String, empty: bool) {
        self.config.history.push(History {
            created: Some(cx.created.clone()),
            created_by: Some(created_by),
            author: None,
            comment: Some("kiln".into()),
            empty_layer: empty,
        });
    }

    /// Bring the root filesystem up to date with the layers COPY wrote straight to the
    /// store (it is only read by later steps, so this waits until one needs it).
    fn flush(&mut self, cx: &BuildContext<'_>) -> Result<(), BuildError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.rootfs.unpack(cx.store, &pending)
    }

    fn commit(
        &mut self,
        cx: &mut BuildContext<'_>,
        paths: &[String],
        created_by: String,
    ) -> Result<(), BuildError> {
        let info = layer::commit(cx.store, &self.rootfs.root, paths, cx.epoch)?;
        self.config.rootfs.diff_ids.push(info.diff_id.to_string());
        self.layers.push(info);
        self.history(cx, created_by, false);
        Ok(())
    }

    /// The owner for directories WORKDIR creates: the current USER.
    fn user_owner(&self, span: Span) -> Result<(u32, u32), BuildError> {
        let user = self.config.config.user.clone();
        if user.is_empty() {
            return Ok((0, 0));
        }
        let o = self.resolve_owner(&user, span)?;
        Ok((o.uid, o.gid))
    }

    fn resolve_owner(&self, spec: &str, span: Span) -> Result<owner::Owner, BuildError> {
        let read = |p: &str| -> Option<String> {
            let mut f = self.rootfs.root.open_file(p).ok()?;
            let mut s = String::new();
            f.read_to_string(&mut s).ok()?;
            Some(s)
        };
        let passwd = read("/etc/passwd");
        let group = read("/etc/group");
        owner::resolve(spec, passwd.as_deref(), group.as_deref())
            .map_err(|e| BuildError::step(span, e.to_string()).with_hint("use numeric ids (--chown=1000:1000) or add the user to the image's /etc/passwd first"))
    }

    fn copy(
        &mut self,
        cx: &mut BuildContext<'_>,
        ins: &Instruction,
        c: &Copy,
        add: bool,
        done: &[Option<StageResult>],
    ) -> Result<(LayerRef, bool), BuildError> {
        let span = ins.span;
        let owner = c
            .chown
            .as_ref()
            .map(|t| self.resolve_owner(&t.value, t.span))
            .transpose()?;
        let chmod = c
            .chmod
            .as_ref()
            .map(|t| Chmod::parse(&t.value).map_err(|e| BuildError::step(t.span, e)))
            .transpose()?;
        let excludes = if c.excludes.is_empty() {
            None
        } else {
            Some(
                Ignore::from_patterns(
                    c.excludes
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (i + 1, t.value.clone()))
                        .collect(),
                )
                .map_err(|e| BuildError::step(span, format!("--exclude: {}", e.message)))?,
            )
        };
        // Heredoc bodies arrive expanded by the stage walk when their delimiter was unquoted.
        let inline = c
            .inline
            .iter()
            .map(|i| Inline {
                name: i.path.clone(),
                data: i.data.clone().into_bytes(),
            })
            .collect();
        let req = CopyRequest {
            add,
            sources: c.sources.iter().map(|t| t.value.clone()).collect(),
            inline,
            dest: c.dest.value.clone(),
            workdir: self.config.config.working_dir.clone(),
            owner,
            chmod,
            parents: c.parents,
            excludes,
            checksum: c.checksum.as_ref().map(|t| t.value.clone()),
            unpack: add && c.unpack.unwrap_or(true),
            now: cx.epoch.unwrap_or(cx.now),
            temp_dir: cx.scratch,
        };
        // Where the sources come from: --from (a stage or an image) or the build context.
        let from = self.current.and_then(|i| {
            cx.plan.stages[self.index]
                .refs
                .iter()
                .find(|r| r.instruction == i && r.kind == kiln_dockerfile::plan::RefKind::CopyFrom)
                .map(|r| r.source.clone())
        });
        let result = match from {
            None if c.from.is_some() => {
                // ONBUILD COPY --from=...: resolve by name now.
                return Err(BuildError::step(
                    span,
                    "COPY --from in an ONBUILD trigger is not supported yet",
                ));
            }
            None => {
                let tree = SourceTree {
                    root: &cx.context.root,
                    ignore: Some(&cx.context.ignore),
                    label: "the build context".into(),
                    keep_owners: false,
                };
                copy_step(cx, &req, &tree, &self.rootfs.root)
            }
            Some(Source::Stage(j)) => {
                let prev = done[j]
                    .as_ref()
                    .ok_or_else(|| BuildError::step(span, format!("stage {j} was not built")))?;
                let tree = SourceTree {
                    root: &prev.rootfs.root,
                    ignore: None,
                    label: format!("stage {}", cx.plan.stages[j].label()),
                    keep_owners: true,
                };
                copy_step(cx, &req, &tree, &self.rootfs.root)
            }
            Some(Source::Image(name)) => {
                let store = cx.store;
                let epoch = cx.epoch;
                let img = cx.image_rootfs(&name, span)?;
                let tree = SourceTree {
                    root: &img.root,
                    ignore: None,
                    label: format!("image {name}"),
                    keep_owners: true,
                };
                copy_step_in(store, epoch, &req, &tree, &self.rootfs.root)
            }
        };
        result.map_err(|e| match e {
            StepError::Copy(e) => {
                let hint = e.hint();
                let err = BuildError::step(span, format!("{} failed: {e}", ins.command.name()));
                match hint {
                    Some(h) => err.with_hint(h),
                    None => err,
                }
            }
            StepError::Build(e) => e,
        })
    }
}

/// A COPY step's failure: the copy itself, or storing its layer.
enum StepError {
    Copy(copy::CopyError),
    Build(BuildError),
}

fn copy_step(
    cx: &BuildContext<'_>,
    req: &CopyRequest<'_>,
    tree: &SourceTree<'_>,
    root: &kiln_layer::Root,
) -> Result<(LayerRef, bool), StepError> {
    copy_step_in(cx.store, cx.epoch, req, tree, root)
}

/// Run a COPY/ADD and store its layer. Streams straight into the layer unless the step
/// unpacks an archive (that goes through the root filesystem). The flag says whether the
/// root filesystem already holds the result.
fn copy_step_in(
    store: &kiln_oci::Store,
    epoch: Option<i64>,
    req: &CopyRequest<'_>,
    tree: &SourceTree<'_>,
    root: &kiln_layer::Root,
) -> Result<(LayerRef, bool), StepError> {
    if copy::needs_root(req, tree).map_err(StepError::Copy)? {
        let paths = copy::copy(req, tree, root).map_err(StepError::Copy)?;
        let info = layer::commit(store, root, &paths, epoch).map_err(StepError::Build)?;
        return Ok((info, true));
    }
    let writer = store
        .blob_writer()
        .map_err(|e| StepError::Build(layer::store_err(store, e)))?;
    let lw = kiln_layer::LayerWriter::new(writer, kiln_layer::TarOptions { epoch });
    let writer = copy::copy_to_layer(req, tree, root, lw).map_err(StepError::Copy)?;
    let (digest, size) = writer
        .commit(None)
        .map_err(|e| StepError::Build(layer::store_err(store, e)))?;
    Ok((LayerRef::uncompressed(digest, size), false))
}
