//! One step inside the guest: the layers it was sent, unpacked once each (overlay form) on
//! the guest's tmpfs; an overlay of them with a fresh upper directory; the embedded
//! sandbox on it; then the changes (the upper directory compared with the layers below)
//! as a layer tar, and the files of cache mounts, back to the host.

use super::forward::{self, AgentSocket, Forwarder};
use super::{cache_mount, send, Sender};
use crate::build::run::{topmost_once, user_ids};
use kiln_layer::snapshot::{diff_overlay_upper, OverlaySnapshot};
use kiln_layer::{ExtractOptions, LayerWriter, Root, TarOptions, WhiteoutMode};
use kiln_sandbox::{
    Embedded, Exit, InlineScript, Mount, MountKind, ProcessSpec, RunRequest, Sandbox,
};
use kiln_vm::frame::{DataReader, DataWriter, Kind};
use kiln_vm::message::{GuestMount, GuestMountKind, GuestStep};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const LAYERS: &str = "/kiln/layers";
pub(super) const MOUNTS: &str = "/kiln/mounts";
const STEP: &str = "/kiln/steps/current";

type Result<T> = std::result::Result<T, String>;

fn layer_dir(digest: &str) -> Result<PathBuf> {
    let ok = !digest.is_empty()
        && digest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-');
    if !ok {
        return Err(format!("a layer name that is not a digest: {digest:?}"));
    }
    Ok(Path::new(LAYERS).join(digest.replace(':', "-")))
}

/// Unpack a layer blob from the channel (in overlay form, as the host's store does).
pub(super) fn receive_layer(rx: &mut File, digest: &str) -> Result<()> {
    let mut data = DataReader::new(rx);
    let dir = layer_dir(digest);
    let result = dir.and_then(|dir| {
        let _ = std::fs::remove_dir_all(&dir);
        unpack(&mut data, &dir, WhiteoutMode::Overlay)
    });
    data.finish().map_err(|e| format!("the channel: {e}"))?;
    result.map_err(|e| format!("layer {digest}: {e}"))
}

/// Unpack a mount's files from the channel.
pub(super) fn receive_mount(rx: &mut File, index: usize) -> Result<()> {
    let mut data = DataReader::new(rx);
    let dir = Path::new(MOUNTS).join(index.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let result = unpack(&mut data, &dir, WhiteoutMode::default());
    data.finish().map_err(|e| format!("the channel: {e}"))?;
    result.map_err(|e| format!("mount {index}: {e}"))
}

fn unpack(data: &mut dyn std::io::Read, dir: &Path, whiteouts: WhiteoutMode) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (_, reader) = kiln_oci::compression::decompress(data).map_err(|e| e.to_string())?;
    let root = Root::open(dir).map_err(|e| e.to_string())?;
    let opts = ExtractOptions {
        whiteouts,
        same_owner: true,
        devices: true,
        ..ExtractOptions::default()
    };
    kiln_layer::extract(reader, &root, &opts).map_err(|e| e.to_string())?;
    Ok(())
}

/// Run `step` and send how it ended (and its changes after a success). An error is one
/// not sent to the host yet.
pub(super) fn run(tx: &Sender, rx: &File, step: &GuestStep) -> Result<()> {
    let _ = std::fs::remove_dir_all(STEP);
    let dir = |name: &str| -> Result<PathBuf> {
        let p = Path::new(STEP).join(name);
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    };
    let (upper, work, merged, view) = (dir("upper")?, dir("work")?, dir("merged")?, dir("view")?);
    let mut lowers = step
        .layers
        .iter()
        .map(|d| layer_dir(d))
        .collect::<Result<Vec<_>>>()?;
    if lowers.is_empty() {
        lowers.push(dir("empty")?);
    }
    let lowers = topmost_once(lowers);
    let caches = cache_mount::mount_all(&step.mounts)?;
    let snap = OverlaySnapshot::mount(&lowers, &upper, &work, &merged)
        .map_err(|e| format!("mounting the step's filesystem: {e}"))?;
    let agents = agent_sockets(&step.mounts);
    let mut forwarder = match agents.is_empty() {
        true => None,
        false => Some(Forwarder::start(tx, rx)?),
    };
    let end = match forwarder.as_mut().map_or(Ok(()), |f| f.listen(&agents)) {
        Ok(()) => execute(tx, step, &merged),
        Err(e) => Err((Kind::Failed, e)),
    };
    let end = unmount_all(snap, caches).and(end);
    let report = || report(tx, &end);
    match forwarder {
        Some(f) => f.finish(report)?,
        None => report()?,
    }
    let Ok(end) = end else { return Ok(()) };
    if end.success() && step.want_changes {
        send_changes(tx, &lowers, &upper, &view)?;
        cache_mount::send_back(tx, &step.mounts)?;
    }
    let _ = std::fs::remove_dir_all(STEP);
    let _ = std::fs::remove_dir_all(MOUNTS);
    Ok(())
}

/// How a step ended, or why it could not run: the frame that says so ([`Kind::Failed`],
/// or [`Kind::Rejected`] when the step's root filesystem is at fault) and a message.
type StepEnd<T = Exit> = std::result::Result<T, (Kind, String)>;

/// Unmount the step's filesystem and its cache mounts' overlays.
fn unmount_all(snap: OverlaySnapshot, caches: Vec<OverlaySnapshot>) -> StepEnd<()> {
    let fail = |e: kiln_layer::snapshot::Error| {
        (
            Kind::Failed,
            format!("unmounting the step's filesystem: {e}"),
        )
    };
    snap.unmount().map_err(fail)?;
    caches
        .into_iter()
        .try_for_each(|c| c.unmount().map_err(fail))
}

/// Tell the host how the step ended, or why it could not run.
fn report(tx: &Sender, end: &StepEnd) -> Result<()> {
    let sent = match end {
        Ok(end) => serde_json::to_vec(end)
            .map_err(std::io::Error::other)
            .and_then(|p| send(tx, Kind::Exit, &p)),
        Err((kind, why)) => send(tx, *kind, why.as_bytes()),
    };
    sent.map_err(|e| format!("the channel: {e}"))
}

/// The step's ssh-agent mounts, each with its socket in the guest.
fn agent_sockets(mounts: &[GuestMount]) -> Vec<AgentSocket> {
    let at = |i| forward::socket_path(Path::new(MOUNTS), i);
    mounts
        .iter()
        .enumerate()
        .filter_map(|(i, m)| match m.kind {
            GuestMountKind::Agent { uid, gid, mode } => Some((i, at(i), (uid, gid, mode))),
            _ => None,
        })
        .collect()
}

fn execute(tx: &Sender, step: &GuestStep, rootfs: &Path) -> StepEnd {
    let failed = |e: String| (Kind::Failed, e);
    let span = kiln_dockerfile::Span::default();
    let (uid, gid, additional_gids, home) =
        user_ids(rootfs, &step.user, span).map_err(|e| failed(e.to_string()))?;
    let mut env = step.env.clone();
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    let confinement = step.confinement.to_sandbox(super::boot::has_nic());
    let resolv_conf = if step.confinement.network {
        format!("nameserver {}\n", super::boot::NAMESERVER)
    } else {
        step.resolv_conf.clone()
    };
    let inline_script = match &step.inline_script {
        Some((name, data)) => Some(InlineScript {
            name: name.clone(),
            data: hex::decode(data).map_err(|e| failed(format!("the heredoc script: {e}")))?,
        }),
        None => None,
    };
    let mounts = step
        .mounts
        .iter()
        .enumerate()
        .map(|(i, m)| mount(i, m))
        .collect::<Result<Vec<_>>>()
        .map_err(failed)?;
    let req = RunRequest {
        rootfs,
        process: ProcessSpec {
            args: step.args.clone(),
            env,
            cwd: step.cwd.clone(),
            uid,
            gid,
            additional_gids,
            hostname: step.hostname.clone(),
        },
        confinement,
        hosts: step.hosts.clone(),
        resolv_conf,
        mounts,
        inline_script,
        shared_network: None,
        stdout: Box::new(Output(tx.clone(), Kind::Stdout)),
        stderr: Box::new(Output(tx.clone(), Kind::Stderr)),
    };
    Embedded.run(req).map_err(|e| {
        let kind = match e {
            kiln_sandbox::SandboxError::RootContent { .. } => Kind::Rejected,
            _ => Kind::Failed,
        };
        // Paths in the step's root as the step sees them.
        (
            kind,
            e.to_string().replace(&rootfs.display().to_string(), ""),
        )
    })
}

/// The sandbox's form of mount `index`; a directory of files gets its owner and mode.
fn mount(index: usize, m: &GuestMount) -> Result<Mount> {
    let files = Path::new(MOUNTS).join(index.to_string());
    if let GuestMountKind::Files { dir: Some(own), .. } = m.kind {
        set_owner_mode(&files, own).map_err(|e| format!("mount {index}: {e}"))?;
    }
    let kind = match &m.kind {
        GuestMountKind::Tmpfs { size } => MountKind::Tmpfs { size: *size },
        GuestMountKind::Files { back: true, .. } => MountKind::Bind {
            source: cache_mount::merged(index),
            readonly: false,
        },
        GuestMountKind::Files { readonly, file, .. } => MountKind::Bind {
            source: file.as_ref().map_or(files.clone(), |f| files.join(f)),
            readonly: *readonly,
        },
        GuestMountKind::Agent { .. } => MountKind::Bind {
            source: forward::socket_path(Path::new(MOUNTS), index),
            readonly: false,
        },
    };
    Ok(Mount {
        target: m.target.clone(),
        kind,
    })
}

/// The step's changes as a layer tar, written as the host writes a step's layer.
fn send_changes(tx: &Sender, lowers: &[PathBuf], upper: &Path, view: &Path) -> Result<()> {
    let view_snap = OverlaySnapshot::mount_readonly(lowers, view)
        .map_err(|e| format!("mounting the layers below the step: {e}"))?;
    let result = send_diff(tx, upper, view);
    view_snap
        .unmount()
        .map_err(|e| format!("unmounting the layers below the step: {e}"))?;
    result
}

/// What an overlay's `upper` directory changed over `lower` (the view of what is below
/// it), sent as a tar of data frames with whiteouts, as the host writes a step's layer.
pub(super) fn send_diff(tx: &Sender, upper: &Path, lower: &Path) -> Result<()> {
    let upper = Root::open(upper).map_err(|e| e.to_string())?;
    let lower = Root::open(lower).map_err(|e| e.to_string())?;
    let mut lw = LayerWriter::new(DataWriter::new(Channel(tx.clone())), TarOptions::default());
    diff_overlay_upper(&upper, &lower, &mut lw).map_err(|e| e.to_string())?;
    let w = lw.finish().map_err(|e| e.to_string())?;
    w.end().map_err(|e| format!("the channel: {e}"))?;
    Ok(())
}

/// Give `dir` a mount's own owner and mode (uid, gid, permission bits).
pub(super) fn set_owner_mode(dir: &Path, (uid, gid, mode): (u32, u32, u32)) -> Result<()> {
    let fail = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(fail)?;
    let perms = std::os::unix::fs::PermissionsExt::from_mode(mode);
    std::fs::set_permissions(dir, perms).map_err(fail)
}

/// The channel as a [`Write`] of whole frames (each write is one frame's payload).
struct Channel(Sender);

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut ch = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ch.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A step's output stream, passed on as frames of its kind.
struct Output(Sender, Kind);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(kiln_vm::frame::MAX_FRAME);
        send(&self.0, self.1, &buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
