//! `RUN --mount`: what each mount of a step becomes for the sandbox (a bind of a
//! cache directory, a secret file on a private tmpfs, an SSH agent socket, a
//! bind of the context / a stage / an image, a tmpfs), plus what must live as
//! long as the step runs (locks, the tmpfs, overlays, the agent forwarder).
//!
//! Every source path is resolved inside its own root (openat2
//! `RESOLVE_IN_ROOT`): a symlink in a stage or image that points at `/etc`
//! means that stage's `/etc`, never the host's. Sources and ids that climb out
//! with `..` are refused.

pub mod cache;
mod context_view;
pub mod secrets;
mod ssh;

use super::state::BuildState;
use super::BuildError;
use kiln_dockerfile::instructions::{Mount, MountType, Sharing};
use kiln_dockerfile::Span;
use kiln_layer::snapshot::OverlaySnapshot;
use kiln_layer::Root;
use kiln_sandbox::{MountKind, TmpfsDir};
use std::os::unix::fs::PermissionsExt;
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
    fn private_dir(&mut self) -> Result<PathBuf, String> {
        if self.private.is_none() {
            self.private = Some(TmpfsDir::new("kiln-secrets-").map_err(|e| e.to_string())?);
        }
        Ok(self
            .private
            .as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_default())
    }

    fn work_dir(&mut self, scratch: &Path) -> Result<PathBuf, String> {
        if self.work.is_none() {
            self.work = Some(
                tempfile::Builder::new()
                    .prefix("mounts-")
                    .tempdir_in(scratch)
                    .map_err(|e| format!("cannot make a working directory: {e}"))?,
            );
        }
        Ok(self
            .work
            .as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_default())
    }

    fn bind(&mut self, target: String, source: PathBuf, readonly: bool) {
        self.mounts.push(kiln_sandbox::Mount {
            target,
            kind: MountKind::Bind { source, readonly },
        });
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
        let typ = m.typ.as_str();
        let fail = |msg: String, hint: &str| {
            Err(
                BuildError::step(input.span, format!("RUN --mount=type={typ}: {msg}"))
                    .with_hint(hint),
            )
        };
        let target = m.target.as_deref().map(|t| target_path(t, workdir));
        if let Some(t) = &target {
            if Path::new(t)
                .components()
                .all(|c| !matches!(c, Component::Normal(_)))
            {
                return fail(
                    format!("target {t:?} is the root directory"),
                    "mount on a directory below /, like target=/root/.cache",
                );
            }
        }
        let need_target = || -> Result<String, BuildError> {
            target.clone().ok_or_else(|| {
                BuildError::step(input.span, format!("RUN --mount=type={typ} needs a target"))
                    .with_hint("add target=PATH (where the mount appears in the step)")
            })
        };
        for id in
            m.id.iter()
                .chain(m.source.iter().filter(|_| m.typ == MountType::Secret))
        {
            if let Err(e) = secrets::check_id(&format!("RUN --mount=type={typ}"), id) {
                return fail(e, "give a plain name as id");
            }
        }
        if let Some(src) = &m.source {
            if m.typ != MountType::Secret && !stays_inside(src) {
                let from = input
                    .from
                    .as_ref()
                    .map_or("the build context".to_string(), |(_, l)| l.clone());
                let within = if m.typ == MountType::Cache && input.from.is_none() {
                    "the cache".to_string()
                } else {
                    from
                };
                return fail(
                    format!("source {src:?} climbs out of {within} with `..`"),
                    "give a path inside it (sources are resolved inside their stage, image, context or cache)",
                );
            }
        }
        match m.typ {
            MountType::Tmpfs => {
                out.mounts.push(kiln_sandbox::Mount {
                    target: need_target()?,
                    kind: MountKind::Tmpfs { size: m.size },
                });
            }
            MountType::Cache => {
                let target = need_target()?;
                // from=: the cache starts as a copy of that stage's or image's source.
                let seed = match &input.from {
                    None => None,
                    Some((root, label)) => {
                        let src = m.source.clone().unwrap_or_else(|| "/".into());
                        Some(root.host_path(&src).map_err(|e| {
                            BuildError::step(
                                input.span,
                                format!("RUN --mount=type=cache: source {src:?} in {label}: {e}"),
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
                .map_err(|e| BuildError::step(input.span, e))?;
                let source = match subdir {
                    None => used.dir.clone(),
                    Some(sub) => {
                        let root = Root::open(&used.dir).map_err(|e| {
                            BuildError::step(input.span, format!("cache mount: {e}"))
                        })?;
                        root.mkdir_all(sub, 0o755, None).map_err(|e| {
                            BuildError::step(input.span, format!("cache mount source {sub:?}: {e}"))
                        })?;
                        root.host_path(sub).map_err(|e| {
                            BuildError::step(input.span, format!("cache mount source {sub:?}: {e}"))
                        })?
                    }
                };
                out.caches.push(used);
                out.bind(target, source, m.readonly);
            }
            MountType::Secret => {
                let id =
                    m.id.clone()
                        .or_else(|| m.source.clone())
                        .or_else(|| {
                            target
                                .as_deref()
                                .and_then(|t| Path::new(t).file_name())
                                .map(|f| f.to_string_lossy().into_owned())
                        })
                        .unwrap_or_default();
                let Some(secret) = cx.spec.secrets.get(&id) else {
                    if m.required {
                        return fail(
                            format!("secret {id:?} is required but was not given"),
                            &format!("pass it with --secret id={id},src=FILE (or env=VAR)"),
                        );
                    }
                    continue;
                };
                if let Some(var) = &m.env {
                    let value = std::str::from_utf8(&secret.0)
                        .ok()
                        .filter(|v| !v.contains('\0'))
                        .ok_or_else(|| {
                            BuildError::step(
                                input.span,
                                format!("RUN --mount=type=secret,id={id},env={var}: the secret is not text without NUL bytes"),
                            )
                            .with_hint("mount it as a file instead (drop env=)")
                        })?;
                    out.env.push(format!("{var}={value}"));
                    if target.is_none() {
                        continue;
                    }
                }
                let target = target
                    .clone()
                    .unwrap_or_else(|| format!("/run/secrets/{id}"));
                let dir = out
                    .private_dir()
                    .map_err(|e| BuildError::step(input.span, e))?;
                let file = dir.join(format!("secret-{n}"));
                let write = || -> std::io::Result<()> {
                    std::fs::write(&file, &secret.0)?;
                    std::fs::set_permissions(
                        &file,
                        std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400) & 0o7777),
                    )?;
                    std::os::unix::fs::chown(
                        &file,
                        Some(m.uid.unwrap_or(0)),
                        Some(m.gid.unwrap_or(0)),
                    )
                };
                write().map_err(|e| {
                    BuildError::step(
                        input.span,
                        format!("secret {id:?}: cannot write it to the step's tmpfs: {e}"),
                    )
                })?;
                out.bind(target, file, true);
            }
            MountType::Ssh => {
                let id = m.id.clone().unwrap_or_else(|| "default".into());
                let Some(agent) = cx.spec.ssh.iter().find(|s| s.id == id) else {
                    if m.required {
                        return fail(
                            format!("SSH agent {id:?} is required but was not given"),
                            &format!("pass it with --ssh {id} (the agent of $SSH_AUTH_SOCK) or --ssh {id}=SOCKET"),
                        );
                    }
                    continue;
                };
                let target = target
                    .clone()
                    .unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{ssh_n}"));
                ssh_n += 1;
                let dir = out
                    .private_dir()
                    .map_err(|e| BuildError::step(input.span, e))?;
                let sock = dir.join(format!("ssh-{n}.sock"));
                let proxy = ssh::AgentProxy::start(
                    &sock,
                    agent.socket.clone(),
                    m.mode.unwrap_or(0o600),
                    (m.uid.unwrap_or(0), m.gid.unwrap_or(0)),
                )
                .map_err(|e| BuildError::step(input.span, format!("RUN --mount=type=ssh: {e}")))?;
                out.proxies.push(proxy);
                out.env.push(format!("SSH_AUTH_SOCK={target}"));
                out.bind(target, sock, false);
            }
            MountType::Bind => {
                let target = need_target()?;
                let (root, label) = match &input.from {
                    Some((r, l)) => (*r, l.clone()),
                    None => (&cx.spec.context.root, "the build context".to_string()),
                };
                let src = m.source.clone().unwrap_or_else(|| "/".into());
                let host = root.host_path(&src).map_err(|e| {
                    BuildError::step(input.span, format!("RUN --mount=type=bind: source {src:?} in {label}: {e}"))
                        .with_hint("give a path that exists in the stage, image or context (resolved inside it)")
                })?;
                // The context as `docker build` sends it: without what .dockerignore drops.
                let host = if input.from.is_none() && !cx.spec.context.ignore.is_empty() {
                    let rel = host
                        .strip_prefix(root.path())
                        .map(|r| r.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let rel = if rel.is_empty() { ".".to_string() } else { rel };
                    if cx.spec.context.ignore.excludes(&rel) && !host.is_dir() {
                        return fail(
                            format!("source {src:?} is excluded by .dockerignore"),
                            "remove it from .dockerignore, or mount another path",
                        );
                    }
                    if host.is_dir() {
                        let work = out
                            .work_dir(cx.services.scratch)
                            .map_err(|e| BuildError::step(input.span, e))?;
                        let view = work.join(format!("context-{n}"));
                        context_view::filtered_tree(&host, &rel, &cx.spec.context.ignore, &view)
                            .map_err(|e| {
                                BuildError::step(input.span, format!("RUN --mount=type=bind: {e}"))
                            })?;
                        view
                    } else {
                        host
                    }
                } else {
                    host
                };
                if m.readonly {
                    out.bind(target, host, true);
                    continue;
                }
                // Writable: the step's changes go to a throwaway copy.
                let work = out
                    .work_dir(cx.services.scratch)
                    .map_err(|e| BuildError::step(input.span, e))?;
                let io = |e: std::io::Error| {
                    BuildError::step(input.span, format!("RUN --mount=type=bind,rw: {e}"))
                };
                if host.is_dir() {
                    let d = |s: &str| -> Result<PathBuf, BuildError> {
                        let p = work.join(format!("{s}-{n}"));
                        std::fs::create_dir(&p).map_err(io)?;
                        Ok(p)
                    };
                    let (upper, w, merged) = (d("upper")?, d("work")?, d("merged")?);
                    let ov = OverlaySnapshot::mount(&[host], &upper, &w, &merged).map_err(|e| {
                        BuildError::step(input.span, format!("RUN --mount=type=bind,rw: cannot mount an overlay of the source: {e}"))
                            .with_hint("mount it read-only (drop rw)")
                    })?;
                    out.overlays.push(ov);
                    out.bind(target, merged, false);
                } else {
                    let copy = work.join(format!("file-{n}"));
                    std::fs::copy(&host, &copy).map_err(io)?;
                    out.bind(target, copy, false);
                }
            }
        }
    }
    Ok(out)
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
