//! `RUN --mount`: what each mount of a step becomes for the sandbox (a bind of a
//! cache directory, a secret file on a private tmpfs, an SSH agent socket, a
//! bind of the context / a stage / an image, a tmpfs), plus what must live as
//! long as the step runs (locks, the tmpfs, overlays, the agent forwarder).
//!
//! `cache.rs` owns the cache directories (open, lock, prune); `cache_mount.rs` binds one
//! into a step, as `bind.rs`, `secret_mount.rs` and `ssh_mount.rs` do for theirs.
//!
//! Every source path is resolved inside its own root (openat2
//! `RESOLVE_IN_ROOT`): a symlink in a stage or image that points at `/etc`
//! means that stage's `/etc`, never the host's. Sources and ids that climb out
//! with `..` are refused.

mod bind;
pub mod cache;
mod cache_mount;
mod context_view;
mod secret_mount;
pub mod secrets;
mod ssh;
mod ssh_mount;

use super::error::BuildError;
use super::state::BuildState;
use kiln_dockerfile::instructions::{Mount, MountType};
use kiln_dockerfile::Span;
use kiln_layer::snapshot::OverlaySnapshot;
use kiln_layer::Root;
use kiln_sandbox::{MountKind, TmpfsDir};
use std::path::{Component, Path, PathBuf};

/// One `--mount` of a step and where its `from` points.
pub(crate) struct MountInput<'a> {
    pub mount: &'a Mount,
    pub span: Span,
    /// The root of `from=` (a stage or an image) and its name for messages;
    /// `None`: the build context.
    pub from: Option<(&'a Root, String)>,
}

/// The step's mounts, extra environment and what keeps them valid.
#[derive(Default)]
pub(crate) struct StepMounts {
    pub mounts: Vec<kiln_sandbox::Mount>,
    /// `SSH_AUTH_SOCK` and secrets asked for as variables.
    pub env: Vec<String>,
    proxies: Vec<ssh::AgentProxy>,
    overlays: Vec<OverlaySnapshot>,
    caches: Vec<cache::CacheInUse>,
    work: Option<tempfile::TempDir>,
    private: Option<TmpfsDir>,
}

impl StepMounts {
    /// Whether `source` (of one of the mounts) is in a cache mount's directory: the
    /// files a step changes there are kept for later steps.
    pub(crate) fn is_cache(&self, source: &Path) -> bool {
        self.caches.iter().any(|c| source.starts_with(&c.dir))
    }
}

impl Drop for StepMounts {
    fn drop(&mut self) {
        // Forwarders before their sockets' tmpfs; overlays before their directories.
        self.proxies.clear();
        self.overlays.clear();
        self.caches.clear();
        self.private.take();
        self.work.take();
    }
}

/// The container path of a target: relative targets are below WORKDIR (as BuildKit).
fn target_path(target: &str, workdir: &str) -> String {
    if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{}/{target}", workdir.trim_end_matches('/'))
    }
}

/// `Err` if `p` climbs above its root with `..`.
fn stays_inside(p: &str) -> bool {
    let mut depth = 0usize;
    for c in Path::new(p).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => return false,
            Component::ParentDir => depth -= 1,
            _ => {}
        }
    }
    true
}

impl StepMounts {
    /// The step's private tmpfs (for secrets and agent sockets), made on first use.
    fn private_dir(&mut self, span: Span) -> Result<PathBuf, BuildError> {
        if self.private.is_none() {
            let tmpfs = TmpfsDir::new("kiln-secrets-").map_err(|e| {
                BuildError::step_io(span, "RUN --mount: cannot make the step's private tmpfs", e)
            })?;
            self.private = Some(tmpfs);
        }
        Ok(self
            .private
            .iter()
            .map(|t| t.path().to_path_buf())
            .collect())
    }

    /// A working directory for the step's mounts in the build's scratch space.
    fn work_dir(&mut self, scratch: &Path, span: Span) -> Result<PathBuf, BuildError> {
        if self.work.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("mounts-")
                .tempdir_in(scratch)
                .map_err(|e| BuildError::step_io(span, "cannot make a working directory", e))?;
            self.work = Some(dir);
        }
        Ok(self
            .work
            .as_ref()
            .map_or_else(PathBuf::new, |t| t.path().to_path_buf()))
    }

    fn bind(&mut self, target: String, source: PathBuf, readonly: bool) {
        self.mounts.push(kiln_sandbox::Mount {
            target,
            kind: MountKind::Bind { source, readonly },
        });
    }
}

/// One `--mount` being prepared: its input, its place among the step's mounts and its
/// target (below WORKDIR when relative).
pub(super) struct Current<'i, 'a> {
    pub input: &'i MountInput<'a>,
    pub n: usize,
    pub target: Option<String>,
}

impl Current<'_, '_> {
    /// `RUN --mount=type=T: msg`, with a hint.
    pub fn fail<T>(&self, msg: String, hint: &str) -> Result<T, BuildError> {
        Err(BuildError::step(
            self.input.span,
            format!("RUN --mount=type={}: {msg}", self.input.mount.typ.as_str()),
        )
        .with_hint(hint))
    }

    /// The target, which this type of mount needs.
    pub fn need_target(&self) -> Result<String, BuildError> {
        self.target.clone().ok_or_else(|| {
            BuildError::step(
                self.input.span,
                format!(
                    "RUN --mount=type={} needs a target",
                    self.input.mount.typ.as_str()
                ),
            )
            .with_hint("add target=PATH (where the mount appears in the step)")
        })
    }
}

/// Prepare the mounts of one step.
pub(crate) fn prepare(
    cx: &BuildState<'_>,
    inputs: &[MountInput<'_>],
    workdir: &str,
    progress: Option<&super::progress::Step>,
) -> Result<StepMounts, BuildError> {
    let mut out = StepMounts::default();
    let mut ssh_n = 0usize;
    for (n, input) in inputs.iter().enumerate() {
        let m = input.mount;
        let cur = Current {
            input,
            n,
            target: m.target.as_deref().map(|t| target_path(t, workdir)),
        };
        check(&cur)?;
        match m.typ {
            MountType::Tmpfs => {
                out.mounts.push(kiln_sandbox::Mount {
                    target: cur.need_target()?,
                    kind: MountKind::Tmpfs { size: m.size },
                });
            }
            MountType::Cache => cache_mount::prepare(cx, &cur, progress, &mut out)?,
            MountType::Secret => secret_mount::prepare(cx, &cur, &mut out)?,
            MountType::Ssh => ssh_mount::prepare(cx, &cur, &mut ssh_n, &mut out)?,
            MountType::Bind => bind::prepare(cx, &cur, &mut out)?,
        }
    }
    Ok(out)
}

/// What every type of mount must pass: a target below `/`, plain ids, sources that stay
/// inside their root.
fn check(cur: &Current<'_, '_>) -> Result<(), BuildError> {
    let m = cur.input.mount;
    if let Some(t) = &cur.target {
        if Path::new(t)
            .components()
            .all(|c| !matches!(c, Component::Normal(_)))
        {
            return cur.fail(
                format!("target {t:?} is the root directory"),
                "mount on a directory below /, like target=/root/.cache",
            );
        }
    }
    for id in
        m.id.iter()
            .chain(m.source.iter().filter(|_| m.typ == MountType::Secret))
    {
        if let Err(e) = secrets::check_id(&format!("RUN --mount=type={}", m.typ.as_str()), id) {
            return cur.fail(e, "give a plain name as id");
        }
    }
    if let Some(src) = &m.source {
        if m.typ != MountType::Secret && !stays_inside(src) {
            let from = cur
                .input
                .from
                .as_ref()
                .map_or("the build context".to_string(), |(_, l)| l.clone());
            let within = if m.typ == MountType::Cache && cur.input.from.is_none() {
                "the cache".to_string()
            } else {
                from
            };
            return cur.fail(
                format!("source {src:?} climbs out of {within} with `..`"),
                "give a path inside it (sources are resolved inside their stage, image, context or cache)",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets_are_below_workdir_and_climbing_sources_are_caught() {
        assert_eq!(target_path("/abs", "/w"), "/abs");
        assert_eq!(target_path("rel/x", "/w/"), "/w/rel/x");
        assert_eq!(target_path("x", "/"), "/x");
        for ok in ["/", "a/b", "/a/../b", "a/./b/..", "./x"] {
            assert!(stays_inside(ok), "{ok}");
        }
        for bad in ["..", "../x", "/../etc", "a/../../b", "a/b/../../.."] {
            assert!(!stays_inside(bad), "{bad}");
        }
    }
}
