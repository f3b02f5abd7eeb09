//! The state of one build, in three parts: what is fixed for it ([`BuildSpec`]), the
//! services its steps use ([`Services`]), and what changes as it runs (progress, build
//! argument use, finished stages). Shared by the threads of parallel stages.

use super::base::Resolve;
use super::error::BuildError;
use super::mounts;
use super::options::SandboxOptions;
use super::progress::Progress;
use super::run::StorageDriver;
use super::services::Services;
use super::stage::StageResult;
use crate::context::Context;
use crate::copy::sources::SourceTree;
use kiln_dockerfile::plan::{BuildArgs, Plan, PlannedStage};
use kiln_dockerfile::Span;
use std::sync::{Condvar, Mutex, OnceLock};

/// What is fixed for the whole build: the plan, the options that shape every step, and the
/// build's clock.
pub(crate) struct BuildSpec<'a> {
    pub plan: &'a Plan,
    /// The Dockerfile's name, for messages about steps that did not come from one of its
    /// lines (`Dockerfile:12`).
    pub dockerfile: &'a str,
    /// The build context: the files sent to the build.
    pub context: &'a Context,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: Option<i64>,
    /// When the build started (seconds since the epoch).
    pub now: i64,
    /// RFC 3339 creation time written into the config and history.
    pub created: String,
    /// How RUN steps get their filesystem.
    pub storage_driver: StorageDriver,
    /// `--max-layer-size`: most uncompressed bytes of one step's layer (`None`: no limit).
    pub max_layer_size: Option<u64>,
    /// `--cache-mount-scope`.
    pub cache_mount_scope: mounts::cache::Scope,
    /// Confinement of RUN steps beyond Docker's defaults.
    pub sandbox: SandboxOptions,
    pub cache: CachePolicy,
    /// Values of `--secret`s, by id.
    pub secrets: mounts::secrets::Secrets,
    /// `--ssh` agents.
    pub ssh: Vec<mounts::secrets::SshSpec>,
    /// What ends a RUN step early: `--timeout`, the build's cancellation flag.
    pub control: kiln_sandbox::RunControl,
}

impl BuildSpec<'_> {
    /// The build context as COPY reads it (`.dockerignore` applied, owners not kept).
    pub fn context_tree(&self) -> SourceTree<'_> {
        SourceTree {
            root: &self.context.root,
            ignore: Some(&self.context.ignore),
            label: "the build context".into(),
            keep_owners: false,
        }
    }

    /// Stop here when the build was cancelled.
    pub fn check_cancelled(&self) -> Result<(), BuildError> {
        match self.control.cancel.as_ref().and_then(|c| c.cancelled()) {
            Some(why) => Err(BuildError::Cancelled { why }),
            None => Ok(()),
        }
    }
}

/// How the step cache is used in one build.
#[derive(Debug, Clone, Default)]
pub(crate) struct CachePolicy {
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub resolve: Resolve,
}

impl CachePolicy {
    /// May steps of this stage come from the cache?
    pub fn usable(&self, s: &PlannedStage) -> bool {
        if self.no_cache {
            return false;
        }
        !self.no_cache_filter.iter().any(|f| {
            s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(f))
                || *f == s.index.to_string()
        })
    }
}

/// One build in progress.
pub(crate) struct BuildState<'a> {
    pub spec: BuildSpec<'a>,
    pub services: Services<'a>,
    /// Where progress events go.
    pub progress: Progress,
    /// Build argument values, and which of them an ARG used.
    pub args: Mutex<BuildArgs>,
    /// The results of finished stages, by stage index.
    stages: Vec<OnceLock<StageResult>>,
    /// Which stages ended (true: finished, false: failed), told to the steps that wait
    /// for a stage they read from.
    ended: Mutex<Vec<Option<bool>>>,
    ended_changed: Condvar,
}

impl<'a> BuildState<'a> {
    pub fn new(
        spec: BuildSpec<'a>,
        services: Services<'a>,
        progress: Progress,
        args: BuildArgs,
    ) -> Self {
        let stages = (0..spec.plan.stages.len())
            .map(|_| OnceLock::new())
            .collect();
        let count = spec.plan.stages.len();
        BuildState {
            spec,
            services,
            progress,
            args: Mutex::new(args),
            stages,
            ended: Mutex::new(vec![None; count]),
            ended_changed: Condvar::new(),
        }
    }

    /// The result of stage `index`, once it finished.
    pub fn stage(&self, index: usize) -> Option<&StageResult> {
        self.stages.get(index).and_then(|s| s.get())
    }

    /// Record that stage `index` finished (a second result for it is ignored).
    pub fn finish_stage(&self, index: usize, result: StageResult) {
        if let Some(s) = self.stages.get(index) {
            let _ = s.set(result);
        }
        self.end_stage(index, true);
    }

    /// Record that stage `index` failed: the steps waiting for it stop.
    pub fn fail_stage(&self, index: usize) {
        self.end_stage(index, false);
    }

    fn end_stage(&self, index: usize, finished: bool) {
        // The first word stands: a stage that finished is not failed by its guard.
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = ended.get_mut(index) {
            e.get_or_insert(finished);
        }
        self.ended_changed.notify_all();
    }

    /// The result of stage `index`, which a step at `span` reads from (`COPY --from`,
    /// `RUN --mount from=`): the scheduler started that stage, maybe still running, so
    /// this waits for it to end. An error when it failed (its own error is the build's).
    pub fn wait_stage(&self, index: usize, span: Span) -> Result<&StageResult, BuildError> {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match ended.get(index).copied().flatten() {
                Some(true) => break,
                Some(false) => {
                    let stage = self.spec.plan.stages[index].label();
                    return Err(BuildError::SourceFailed { stage, span });
                }
                None if index >= self.stages.len() => break,
                None => {
                    // The source stage's steps stop on cancellation; this check is for
                    // a stage stuck elsewhere.
                    self.check_cancelled()?;
                    ended = self
                        .ended_changed
                        .wait_timeout(ended, std::time::Duration::from_millis(200))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        drop(ended);
        self.stage(index).ok_or_else(|| BuildError::Internal {
            message: format!("stage {index} ended without a result"),
        })
    }

    /// Stop here when the build was cancelled.
    pub fn check_cancelled(&self) -> Result<(), BuildError> {
        self.spec.check_cancelled()
    }
}

/// Fails stage `index` when dropped, unless it finished first: the steps waiting for it
/// (`wait_stage`) stop even when the stage's thread panics.
pub(crate) struct EndsStage<'s, 'a> {
    pub cx: &'s BuildState<'a>,
    pub index: usize,
}

impl Drop for EndsStage<'_, '_> {
    fn drop(&mut self) {
        self.cx.fail_stage(self.index);
    }
}
