//! A mount whose files go back to the host after the step (a cache mount) inside the
//! guest: an overlay with the files the host sent as its lower directory and a fresh upper
//! one. Only what the step changed goes back, with whiteouts for what it removed, so the
//! host applies the step's changes to the cache in place: another step using the same
//! cache (`sharing=shared`) meanwhile keeps its own files.

use super::step::{send_diff, set_owner_mode, MOUNTS};
use super::Sender;
use kiln_layer::snapshot::OverlaySnapshot;
use kiln_vm::message::{GuestMount, GuestMountKind};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, String>;

/// The files the host sent for mount `index`, and where the overlay's parts go.
fn dir(index: usize, part: &str) -> PathBuf {
    Path::new(MOUNTS).join(format!("{index}{part}"))
}

/// What the step sees of mount `index`.
pub(super) fn merged(index: usize) -> PathBuf {
    dir(index, ".merged")
}

fn goes_back(m: &GuestMount) -> bool {
    matches!(m.kind, GuestMountKind::Files { back: true, .. })
}

/// Mount the overlay of each mount whose files go back; the upper directory gets the
/// mount's own owner and mode (the overlay's root shows the upper's).
pub(super) fn mount_all(mounts: &[GuestMount]) -> Result<Vec<OverlaySnapshot>> {
    let mut mounted = Vec::new();
    for (i, m) in mounts.iter().enumerate().filter(|(_, m)| goes_back(m)) {
        let fail = |e: std::io::Error| format!("mount {i}: {e}");
        let (upper, work, merged) = (dir(i, ".upper"), dir(i, ".work"), merged(i));
        for d in [&upper, &work, &merged] {
            std::fs::create_dir_all(d).map_err(fail)?;
        }
        if let GuestMountKind::Files { dir: Some(own), .. } = m.kind {
            set_owner_mode(&upper, own).map_err(|e| format!("mount {i}: {e}"))?;
        }
        let snap = OverlaySnapshot::mount(&[dir(i, "")], &upper, &work, &merged)
            .map_err(|e| format!("mount {i}: {e}"))?;
        mounted.push(snap);
    }
    Ok(mounted)
}

/// What the step changed in each mount whose files go back, each as a tar, in the order
/// of the step's mounts (their overlays unmounted).
pub(super) fn send_back(tx: &Sender, mounts: &[GuestMount]) -> Result<()> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| goes_back(m))
        .try_for_each(|(i, _)| send_diff(tx, &dir(i, ".upper"), &dir(i, "")))
}
