//! RUN under `--isolation vm`: the step runs in its stage's guest. The host sends the
//! layers the guest lacks (blobs as stored) and the files of the step's mounts, passes the
//! step's output on, and makes the step's layer from the changes the guest sends back:
//! a tar read by the same hardened reader as any layer and written again, entry by entry,
//! by the layer writer (the guest's bytes never reach the store as they are). The host
//! mounts nothing.

use super::error::BuildError;
use super::progress::{self, Phase};
use super::run::{env_and_cwd, sandbox_error, step_failed, RunInput, Tee};
use super::state::BuildState;
use kiln_layer::{LayerWriter, Root};
use kiln_oci::LayerRef;
use kiln_sandbox::{Confinement, MountKind};
use kiln_vm::message::{GuestConfinement, GuestMount, GuestMountKind, GuestStep};
use kiln_vm::{Session, Vm, VmError};
use std::collections::VecDeque;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Run one RUN step in the stage's guest and store its layer. A watchdog covers the whole
/// exchange with the guest (layers, mounts, the run, the changes, the mounts back): past
/// `--timeout`, or on cancellation, it kills the guest, and whatever the host was waiting
/// for ends. A guest that fails in any way is dropped (QEMU killed), never drained.
pub(crate) fn run_step(
    cx: &BuildState<'_>,
    input: &RunInput<'_>,
    confinement: Confinement,
    vm: &Vm,
) -> Result<LayerRef, BuildError> {
    let span = input.span;
    let (mut env, cwd) = env_and_cwd(input);
    let step_mounts = super::mounts::prepare(cx, &input.mounts, &cwd, input.progress)?;
    env.extend(step_mounts.env.iter().cloned());
    let mut session = match vm.session(input.stage, cx.spec.control.cancel.as_ref()) {
        Ok(s) => s,
        Err(VmError::Cancelled { why }) => return Err(BuildError::Cancelled { why }),
        Err(e) => return Err(vm_error("the step's VM did not start", span, e)),
    };
    let watch = session
        .watch(&cx.spec.control)
        .map_err(|e| vm_error("the step's VM", span, e))?;
    let step = Exchange {
        cx,
        input,
        mounts: &step_mounts,
    };
    let result = step.run(&mut session, env, cwd, &confinement);
    // Stopped before the outcome is read: a guest killed at the limit after its step
    // ended is not kept for the next step.
    match watch.stop() {
        Some(VmError::TimedOut { limit }) => {
            let e = kiln_sandbox::SandboxError::TimedOut { limit };
            Err(sandbox_error(e, span, &input.label))
        }
        Some(VmError::Cancelled { why }) => Err(BuildError::Cancelled { why }),
        _ => {
            let layer = result?;
            vm.keep(input.stage, session);
            Ok(layer)
        }
    }
}

/// A step's ssh-agent mounts: (mount index, the host socket their connections reach).
type Agents = Vec<(usize, std::path::PathBuf)>;

/// One step's exchange with its guest.
struct Exchange<'a, 'b> {
    cx: &'a BuildState<'b>,
    input: &'a RunInput<'a>,
    /// The step's mounts as prepared on the host.
    mounts: &'a super::mounts::StepMounts,
}

impl Exchange<'_, '_> {
    fn run(
        &self,
        session: &mut Session,
        env: Vec<String>,
        cwd: String,
        confinement: &Confinement,
    ) -> Result<LayerRef, BuildError> {
        let (cx, input, span) = (self.cx, self.input, self.input.span);
        self.send_layers(session)?;
        let (mounts, agents) = self.send_mounts(session)?;
        let step = GuestStep {
            layers: input.layers.iter().map(|l| l.digest.to_string()).collect(),
            args: input.command.argv.clone(),
            env,
            cwd,
            user: input.config.config.user.clone(),
            hostname: "kiln".into(),
            hosts: "127.0.0.1\tlocalhost kiln\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
            resolv_conf: String::new(),
            confinement: GuestConfinement::from_host(confinement),
            mounts,
            inline_script: input
                .command
                .script
                .as_ref()
                .map(|s| (s.name.clone(), hex::encode(&s.data))),
            want_changes: true,
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut out = Tee::new(input.progress.cloned(), tail.clone());
        let mut err = Tee::new(input.progress.cloned(), tail.clone());
        progress::enter(input.progress, Phase::Run);
        let end = session.run(&step, &agents, &mut out, &mut err);
        progress::enter(input.progress, Phase::Commit);
        drop((out, err));
        let end = run_outcome(end, &input.label, span)?;
        if !end.success() {
            let lines: Vec<String> = tail
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            return Err(step_failed(end, &input.label, &lines, span));
        }
        let layer = changes_to_layer(cx, input, session)?;
        mounts_back(session, &step.mounts, &self.mounts.mounts, span)?;
        Ok(layer)
    }

    /// The guest's form of each mount, their files sent first; and the ssh-agent mounts
    /// (index, the host socket their connections reach).
    fn send_mounts(&self, session: &mut Session) -> Result<(Vec<GuestMount>, Agents), BuildError> {
        let mut mounts = Vec::with_capacity(self.mounts.mounts.len());
        let mut agents = Vec::new();
        for (i, m) in self.mounts.mounts.iter().enumerate() {
            let g = guest_mount(session, i, m, self.mounts, self.input.span)?;
            if let (GuestMountKind::Agent { .. }, MountKind::Bind { source, .. }) =
                (&g.kind, &m.kind)
            {
                agents.push((i, source.clone()));
            }
            mounts.push(g);
        }
        Ok((mounts, agents))
    }

    /// The layers the guest does not hold yet, blobs as stored.
    fn send_layers(&self, session: &mut Session) -> Result<(), BuildError> {
        let store = self.cx.services.store;
        for layer in self.input.layers {
            let digest = layer.digest.to_string();
            if session.has_layer(&digest) {
                continue;
            }
            let mut blob = store
                .blob_reader(&layer.digest)
                .map_err(|e| super::layer::store_err(store, e))?;
            session
                .send_layer(&digest, &mut blob)
                .map_err(|e| vm_error("sending the step's layers to its VM", self.input.span, e))?;
        }
        Ok(())
    }
}

/// How the step ended, or why it did not: the agent could not run it (an unknown USER, a
/// full guest; a mount point the root's content makes unusable is the input's fault), or
/// the guest died under it (a kernel panic it caused, an agent it broke), and what the
/// guest printed last says how.
fn run_outcome(
    end: Result<kiln_sandbox::Exit, VmError>,
    label: &str,
    span: kiln_dockerfile::Span,
) -> Result<kiln_sandbox::Exit, BuildError> {
    match end {
        Ok(end) => Ok(end),
        Err(VmError::Agent {
            message,
            root_content: true,
        }) => {
            let hint = "the image or an earlier step made this path so; change that step";
            let e = std::io::Error::other(message);
            Err(BuildError::refused(span, format!("{label} could not run"), Some(hint), e))
        }
        Err(VmError::Agent { message, .. }) => Err(BuildError::StepFailed {
            message: format!("{label} could not run in its VM: {message}"),
            span,
            hint: Some(
                "fix what the message names; a guest out of space needs a larger --memory".into(),
            ),
        }),
        Err(e) => Err(BuildError::StepFailed {
            message: format!("{label} ended its VM: {e}"),
            span,
            hint: Some(
                "a step that crashes or powers off its guest kernel fails like this; fix the command"
                    .into(),
            ),
        }),
    }
}

/// The error of a step whose VM failed.
fn vm_error(what: &str, span: kiln_dockerfile::Span, e: VmError) -> BuildError {
    let hint = match e {
        VmError::NoQemu { .. } | VmError::Kernel { .. } => {
            "run scripts/deps.sh (QEMU and Debian's kernel), or build with --isolation oci"
        }
        VmError::Network(_) => "build with --network none, or see the message for what the network needs",
        _ => "the guest's last lines say what happened; a step that crashes its kernel fails like this",
    };
    BuildError::Vm {
        what: what.to_string(),
        span,
        hint,
        source: Box::new(e),
    }
}

/// The guest's form of a mount, its files sent first. A socket is the forwarder of an
/// ssh agent (`type=ssh`): the guest gets a socket of its own, with the same owner and mode,
/// whose connections the host carries to it.
fn guest_mount(
    session: &mut Session,
    index: usize,
    m: &kiln_sandbox::Mount,
    all: &super::mounts::StepMounts,
    span: kiln_dockerfile::Span,
) -> Result<GuestMount, BuildError> {
    let kind = match &m.kind {
        MountKind::Tmpfs { size } => GuestMountKind::Tmpfs { size: *size },
        MountKind::Bind { source, readonly } => {
            let meta = std::fs::metadata(source).map_err(|e| {
                BuildError::step_io(span, format!("RUN --mount: {}", source.display()), e)
            })?;
            if meta.file_type().is_socket() {
                let (uid, gid, mode) = (meta.uid(), meta.gid(), meta.mode() & 0o777);
                return Ok(GuestMount {
                    target: m.target.clone(),
                    kind: GuestMountKind::Agent { uid, gid, mode },
                });
            }
            let file = send_files(session, index, source, &meta, span)?;
            let dir = file
                .is_none()
                .then(|| (meta.uid(), meta.gid(), meta.mode() & 0o7777));
            GuestMountKind::Files {
                readonly: *readonly,
                back: !*readonly && file.is_none() && all.is_cache(source),
                file,
                dir,
            }
        }
    };
    Ok(GuestMount {
        target: m.target.clone(),
        kind,
    })
}

/// Send the files of `source` (`meta` its metadata: a directory, or one file by name); the
/// name for a file.
fn send_files(
    session: &mut Session,
    index: usize,
    source: &Path,
    meta: &std::fs::Metadata,
    span: kiln_dockerfile::Span,
) -> Result<Option<String>, BuildError> {
    let (dir, name) = if meta.is_dir() {
        (source.to_path_buf(), None)
    } else {
        let name = source.file_name().map(|n| n.to_string_lossy().into_owned());
        (
            source.parent().unwrap_or(Path::new("/")).to_path_buf(),
            name,
        )
    };
    let root = Root::open(&dir)
        .map_err(|e| BuildError::step_io(span, format!("RUN --mount: {}", dir.display()), e))?;
    let mut write = |w: &mut dyn std::io::Write| -> std::io::Result<()> {
        let mut lw = LayerWriter::new(w, kiln_layer::TarOptions::default());
        let done = match &name {
            Some(n) => kiln_layer::write_paths(&root, std::slice::from_ref(n), &mut lw),
            None => kiln_layer::write_tree(&root, &mut lw),
        };
        done.map_err(std::io::Error::other)?;
        lw.finish().map(|_| ()).map_err(std::io::Error::other)
    };
    session
        .send_mount(index, &mut write)
        .map_err(|e| vm_error("sending a mount's files to the step's VM", span, e))?;
    Ok(name)
}

/// The step's layer from the tar of changes the guest sends.
fn changes_to_layer(
    cx: &BuildState<'_>,
    input: &RunInput<'_>,
    session: &mut Session,
) -> Result<LayerRef, BuildError> {
    let span = input.span;
    let (mut lw, tripwire) = super::layer::new_layer(cx)?;
    let mut stream = session.stream();
    let copied = kiln_layer::copy_layer(&mut stream, &mut lw);
    // Only a stream read whole is drained to its end; after an error the guest is dropped.
    let drained = match copied {
        Ok(()) => stream.finish().map(|_| ()),
        Err(_) => Ok(()),
    };
    match copied {
        Err(e) if !tripwire.tripped() && e.kind() == kiln_oci::ErrorKind::Rejected => {
            let what = format!("{}: the changes its VM sent", input.label);
            let hint = "the guest sent a tar no step can make: its kernel or kiln's agent \
                        in it was subverted, or --vm-initrd is not kiln's; nothing was stored";
            return Err(BuildError::refused(span, what, Some(hint), e));
        }
        Err(e) => return Err(tripwire.error(cx, span, "RUN (the changes its VM sent)", &e)),
        Ok(()) => {}
    }
    drained.map_err(|e| {
        vm_error(
            "reading the step's changes from its VM",
            span,
            session.failure(&e.to_string()),
        )
    })?;
    super::layer::finish(cx, span, "RUN", lw, &tripwire)
}

/// Cache mounts get what the step changed in them.
fn mounts_back(
    session: &mut Session,
    guest: &[GuestMount],
    host: &[kiln_sandbox::Mount],
    span: kiln_dockerfile::Span,
) -> Result<(), BuildError> {
    for (g, h) in guest.iter().zip(host) {
        let (GuestMountKind::Files { back: true, .. }, MountKind::Bind { source, .. }) =
            (&g.kind, &h.kind)
        else {
            continue;
        };
        let root = Root::open(source).map_err(|e| {
            BuildError::step_io(span, format!("RUN --mount: {}", source.display()), e)
        })?;
        let mut stream = session.stream();
        // The step's changes, applied in place (whiteouts remove what it removed); owners
        // as the step left them (as under oci); no device nodes on the host.
        let opts = kiln_layer::ExtractOptions {
            whiteouts: kiln_layer::WhiteoutMode::Apply,
            devices: false,
            ..kiln_layer::ExtractOptions::default()
        };
        kiln_layer::extract(&mut stream, &root, &opts).map_err(|e| {
            BuildError::step_io(span, format!("RUN --mount: {}", source.display()), e)
        })?;
        let drained = stream.finish().map(|_| ());
        drained.map_err(|e| {
            vm_error(
                "reading a cache mount from the step's VM",
                span,
                session.failure(&e.to_string()),
            )
        })?;
    }
    Ok(())
}
