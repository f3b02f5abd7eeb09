//! RUN: the step's command runs in the sandbox on an overlay of the stage's layers (each
//! unpacked once in the store); what the command changed (the overlay's upper directory,
//! compared with the layers below) becomes the step's layer.

use super::error::BuildError;
use super::layer::store_err;
use super::progress::{self, Phase};
use super::run_command::RunCommand;
use super::state::BuildState;
use crate::accounts;
use crate::config::ImageConfig;
use crate::copy::owner;
use kiln_dockerfile::instructions::Run;
use kiln_dockerfile::plan::EnvList;
use kiln_dockerfile::Span;
use kiln_layer::snapshot::{diff_overlay_upper, OverlaySnapshot};
use kiln_layer::Root;
use kiln_oci::LayerRef;
use kiln_sandbox::{Confinement, ProcessSpec, RunRequest, DEFAULT_PATH};
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Lines of output kept to show when a step fails.
const TAIL_LINES: usize = 20;

/// What is needed from the stage to run one step.
pub(crate) struct RunInput<'a> {
    pub run: &'a Run,
    /// The argv (and heredoc script) the step runs.
    pub command: &'a RunCommand,
    pub span: Span,
    pub config: &'a ImageConfig,
    /// Variables in force (image ENV, ARG values, ENV instructions).
    pub env: &'a EnvList,
    pub layers: &'a [LayerRef],
    /// For messages: `[stage 2/5] RUN ...`.
    pub label: String,
    /// Where the step's output lines go.
    pub progress: Option<&'a super::progress::Step>,
    /// `--mount`s, parsed and expanded.
    pub mounts: Vec<super::mounts::MountInput<'a>>,
    /// Where the step came from (for the entitlement check).
    pub origin: &'a super::entitlements::Origin,
    /// The stage's index (its guest under `--isolation vm`).
    pub stage: usize,
}

/// How a RUN step's filesystem is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDriver {
    /// overlayfs: the layers are read-only lower directories, the step writes an upper one.
    Overlay,
    /// Copies: the layers are merged into a directory, the step changes a copy of it and
    /// the two trees are compared (for hosts without overlayfs).
    Vfs,
}

impl StorageDriver {
    pub fn parse(s: &str) -> Result<StorageDriver, String> {
        match s {
            "overlay" | "overlay2" | "overlayfs" => Ok(StorageDriver::Overlay),
            "vfs" => Ok(StorageDriver::Vfs),
            other => Err(format!(
                "unknown storage driver {other:?}: use overlay or vfs"
            )),
        }
    }
}

/// Run one RUN step and store its layer.
pub(crate) fn run_step(cx: &BuildState<'_>, input: &RunInput<'_>) -> Result<LayerRef, BuildError> {
    let span = input.span;
    // The entitlement check that guarantees it, whatever the step came from: the
    // privileged confinement only comes out of it, before any work for the step.
    let confinement = super::entitlements::confinement(
        input.run,
        &cx.spec.sandbox,
        input.origin,
        span,
        cx.spec.dockerfile,
    )?;
    if let Some(vm) = &cx.services.vm {
        return super::vm_run::run_step(cx, input, confinement, vm);
    }
    let io =
        |what: &str, e: super::error::Source| BuildError::step_io(span, format!("RUN: {what}"), e);
    let lowers = crate::snapshot::unpack_layers(cx.services.store, input.layers)
        .map_err(|e| store_err(cx.services.store, e))?;
    let lowers = topmost_once(lowers);
    let work = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(cx.services.scratch)
        .map_err(|e| io("cannot make a working directory", e.into()))?;
    let dir = |name: &str| -> Result<PathBuf, BuildError> {
        let p = work.path().join(name);
        std::fs::create_dir(&p)
            .map_err(|e| io(&format!("cannot create {}", p.display()), e.into()))?;
        Ok(p)
    };
    if cx.spec.storage_driver == StorageDriver::Vfs {
        let snap = kiln_layer::snapshot::VfsSnapshot::prepare(&lowers, work.path())
            .map_err(|e| io("cannot copy the step's filesystem", e.into()))?;
        execute(cx, input, snap.rootfs().path(), confinement)?;
        let (mut lw, tripwire) = super::layer::new_layer(cx)?;
        snap.diff(&mut lw)
            .map_err(|e| tripwire.error(cx, span, "RUN", &e))?;
        return super::layer::finish(cx, span, "RUN", lw, &tripwire);
    }
    let (upper, ovl_work, merged, empty) =
        (dir("upper")?, dir("work")?, dir("merged")?, dir("empty")?);
    // Overlay needs at least one lower directory (FROM scratch has none).
    let lowers = if lowers.is_empty() {
        vec![empty.clone()]
    } else {
        lowers
    };
    let snapshot = OverlaySnapshot::mount(&lowers, &upper, &ovl_work, &merged).map_err(|e| {
        io(
            "cannot mount the step's filesystem (try --storage-driver vfs)",
            e.into(),
        )
    })?;
    let result = execute(cx, input, &merged, confinement);
    snapshot
        .unmount()
        .map_err(|e| io("cannot unmount the step's filesystem", e.into()))?;
    result?;
    // The layer: what the upper directory changed compared with the layers below.
    let view_dir = dir("lower-view")?;
    let view = OverlaySnapshot::mount_readonly(&lowers, &view_dir)
        .map_err(|e| io("cannot mount the layers below the step", e.into()))?;
    let layer = (|| {
        let upper_root =
            Root::open(&upper).map_err(|e| io("cannot open the step's changes", e.into()))?;
        let view_root =
            Root::open(&view_dir).map_err(|e| io("cannot open the layers below", e.into()))?;
        let (mut lw, tripwire) = super::layer::new_layer(cx)?;
        diff_overlay_upper(&upper_root, &view_root, &mut lw)
            .map_err(|e| tripwire.error(cx, span, "RUN", &e))?;
        super::layer::finish(cx, span, "RUN", lw, &tripwire)
    })();
    view.unmount()
        .map_err(|e| io("cannot unmount the layers below the step", e.into()))?;
    layer
}

/// The same layer can appear more than once in a stack (two steps that changed nothing
/// give the same empty layer); overlayfs refuses a directory twice. Keeping only the
/// topmost copy gives the same merged tree: that copy already covers everything the lower
/// one would.
pub(crate) fn topmost_once(lowers: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::with_capacity(lowers.len());
    for (i, l) in lowers.iter().enumerate() {
        if !lowers[i + 1..].contains(l) {
            out.push(l.clone());
        }
    }
    out
}

/// Run the command in the sandbox on the mounted filesystem.
fn execute(
    cx: &BuildState<'_>,
    input: &RunInput<'_>,
    rootfs: &Path,
    confinement: Confinement,
) -> Result<(), BuildError> {
    let span = input.span;
    let args = input.command.argv.clone();
    let (mut env, cwd) = env_and_cwd(input);
    let (uid, gid, additional_gids, home) = user_ids(rootfs, &input.config.config.user, span)?;
    // As runc's init (under BuildKit): HOME from the user's passwd entry unless set.
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    let step_mounts = super::mounts::prepare(cx, &input.mounts, &cwd, input.progress)?;
    env.extend(step_mounts.env.iter().cloned());
    let shared_network = if kiln_sandbox::SharedNetwork::suits(&confinement) {
        cx.services.network.shared(&cx.spec.sandbox.network_deny)
    } else {
        None
    };
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let out = Tee::new(input.progress.cloned(), tail.clone());
    let err = Tee::new(input.progress.cloned(), tail.clone());
    let req = RunRequest {
        rootfs,
        process: ProcessSpec {
            args,
            env,
            cwd,
            uid,
            gid,
            additional_gids,
            hostname: "kiln".into(),
        },
        confinement,
        hosts: "127.0.0.1\tlocalhost kiln\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
        resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        mounts: step_mounts.mounts.clone(),
        inline_script: input.command.script.clone(),
        shared_network,
        stdout: Box::new(out),
        stderr: Box::new(err),
    };
    progress::enter(input.progress, Phase::Run);
    let exit = cx.services.isolation.run_controlled(req, &cx.spec.control);
    progress::enter(input.progress, Phase::Commit);
    drop(step_mounts);
    let exit = exit.map_err(|e| sandbox_error(e, span, &input.label))?;
    if exit.success() {
        return Ok(());
    }
    let lines: Vec<String> = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    Err(step_failed(exit, &input.label, &lines, span))
}

/// The step's variables (PATH by default) and working directory.
pub(crate) fn env_and_cwd(input: &RunInput<'_>) -> (Vec<String>, String) {
    let mut env: Vec<String> = input.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !input.env.iter().any(|(k, _)| k == "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    let cwd = if input.config.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        input.config.config.working_dir.clone()
    };
    (env, cwd)
}

/// Why the isolation did not give an exit status: the build was cancelled, the step ran
/// past `--timeout` (the step failed), or it could not start.
pub(crate) fn sandbox_error(e: kiln_sandbox::SandboxError, span: Span, label: &str) -> BuildError {
    match e {
        kiln_sandbox::SandboxError::Cancelled { why } => BuildError::Cancelled { why },
        kiln_sandbox::SandboxError::TimedOut { limit } => BuildError::StepFailed {
            span,
            hint: Some("make the step faster, or give it more time with a larger --timeout".into()),
            message: format!(
                "{label} did not finish within --timeout {}: it and every process it started were killed",
                super::duration::human(limit)
            ),
        },
        e => {
            let hint = match e {
                kiln_sandbox::SandboxError::NetworkPolicy(_) => {
                    "the default network is filtered outside the step (cgroup v2 + BPF); \
                     --network none builds without it"
                }
                _ => "RUN needs root, overlayfs and namespaces (rootless builds come later)",
            };
            BuildError::Sandbox {
                what: "RUN could not start".into(),
                span,
                hint,
                source: Box::new(e),
            }
        }
    }
}

/// A step that exited non-zero or was killed, with its last lines of output.
pub(crate) fn step_failed(
    exit: kiln_sandbox::Exit,
    label: &str,
    lines: &[String],
    span: Span,
) -> BuildError {
    let status = match (exit.code, exit.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (_, Some(s)) => format!("signal {s}"),
        _ => "an unknown status".into(),
    };
    let mut msg = format!("{label} failed with {status}");
    if !lines.is_empty() {
        msg.push_str("; its last lines of output:\n");
        for l in lines {
            msg.push_str("    ");
            msg.push_str(l);
            msg.push('\n');
        }
    }
    BuildError::StepFailed {
        message: msg.trim_end().to_string(),
        span,
        hint: Some("fix the command (the output above shows why it failed) and build again".into()),
    }
}

/// USER as uid, gid, supplementary gids and home directory (`/` without a passwd entry),
/// from the step's own /etc/passwd and /etc/group. As BuildKit (moby/sys/user GetExecUser, then ensureAdditionalGids): a USER
/// without a group that names a passwd entry (by name or uid) gets the groups listing
/// that user as a member; the primary gid always comes first.
pub(crate) fn user_ids(
    rootfs: &Path,
    user: &str,
    span: Span,
) -> Result<(u32, u32, Vec<u32>, String), BuildError> {
    let user = if user.is_empty() { "0" } else { user };
    let root = Root::open(rootfs).map_err(|e| BuildError::step_io(span, "RUN", e))?;
    let read = |p: &'static str| {
        owner::read_account_file(&root, p).map_err(|e| {
            let hint = "use numeric ids (USER 1000:1000), or fix the image's account files";
            BuildError::refused(span, format!("USER {user}"), Some(hint), e)
        })
    };
    let (passwd, group) = (read("/etc/passwd")?, read("/etc/group")?);
    let o = match owner::resolve(user, passwd.as_deref(), group.as_deref()) {
        Ok(o) => o,
        // The default user needs no /etc/passwd.
        Err(_) if user == "0" => owner::Owner { uid: 0, gid: 0 },
        Err(e) => {
            let hint = "use numeric ids (USER 1000:1000) or create the user first";
            return Err(BuildError::refused(
                span,
                format!("USER {user}"),
                Some(hint),
                e,
            ));
        }
    };
    let name = user.split(':').next().unwrap_or(user);
    let entry = accounts::find_user(passwd.as_deref().unwrap_or_default(), name)
        .map(|e| (e.name.to_string(), e.home.to_string()));
    let (mut gid, mut gids) = (o.gid, Vec::new());
    if !user.contains(':') {
        match &entry {
            Some((name, _)) => {
                gids = accounts::member_gids(group.as_deref().unwrap_or_default(), name)
            }
            // A uid without a passwd entry runs with gid 0 (GetExecUser's default).
            None => gid = 0,
        }
    }
    gids.insert(0, gid);
    let mut seen = std::collections::HashSet::new();
    gids.retain(|g| seen.insert(*g));
    let home = entry
        .map(|(_, h)| h)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    Ok((o.uid, gid, gids, home))
}

/// Longest output line passed on whole; longer ones are split.
const MAX_LINE: usize = 16 * 1024;

/// Sends a step's output, line by line, to the progress display (unless quiet) and keeps
/// its last lines for the error message.
pub(crate) struct Tee {
    show: Option<super::progress::Step>,
    tail: Arc<Mutex<VecDeque<String>>>,
    partial: Vec<u8>,
}

impl Tee {
    pub(crate) fn new(
        show: Option<super::progress::Step>,
        tail: Arc<Mutex<VecDeque<String>>>,
    ) -> Tee {
        Tee {
            show,
            tail,
            partial: Vec::new(),
        }
    }

    fn keep(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line).trim_end().to_string();
        if let Some(s) = &self.show {
            s.log(&line);
        }
        if let Ok(mut t) = self.tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        if self.partial.len() > MAX_LINE && !self.partial.contains(&b'\n') {
            let rest = std::mem::take(&mut self.partial);
            self.keep(&rest);
        }
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            self.keep(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.keep(&rest);
        }
        Ok(())
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_follow_runc_under_buildkit() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir etc");
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .expect("write passwd");
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:root\n",
        )
        .expect("write group");
        let ids = |u: &str| user_ids(dir.path(), u, Span::default()).expect("user ids");
        assert_eq!(ids(""), (0, 0, vec![0, 10], "/root".into()));
        assert_eq!(ids("app"), (1000, 1000, vec![1000, 50], "/home/app".into()));
        assert_eq!(
            ids("1000"),
            (1000, 1000, vec![1000, 50], "/home/app".into())
        );
        assert_eq!(ids("app:staff"), (1000, 50, vec![50], "/home/app".into()));
        assert_eq!(ids("1234:5678"), (1234, 5678, vec![5678], "/".into()));
        assert_eq!(ids("4321"), (4321, 0, vec![0], "/".into()));
    }
}
